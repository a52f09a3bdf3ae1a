"""Write the field reference of docs/user-guide.md from the XRDs in ``xrds/``.

Everything from the heading ``## Field reference`` to the end of the guide is generated: one
table per claim kind, a row per field of its spec. ``make generate`` runs this;
``tests/test_field_reference.py`` checks the guide is current.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "user-guide.md"
HEADING = "## Field reference"
# The order claims appear in the guide.
ORDER = (
    "objectstorageinstance",
    "objectstoragebinding",
    "postgresqlinstance",
    "servicebinding",
    "backup",
    "scheduledbackup",
)


def _rows(schema: dict[str, Any], path: str, required: bool) -> list[str]:
    kind = schema.get("type", "")
    shown = "list" if kind == "array" else kind
    default = f"`{_scalar(schema['default'])}`" if "default" in schema else ""
    meaning = " ".join(
        part
        for part in (
            " \\| ".join(f"`{v}`" for v in schema["enum"])
            if "enum" in schema and len(schema["enum"]) <= 10
            else (f"one of {len(schema['enum'])} values" if "enum" in schema else ""),
            " ".join(str(schema.get("description", "")).split()),
        )
        if part
    )
    rows = [f"| `{path}` | {shown} | {'yes' if required else ''} | {default} | {meaning} |"]
    if kind == "array":
        schema = schema.get("items") or {}
        path += "[]"
    for name, sub in (schema.get("properties") or {}).items():
        rows += _rows(sub, f"{path}.{name}", name in (schema.get("required") or []))
    return rows


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def section() -> str:
    """The generated part of the guide."""
    out = [
        HEADING,
        "",
        "Generated from the XRDs in `xrds/` by `make generate` (`tools/field_reference.py`).",
    ]
    for name in ORDER:
        (xrd,) = [d for d in yaml.safe_load_all((ROOT / "xrds" / f"{name}.yaml").read_text()) if d]
        spec = xrd["spec"]
        version = spec["versions"][0]
        schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        kind = spec["claimNames"]["kind"]
        out += [
            "",
            f"#### `{kind}` fields (`{spec['group']}/{version['name']}`, `xrds/{name}.yaml`)",
            "",
            "| field | type | required | default | meaning |",
            "|---|---|---|---|---|",
        ]
        for field, sub in (schema.get("properties") or {}).items():
            out += _rows(sub, f"spec.{field}", field in (schema.get("required") or []))
    return "\n".join(out) + "\n"


def expected(text: str) -> str:
    """``text`` (the guide) with its field reference regenerated."""
    head, found, _ = text.partition(HEADING)
    if not found:
        raise ValueError(f"{GUIDE}: no '{HEADING}' heading")
    return head + section()


def main() -> int:
    text = GUIDE.read_text()
    new = expected(text)
    if new != text:
        GUIDE.write_text(new)
        print(f"wrote {GUIDE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
