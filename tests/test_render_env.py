"""``make render`` and ``make run`` need only the function's own dependencies (issue 28 item 10):
they run in ``.venv-run``, made from pyproject's ``dependencies`` and the ``render`` extra
(PyYAML, for the example files), while tests and lint use the development set in ``.venv``.

Checked without building a venv: what ``tools/render.py`` and the function import, followed
through the repository's own modules, comes from distributions that ``.venv-run`` installs
(those requirements and theirs); and the Makefile builds ``.venv-run`` that way.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = ("tools", "function")


def imports_of(module: str) -> set[str]:
    """Top-level names of what ``module`` (of this repository) imports, followed through the
    repository's own modules."""
    seen: set[str] = set()
    external: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / name.replace(".", "/") / "__init__.py"
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for full in names:
                top = full.split(".")[0]
                if top in OWN:
                    candidate = ROOT / (full.replace(".", "/") + ".py")
                    if candidate.exists() or (ROOT / full.replace(".", "/")).is_dir():
                        todo.append(full)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    external.add(top)
    return external


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def installed_by_run_venv() -> set[str]:
    """Distributions ``pip install -e '.[render]'`` installs: the requirements and theirs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [*project["dependencies"], *project["optional-dependencies"]["render"]]
    out: set[str] = set()
    while todo:
        req = todo.pop()
        if "extra ==" in req:
            continue
        name = _name(req)
        if name in out:
            continue
        out.add(name)
        todo += metadata.requires(name) or []
    return out


def test_render_imports_only_what_the_run_venv_installs():
    provided = metadata.packages_distributions()
    available = installed_by_run_venv()
    # tools/render.py, and the server it starts (python -m function.main)
    needed = imports_of("tools.render") | imports_of("function.main")
    assert {"yaml", "grpc", "google", "click"} <= needed
    for top in sorted(needed):
        dists = {_name(d) for d in provided.get(top, [])}
        assert dists & available, f"tools/render.py needs {top} ({dists}), not in .venv-run"


def test_the_run_venv_is_not_the_development_set():
    available = installed_by_run_venv()
    assert {"pytest", "moto", "boto3", "mypy", "pgserver", "jsonschema"}.isdisjoint(available)
    assert {"crossplane-function-sdk-python", "grpcio", "pydantic", "pyyaml"} <= available


def _recipe(makefile: str, target: str) -> tuple[str, str]:
    m = re.search(rf"^{re.escape(target)}:([^\n#]*)[^\n]*\n((?:\t[^\n]*\n)*)", makefile, re.M)
    assert m, f"no target {target}"
    return m.group(1), m.group(2)


def test_make_render_and_run_use_the_run_venv():
    makefile = (ROOT / "Makefile").read_text()
    _deps, stamp = _recipe(makefile, "$(RUN_STAMP)")
    assert "-m venv $(RUN_VENV)" in stamp
    assert "-e '.[render]'" in stamp and "dev" not in stamp
    for target in ("render", "run"):
        deps, recipe = _recipe(makefile, target)
        assert deps.split() == ["$(RUN_STAMP)"], target
        assert "$(RUN_" in recipe and "$(PY)" not in recipe and "$(VENV)" not in recipe, target
    assert "python3-venv" in makefile and "3, 11" in makefile


def test_one_python_version_everywhere():
    """pyproject's requires-python, the Makefile's check and the README say the same."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert "sys.version_info < (3, 11)" in (ROOT / "Makefile").read_text()
    head = (ROOT / "README.md").read_text()[:2000]
    assert "Python 3.11 or newer" in head and "python3-venv" in head
