"""The import layers of function/ hold (docs/architecture.md; `make lint` runs the same check)."""

from pathlib import Path

from tools import check_layers


def test_the_package_keeps_its_layers():
    assert check_layers.problems() == []


def test_a_claim_module_importing_another_is_reported(tmp_path: Path):
    pkg = tmp_path / "function"
    pkg.mkdir()
    (pkg / "backup.py").write_text("from function.postgresql import ENGINE\n")
    (pkg / "postgresql.py").write_text("from function import claims\n")
    (pkg / "claims.py").write_text("from function.refs import depend\n")
    (pkg / "refs.py").write_text("")
    assert check_layers.problems(tmp_path) == [
        "backup -> postgresql: claim modules must not import each other",
        "claims -> refs: claim parts is above shared model",
    ]
