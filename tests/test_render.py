"""``make render`` (tools/render.py): every example at rest, each XR's conditions and results,
in a stable order, and a clear answer to an argument it cannot render."""

from __future__ import annotations

import re
import time

import pytest
import yaml

from tests.support import examples
from tools import render, xrender

FOLDERS = sorted({str(ex.path.parent.relative_to(xrender.ROOT)) for ex in xrender.examples()})


def blocks(text: str) -> dict[str, list[dict]]:
    """Printed documents per example XR file (``# examples/<folder>/<xr file>`` headers)."""
    out: dict[str, list[dict]] = {}
    for part in re.split(r"^# (examples/\S+)\n", text, flags=re.M)[1:]:
        if part.startswith("examples/"):
            name = part
        else:
            out[name] = [d for d in yaml.safe_load_all(part) if d]
    return out


@pytest.fixture(scope="module")
def printed() -> dict[str, list[dict]]:
    return blocks(examples.rendered(*FOLDERS))


def test_every_example_xr_is_printed_once_folder_by_folder(printed):
    names = [ex.name for ex in xrender.examples()]
    assert list(printed) == names
    folders = [n.rsplit("/", 1)[0] for n in names]
    assert folders == sorted(folders)


def test_every_xr_is_at_rest_with_its_conditions_and_no_fatal_result(printed):
    for name, docs in printed.items():
        xr = docs[0]
        conditions = {c["type"]: c for c in xr["status"]["conditions"]}
        assert conditions["Ready"]["status"] == "True", (name, conditions["Ready"])
        assert conditions["Synced"]["status"] == "True", name
        assert list(xr["status"]["conditions"][0])[:2] == ["type", "status"], name
        results = [d for d in docs if d["kind"] == "Result"]
        assert all(r["severity"] != "SEVERITY_FATAL" for r in results), (name, results)


def test_composed_resources_are_printed_in_name_order(printed):
    for name, docs in printed.items():
        keys = [
            d["metadata"]["annotations"]["crossplane.io/composition-resource-name"]
            for d in docs[1:]
            if d["kind"] != "Result"
        ]
        assert keys and keys == sorted(keys), name


def test_every_database_shows_its_instance_and_master_secret_and_restores_their_source(printed):
    databases = {n: d for n, d in printed.items() if d[0]["kind"] == "XPostgresqlInstance"}
    assert len(databases) >= 6
    for name, docs in databases.items():
        by_key = {
            d["metadata"]["annotations"]["crossplane.io/composition-resource-name"]: d
            for d in docs[1:]
            if d["kind"] != "Result"
        }
        assert by_key["instance"]["kind"] == "Instance", name
        assert by_key["master-secret"]["kind"] == "Secret", name
        init = by_key["instance"]["spec"].get("initProvider") or {}  # restores: at creation
        if "restore-backup" in name:
            assert init.get("snapshotIdentifier"), name
        if "restore-pitr" in name:
            assert init.get("restoreToPointInTime"), name
        assert docs[0]["status"].get("endpoint"), name


def test_an_example_folder_prints_only_its_xrs():
    todo = render.selected([str(xrender.EXAMPLES / "servicebinding")])
    assert [ex.name for ex in todo] == ["examples/servicebinding/xr.yaml"]
    assert render.selected([str(xrender.EXAMPLES)]) == xrender.examples()


@pytest.mark.parametrize(
    "arg", ["/tmp", "docs", "examples/no-such-kind", "examples/backup/xr.yaml"]
)
def test_anything_else_is_answered_with_what_it_expects(arg, capsys):
    assert render.main([arg]) == 2
    err = capsys.readouterr().err
    assert f"{arg}: not an example folder" in err
    assert "examples/<kind>" in err
    assert "Traceback" not in err


def test_waiting_for_a_server_that_ended_stops_at_once_with_its_error():
    """A server that dies on start (here: a module that does not exist) is reported with its
    exit code and standard error, not polled for until the deadline (a loaded machine once showed
    only a gRPC UNAVAILABLE after 30 s)."""
    with xrender.serve(module="tools.no_such_module") as (address, proc):
        channel, call = xrender.client(address)
        started = time.monotonic()
        ended = r"(?s)exited with 1 .*No module named tools\.no_such_module"
        with pytest.raises(xrender.ServerExitedError, match=ended):
            xrender.wait_ready(call, started + 600, proc)
        channel.close()
