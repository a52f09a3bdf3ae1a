#!/usr/bin/env python3
"""``make render``: render every example through the real function server over gRPC.

Prints, for each XR in ``examples/*/xr*.yaml``, what `crossplane render` prints: the XR
with its new status, then every desired composed resource, then the function's results.
Usage: render.py [EXAMPLES_DIR | EXAMPLE_FOLDER ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import xrender


def main(argv: list[str]) -> int:
    roots = [Path(a).resolve() for a in argv] or [xrender.EXAMPLES]
    todo: list[xrender.Example] = []
    for root in roots:
        if (root / "functions.yaml").exists():  # a single example folder
            todo += [e for e in xrender.examples(root.parent) if e.path.parent == root.resolve()]
        else:
            todo += xrender.examples(root)
    failed = 0
    with xrender.serve() as (address, _proc):
        channel, call = xrender.client(address)
        xrender.wait_ready(call, time.monotonic() + 20)
        for ex in todo:
            rsp = xrender.render(call, ex)
            print(f"# {ex.name}")
            print(xrender.dump(xrender.to_documents(ex.xr, rsp)), end="")
            failed += any(r.severity == xrender.fnv1.SEVERITY_FATAL for r in rsp.results)
        channel.close()
    print(f"# rendered {len(todo)} examples, {failed} with a fatal result", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
