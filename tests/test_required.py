"""Required resources are checked against what was asked (issue 27 item 10).

Crossplane fetches exactly what a requirement selects (crossplane v2.3.4
``internal/xfn/required_resources.go`` ``ExistingRequiredResourcesFetcher.Fetch``: ``Get`` by
name, else ``List`` with ``MatchingLabels``), so this is defence in depth: whatever arrives
under a requirement's name is checked against the selector, and on a mismatch the claim waits
and renders nothing from it.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from function import backup, environment, master_secret, refs, snapshot_records
from function.core import Requirement
from tests.support import environment as env
from tests.support.examples import examples_of
from tests.support.responses import desired, fatal_messages, render_created, render_local, warnings
from tools import xrender

BACKUP = examples_of("XBackup")[0]
INSTANCE, NAMESPACE = yaml.safe_load_all(
    (xrender.ROOT / "examples/backup/required.yaml").read_text()
)
PG = examples_of("XPostgresqlInstance")[0].xr


def _relabel(xr: dict, **labels: str) -> dict:
    out = copy.deepcopy(xr)
    out["metadata"]["labels"].update(labels)
    return out


def _backup(instance: dict, backups: list[dict] | None = None):
    required = {
        backup.INSTANCE_REQUIREMENT: [instance],
        backup.BACKUPS_REQUIREMENT: backups or [],
        snapshot_records.RECORDS_REQUIREMENT: [],
        snapshot_records.NAMESPACE_REQUIREMENT: [NAMESPACE],
    }
    return render_local(BACKUP.xr, required=required)


def test_the_example_instance_renders_a_snapshot():
    rsp = _backup(INSTANCE)
    assert not fatal_messages(rsp) and "snapshot" in desired(rsp)


@pytest.mark.parametrize(
    "instance",
    [
        _relabel(INSTANCE, **{"crossplane.io/claim-name": "other-db"}),
        _relabel(INSTANCE, **{"crossplane.io/claim-namespace": "team-b"}),
        {**copy.deepcopy(INSTANCE), "kind": "XObjectStorageInstance"},
    ],
    ids=["other-claim", "other-namespace", "other-kind"],
)
def test_a_referenced_claim_that_is_not_the_one_asked_for_is_waited_for(instance):
    rsp = _backup(instance)
    assert not fatal_messages(rsp)
    assert desired(rsp) == {}, "nothing is rendered from a resource nobody asked for"
    assert any(refs.NOT_ASKED in w for w in warnings(rsp)), warnings(rsp)


def test_a_namespace_listing_with_another_namespaces_claim_is_waited_for():
    other = {
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": "XBackup",
        "metadata": {
            "name": "x-1",
            "labels": {"crossplane.io/claim-namespace": "team-b", "crossplane.io/claim-name": "x"},
        },
        "spec": {"instanceRef": "pg-db"},
    }
    rsp = _backup(INSTANCE, [other])
    assert not fatal_messages(rsp)
    assert desired(rsp) == {}
    assert any(refs.NOT_ASKED in w for w in warnings(rsp)), warnings(rsp)


@pytest.mark.parametrize(
    "config",
    [
        env.config(env.example_data(), name="another"),
        {**env.example_config(), "kind": "ConfigMap"},
    ],
    ids=["other-name", "other-kind"],
)
def test_an_environment_config_that_is_not_the_one_asked_for_is_waited_for(config):
    waiting = f"waiting for {environment.where(environment.DEFAULT_NAME)}"
    # Under the function's own requirement: it waits and never renders from it.
    rsp = render_created(PG, required={environment.ASKED: [config]}, environment=None)
    assert not fatal_messages(rsp), fatal_messages(rsp)
    assert [w for w in warnings(rsp) if w.startswith(waiting)] == warnings(rsp) != []
    # Brought by the Composition's bootstrap requirement: not taken for the one named; the
    # function asks for that one itself (environment.locate) and renders from what it gets.
    rsp = render_created(PG, environment=[config])
    assert not fatal_messages(rsp), fatal_messages(rsp)
    assert not [w for w in warnings(rsp) if w.startswith(waiting)], warnings(rsp)
    assert environment.ASKED in rsp.requirements.resources


def test_two_environment_configs_are_waited_for():
    one = env.example_config()
    waiting = f"waiting for {environment.where(environment.DEFAULT_NAME)}"
    rsp = render_created(
        PG, required={environment.ASKED: [one, copy.deepcopy(one)]}, environment=None
    )
    assert not fatal_messages(rsp)
    assert [w for w in warnings(rsp) if w.startswith(waiting)] == warnings(rsp) != []
    # Two from the bootstrap requirement: not taken; the function asks for its own.
    rsp = render_created(PG, environment=[one, copy.deepcopy(one)])
    assert not fatal_messages(rsp)
    assert environment.ASKED in rsp.requirements.resources


def test_selects_is_the_selector():
    by_name = Requirement("v1", "Namespace", match_name="team-a")
    assert by_name.selects(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    )
    assert not by_name.selects({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}})
    assert not by_name.selects(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "team-a"}}
    )
    assert not by_name.selects("team-a")
    by_labels = Requirement("g/v1", "X", match_labels={"a": "1", "b": "2"})
    assert by_labels.selects(
        {"apiVersion": "g/v1", "kind": "X", "metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}}
    )
    assert not by_labels.selects(
        {"apiVersion": "g/v1", "kind": "X", "metadata": {"labels": {"a": "1"}}}
    )
    assert not by_labels.selects({"apiVersion": "g/v1", "kind": "X"})


def test_a_namespace_that_is_not_the_one_asked_for_is_waited_for():
    """A PostgresqlInstance with deletionPolicy Orphan owns its master Secret with the
    Namespace of the internal Secrets (function/master_secret.py): another Namespace's uid is
    never written into an owner reference."""
    xr = copy.deepcopy(PG)
    xr["spec"].setdefault("config", {})["deletionPolicy"] = "Orphan"
    other = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "uid": "u-x"}}
    rsp = render_local(xr, required={master_secret.NAMESPACE_REQUIREMENT: [other]})
    assert not fatal_messages(rsp)
    assert "u-x" not in str(desired(rsp))
    assert any("waiting for the Namespace" in w for w in warnings(rsp)), warnings(rsp)
