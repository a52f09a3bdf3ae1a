"""Fail when a test module imports another test module or ``tests/conftest.py``, or a tool
imports anything of ``tests``.

Shared helpers live in ``tests/support/``; ``conftest.py`` holds fixtures only. Importing a
test module from another one runs (and collects) its module-level code twice and ties the
two together. Tools (``tools/*.py``) run without the development set (``make render`` runs on
the function's own dependencies): what tests and tools share, such as the control-plane twin
(``tools/twin.py``, ``tools/providers.py``), lives in ``tools/`` and tests import it from there.
``make lint`` runs this check:

    python tools/check_test_imports.py [files...]

(default: ``tests/test_*.py``, ``tests/conftest.py`` and ``tools/*.py``).

It reads the files (no import, no pytest) and reports ``file:line: imports tests.x`` for each
``from tests.test_x import ...``, ``from tests import test_x``, ``import tests.test_x``,
``from tests.conftest import ...``, ``from tests import conftest`` and the relative forms
(``from .test_x import ...``, ``from . import conftest``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def _forbidden(module: str) -> str | None:
    """``tests.test_x`` or ``tests.conftest`` when ``module`` is one of them or inside one."""
    top, _, rest = module.partition(".")
    name = rest.split(".")[0]
    if top == "tests" and (name == "conftest" or name.startswith("test_")):
        return f"tests.{name}"
    return None


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every module an import statement in ``tree`` names.

    ``from tests import test_x`` names ``tests`` and ``tests.test_x``; relative imports are
    resolved as if the file were a module of the ``tests`` package.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(filter(None, ["tests", base]))
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _forbidden_in_tool(module: str) -> str | None:
    """``tests`` or ``tests.x`` when ``module`` is part of the test package."""
    return module if module == "tests" or module.startswith("tests.") else None


def problems(path: Path) -> list[str]:
    """``file:line: imports tests.x`` for every forbidden import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if path.parent.name == "tools":
        found = {(line, _forbidden_in_tool(module)) for line, module in imported_modules(tree)}
        return [
            f"{shown}:{line}: imports {module} (a tool runs without the test package: "
            "move what both need to tools/)"
            for line, module in sorted(found - {(line, None) for line, _ in found})
        ]
    found = {(line, _forbidden(module)) for line, module in imported_modules(tree)}
    return [
        f"{shown}:{line}: imports {module} (move shared helpers to tests/support/)"
        for line, module in sorted(found - {(line, None) for line, _ in found})
    ]


def default_files() -> list[Path]:
    return [
        *sorted(TESTS.glob("test_*.py")),
        TESTS / "conftest.py",
        *sorted((ROOT / "tools").glob("*.py")),
    ]


def main(argv: list[str]) -> int:
    files = [Path(a).resolve() for a in argv] or default_files()
    found = [p for f in files for p in problems(f)]
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
