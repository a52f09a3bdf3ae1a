"""Write every example XR (``examples/*/xr*.yaml``) from the claim it is made of.

Each XR file starts with ``# The XR Crossplane makes of <claim file>``; the XR keeps its uid.
``make examples`` runs this; ``tests/test_xrds.py`` checks the files are current.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import xrender

HEADER = re.compile(r"^# The XR Crossplane makes of (?P<claim>[\w.-]+\.yaml)")


def expected(path: Path) -> str:
    """The text ``path`` (an xr*.yaml) should have."""
    text = path.read_text()
    first = text.splitlines()[0]
    m = HEADER.match(first)
    if not m:
        raise ValueError(f"{path}: first line must be '# The XR Crossplane makes of <file>'")
    (xr,) = xrender.load_all(path)
    (claim,) = xrender.load_all(path.parent / m.group("claim"))
    made = xrender.xr_from_claim(claim, xr["metadata"]["uid"])
    return first + "\n" + yaml.safe_dump(made, sort_keys=False)


def main() -> int:
    for path in sorted(xrender.EXAMPLES.glob("*/xr*.yaml")):
        text = expected(path)
        if path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(xrender.ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
