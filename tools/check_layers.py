"""Check the import layers of ``function/`` (docs/architecture.md): ``make lint`` runs it.

A module may import modules of lower layers, and of its own layer unless that layer is
independent. The claim modules form an independent layer: none imports another, so each claim
can be read, changed and tested on its own.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "function"

# (name, independent, modules), from the top (the protobuf edge) to the bottom.
LAYERS: tuple[tuple[str, bool, frozenset[str]], ...] = (
    ("protobuf edge", False, frozenset({"main", "fn", "cache"})),
    (
        "claim modules",
        True,
        frozenset(
            {
                "objectstorage",
                "objectstoragebinding",
                "postgresql",
                "servicebinding",
                "backup",
                "scheduledbackup",
            }
        ),
    ),
    (
        "claim parts",
        False,
        frozenset(
            {
                "restore",
                "iam_policy",
                "kms",
                "pgsql",
                "pg_grants",
                "refs",
                "master_secret",
                "snapshot_records",
            }
        ),
    ),
    ("shared model", False, frozenset({"claims", "names", "resources"})),
    ("base", False, frozenset({"core", "settings", "environment", "regions", "convert", "memo"})),
)


def layer_of(module: str) -> int:
    """The index of ``module``'s layer; every module of the package must have one."""
    for i, (_, _, modules) in enumerate(LAYERS):
        if module in modules:
            return i
    raise LookupError(f"{PACKAGE}/{module}.py is in no layer of tools/check_layers.py")


def imports(path: Path) -> set[str]:
    """The modules of the package that ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                found |= {a.name for a in node.names}
            elif node.module.startswith(f"{PACKAGE}."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith(f"{PACKAGE}.")}
    return found


def problems(root: Path = ROOT) -> list[str]:
    """Every import that breaks the layers, as ``a -> b: why``."""
    out = []
    for path in sorted((root / PACKAGE).glob("*.py")):
        module = path.stem
        if module == "__init__":
            continue
        mine = layer_of(module)
        name, independent, _ = LAYERS[mine]
        for target in sorted(imports(path)):
            theirs = layer_of(target)
            if theirs < mine:
                out.append(f"{module} -> {target}: {LAYERS[theirs][0]} is above {name}")
            elif theirs == mine and independent:
                out.append(f"{module} -> {target}: {name} must not import each other")
    return out


def main() -> int:
    found = problems()
    for line in found:
        print(f"layers: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
