"""tools/check_test_imports.py: test modules import helpers from tests/support, not each other;
tools import nothing of tests."""

from __future__ import annotations

import pytest

from tools import check_test_imports


@pytest.mark.parametrize(
    "source",
    [
        "from tests.test_cel import violations",
        "from tests import test_cel",
        "import tests.test_cel",
        "import tests.test_cel as tc",
        "from tests.conftest import desired",
        "from tests import conftest",
        "from .test_cel import violations",
        "from . import conftest",
        "def f():\n    from tests.test_xrds import xrd\n",
    ],
)
def test_imports_of_test_modules_and_conftest_are_reported(tmp_path, source):
    path = tmp_path / "test_x.py"
    path.write_text(source + "\n")
    (found,) = check_test_imports.problems(path)
    assert "tests/support" in found


@pytest.mark.parametrize(
    "source",
    [
        "from tests.support import cel, schemas",
        "from tests.support.responses import desired",
        "import tests.support.iam",
        "from tools import xrender",
        "import pytest",
    ],
)
def test_imports_of_support_and_other_packages_pass(tmp_path, source):
    path = tmp_path / "test_x.py"
    path.write_text(source + "\n")
    assert check_test_imports.problems(path) == []


def test_the_repository_passes():
    assert [
        p for f in check_test_imports.default_files() for p in check_test_imports.problems(f)
    ] == []


@pytest.mark.parametrize(
    "source",
    [
        "from tests.support import providers",
        "from tests.support.crossplane import ControlPlane",
        "import tests",
        "def f():\n    import tests.support.pg\n",
    ],
)
def test_a_tool_importing_the_test_package_is_reported(tmp_path, source):
    path = tmp_path / "tools" / "x.py"
    path.parent.mkdir()
    path.write_text(source + "\n")
    found = check_test_imports.problems(path)
    assert found and all("move what both need to tools/" in f for f in found)


def test_a_tool_may_import_tools_and_the_function(tmp_path):
    path = tmp_path / "tools" / "x.py"
    path.parent.mkdir()
    path.write_text("from tools import twin, xrender\nfrom function import fn\n")
    assert check_test_imports.problems(path) == []
