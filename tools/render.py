#!/usr/bin/env python3
"""``make render``: every example at rest, rendered by the real function server over gRPC.

Every example XR (``examples/*/xr*.yaml``) is created in one control-plane twin
(``tools/twin.py``: Crossplane's composite reconciler calling the function as its function
runner does; ``tools/providers.py``: what each provider publishes on what was rendered, the
master password Secret included) and reconciled until nothing changes, so a binding finds its
instance and a restore its Backup as on a cluster. Then, for each XR of the folders asked for,
it prints what ``crossplane render`` prints, at rest: the XR with its status and conditions
(``Ready``, ``Synced`` and the function's own), every desired composed resource in name order,
then the function's results. Whatever is held back says why there, in a condition or a result.
The same examples always print the same text, so two runs can be diffed.

Usage: render.py [examples | examples/<folder> ...]   (default: every folder)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import twin, xfn, xrender

USAGE = (
    "render.py renders the examples of this repository: give {examples} or one of its "
    "folders (examples/<kind>, holding xr*.yaml and functions.yaml), or nothing for all of them"
)


class UsageError(Exception):
    """An argument that is not the examples folder or one of its example folders."""


def selected(args: Sequence[str], root: Path = xrender.EXAMPLES) -> list[xrender.Example]:
    """The examples the arguments name, in a stable order; every example when none."""
    every = xrender.examples(root)
    if not args:
        return every
    folders: set[Path] = set()
    for arg in args:
        path = Path(arg).resolve()
        if path == root.resolve():
            folders |= {ex.path.parent for ex in every}
        elif path.parent == root.resolve() and (path / "functions.yaml").is_file():
            folders.add(path)
        else:
            shown = xrender.EXAMPLES.relative_to(xrender.ROOT)
            raise UsageError(f"{arg}: not an example folder. " + USAGE.format(examples=shown))
    return [ex for ex in every if ex.path.parent in folders]


def at_rest(call: xfn.Call, root: Path = xrender.EXAMPLES) -> twin.ControlPlane:
    """Every example XR of ``root`` created in one twin and reconciled until nothing changes."""
    plane = twin.ControlPlane(call=call)
    for ex in xrender.examples(root):
        plane.create(ex.xr)
    plane.until_stable()
    return plane


def key_of(ex: xrender.Example) -> twin.Key:
    """The twin's key of an example's XR (cluster-scoped)."""
    return (ex.xr["apiVersion"], ex.xr["kind"], "", ex.xr["metadata"]["name"])


def text(plane: twin.ControlPlane, todo: Sequence[xrender.Example]) -> str:
    """What ``make render`` prints for ``todo``, once ``plane`` is at rest."""
    out = []
    for ex in todo:
        key = key_of(ex)
        out.append(f"# {ex.name}\n")
        out.append(xrender.dump(xrender.to_documents(plane.xr(key), plane.last[key].response)))
    return "".join(out)


def fatal_count(plane: twin.ControlPlane, todo: Sequence[xrender.Example]) -> int:
    fatal = xrender.fnv1.SEVERITY_FATAL
    return sum(
        any(r.severity == fatal for r in plane.last[key_of(ex)].response.results) for ex in todo
    )


def main(argv: list[str]) -> int:
    try:
        todo = selected(argv)
    except UsageError as err:
        print(f"render.py: {err}", file=sys.stderr)
        return 2
    with xrender.serve() as (address, proc):
        channel, call = xrender.client(address)
        xrender.wait_ready(call, time.monotonic() + 20, proc)
        plane = at_rest(call)
        channel.close()
    print(text(plane, todo), end="")
    failed = fatal_count(plane, todo)
    print(f"# rendered {len(todo)} examples at rest, {failed} with a fatal result", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
