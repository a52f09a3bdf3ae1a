"""The e2e session: a real control plane (``controlplane.py``), up once for all e2e tests.

``make test`` does not collect these modules: they are collected only when the marker
expression selects ``e2e`` (``pytest -m e2e``, what ``make e2e`` runs) or ``KLUTCH_E2E=1``.
A failed test gets a section "e2e control plane" in its report: claims, XRs, composed resources
with conditions and events, and the last 40 lines of each process's log.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e import controlplane

HERE = Path(__file__).resolve().parent
_PLANE: list = []  # the running ControlPlane, for the report hook


def _selected(config: pytest.Config) -> bool:
    return "e2e" in (config.getoption("markexpr") or "") or os.environ.get("KLUTCH_E2E") == "1"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Only this folder's test modules: tests/e2e/fakeaws keeps whatever collection it has.
    if collection_path.parent == HERE and collection_path.name.startswith("test_"):
        return None if _selected(config) else True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The guides first (test_guide.py): the user guide's steps run in namespace ``default``
    as a newcomer runs them, before any other module puts claims there."""
    items.sort(key=lambda item: item.path.name != "test_guide.py")


@pytest.fixture(scope="session")
def plane():
    """The running control plane; stopped at the end of the session, also on failure."""
    with controlplane.running() as started:
        _PLANE.append(started)
        print(f"\ne2e control plane up in {started.timings} (work dir {started.work})")
        try:
            yield started
        finally:
            _PLANE.clear()
    if os.environ.get("KLUTCH_E2E_KEEP") != "1" and not started.failed:
        started.remove()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _PLANE and not hasattr(report, "wasxfail"):
        plane = _PLANE[0]
        plane.failed = True
        report.sections.append(("e2e control plane", plane.diagnose()))
