"""What deleting a claim does to the data: one table, every deletion policy of every claim.

The table is the operator guide's (docs/operator-guide.md, "What deleting a claim keeps"): this
module reads it, so the docs and the checks cannot drift apart. Each (claim, deletionPolicy)
renders the kind's first example with that policy, and every composed resource has a row with
the exact Crossplane ``deletionPolicy`` and the provider fields that decide what AWS deletes:
Bucket ``forceDestroy``, RDS ``skipFinalSnapshot`` / ``finalSnapshotIdentifier`` /
``deleteAutomatedBackups``, KMS ``deletionWindowInDays``. The ``master-secret`` rows are also
checked against the control-plane twin deleting such a claim: kept (with its password) exactly
where the table says so. A row whose kind is not rendered yet is skipped.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import get_args

import pytest
import yaml
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, names
from function.claims import DatabaseDeletion
from function.master_secret import KEY as MASTER_SECRET
from tests.support.crossplane import ControlPlane
from tests.support.examples import (
    example_xrs,
    render_all_observed,
    render_created,
    render_primary_ready,
)
from tests.support.responses import desired, fatal_messages

OPERATOR_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "operator-guide.md"
MARKER = "<!-- deletion-safety table:"
FINAL = re.compile(rf"^klutch-[a-z0-9-]+-final-[0-9a-f]{{{names.HASH_HEX}}}$")
# How the table writes a field value that is not YAML.
SPECIAL = {"<final>": FINAL, "unset": None}


def _cells(line: str) -> list[str]:
    return [c.strip().replace("&lt;", "<").replace("&gt;", ">") for c in line.strip("|").split("|")]


def _fields(cell: str) -> dict:
    out = {}
    for item in filter(None, (i.strip() for i in cell.split(","))):
        key, _, value = item.partition(":")
        value = value.strip()
        out[key.strip()] = SPECIAL[value] if value in SPECIAL else yaml.safe_load(value)
    return out


def docs_rows() -> list[dict]:
    """Every row of the operator guide's deletion-safety table."""
    lines = OPERATOR_GUIDE.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(MARKER))
    header = [c.lower() for c in _cells(lines[at + 1])]
    rows = []
    for line in lines[at + 3 :]:
        if not line.startswith("|"):
            break
        row = dict(zip(header, _cells(line), strict=True))
        policy = row["mr deletionpolicy"]
        rows.append(
            {
                "kind": "X" + row["claim"],
                "policy": row["claim deletionpolicy"],
                "resource": row["composed resource"],
                "mr_policy": None if policy == "none" else policy,
                "fields": _fields(row["provider fields"]),
                "after": row["after the claim is deleted"],
            }
        )
    return rows


ROWS = docs_rows()
# kind, claim deletionPolicy -> composed resource -> (MR deletionPolicy, provider fields)
TABLE_BY: dict[tuple[str, str], dict[str, tuple]] = {}
for _row in ROWS:
    TABLE_BY.setdefault((_row["kind"], _row["policy"]), {})[_row["resource"]] = (
        _row["mr_policy"],
        _row["fields"],
    )

# Where each kind's claim has its deletionPolicy, and the settings besides it (None: the
# example's): a managed KMS key, so that its rows are rendered too.
SETTINGS_FIELD = {
    "XObjectStorageInstance": "parameters",
    "XPostgresqlInstance": "config",
    "XBackup": "config",
}
PG_KEY = {"encryption": {"key": {"managed": {}}}}
SETTINGS = {
    "XObjectStorageInstance": {"encryption": {"type": "kms", "key": {"managed": {}}}},
    "XPostgresqlInstance": PG_KEY,
    "XBackup": None,
}
TABLE = [(kind, policy, SETTINGS[kind], expected) for (kind, policy), expected in TABLE_BY.items()]


def test_the_table_covers_every_deletion_policy_of_every_claim():
    policies = {p for k, p, _, _ in TABLE if k == "XPostgresqlInstance"}
    assert policies == set(get_args(DatabaseDeletion))
    assert {k for k, _, _, _ in TABLE} == set(SETTINGS_FIELD)


RENDERED = {k.xr_kind for k in fn.RENDERERS}


def _matches(want, got) -> bool:
    if isinstance(want, re.Pattern):
        return isinstance(got, str) and bool(want.match(got))
    if isinstance(want, bool) or want is None:
        return got is want
    if isinstance(want, int):
        return isinstance(got, int | float) and not isinstance(got, bool) and got == want
    return got == want


@pytest.mark.parametrize(
    ("kind", "policy", "parameters", "expected"),
    TABLE,
    ids=[f"{k}-{p}" for k, p, _, _ in TABLE],
)
def test_deletion_table(kind, policy, parameters, expected):
    if kind not in RENDERED:
        pytest.skip(f"{kind} is not rendered yet")
    xr = copy.deepcopy(example_xrs(kind)[0])
    params = xr["spec"].setdefault(SETTINGS_FIELD[kind], {})
    if parameters is not None:
        params.clear()
        params.update(parameters)
    params["deletionPolicy"] = policy
    rsp = render_created(kind, xr)
    if rsp.desired.composite.ready == fnv1.READY_FALSE:  # waits: a managed key's encryption
        rsp = render_all_observed(kind, xr)
    assert not fatal_messages(rsp)
    out = desired(rsp)
    assert set(out) == set(expected), "every composed resource has a row"
    for name, (deletion_policy, fields) in expected.items():
        spec = out[name].get("spec") or {}
        assert spec.get("deletionPolicy") == deletion_policy, name
        for field, want in fields.items():
            got = (spec.get("forProvider") or {}).get(field)
            assert _matches(want, got), f"{name}.forProvider.{field}: {got!r}"


@pytest.mark.parametrize("ex", [x for k in sorted(RENDERED) for x in example_xrs(k)], ids=str)
def test_no_example_deletes_a_key_at_once_or_skips_a_final_snapshot_silently(ex):
    """Any example: KMS keys wait 30 days; an RDS instance without a snapshot was asked for
    (a read replica holds no data of its own: the primary's snapshot and backups have it)."""
    kind = ex["kind"]
    out = desired(render_created(kind, ex))
    assert out, "the example renders something"
    for name, body in out.items():
        fp = (body.get("spec") or {}).get("forProvider") or {}
        if body["kind"] == "Key" and body["apiVersion"].startswith("kms."):
            assert fp.get("deletionWindowInDays") == 30, name
        if body["kind"] == "Instance" and body["apiVersion"].startswith("rds."):
            if "replicateSourceDbSelector" in fp:
                assert name.startswith("replica-"), name
                assert fp.get("skipFinalSnapshot") is True, name
                assert fp.get("backupRetentionPeriod") == 0, name
                continue
            chosen = (ex["spec"].get("config") or {}).get("deletionPolicy")
            assert fp.get("skipFinalSnapshot") is (chosen == "Delete"), name
        if body["kind"] == "Bucket":
            assert fp.get("forceDestroy") is (body["spec"]["deletionPolicy"] == "Delete"), name


REPLICA = (
    "Delete",
    {"skipFinalSnapshot": True, "finalSnapshotIdentifier": None, "deleteAutomatedBackups": True},
)
CLUSTER_TABLE = [row for row in TABLE if row[0] == "XPostgresqlInstance"]


@pytest.mark.parametrize(
    ("kind", "policy", "config", "expected"),
    CLUSTER_TABLE,
    ids=[f"cluster-{p}" for _, p, _, _ in CLUSTER_TABLE],
)
def test_deletion_table_of_a_cluster(kind, policy, config, expected):
    """A cluster plan: the primary as in the table above; its read replicas, which hold no data
    of their own, are deleted without a snapshot under every policy."""
    xr = copy.deepcopy(example_xrs(kind)[0])
    xr["spec"]["plan"] = "cluster-nano"
    xr["spec"]["config"] = {
        **config,
        "deletionPolicy": policy,
        "compute": {"replicas": {"count": 2}},
    }
    rsp = render_primary_ready(kind, xr)
    assert not fatal_messages(rsp)
    out = desired(rsp)
    want = {**expected, "replica-1": REPLICA, "replica-2": REPLICA}
    assert set(out) == set(want), "every composed resource has a row"
    for name, (deletion_policy, fields) in want.items():
        spec = out[name].get("spec") or {}
        assert spec.get("deletionPolicy") == deletion_policy, name
        for field, wanted in fields.items():
            got = (spec.get("forProvider") or {}).get(field)
            assert _matches(wanted, got), f"{name}.forProvider.{field}: {got!r}"


SECRET_ROWS = [r for r in ROWS if r["resource"] == MASTER_SECRET]


@pytest.mark.parametrize("row", SECRET_ROWS, ids=[r["policy"] for r in SECRET_ROWS])
def test_the_master_secret_survives_a_deletion_exactly_as_the_table_says(row):
    """The twin creates the example PostgresqlInstance with the row's policy, deletes it, and
    finds its master Secret kept (with the password) only where the table says **kept**."""
    xr = copy.deepcopy(example_xrs(row["kind"])[0])
    xr["spec"].setdefault("config", {})["deletionPolicy"] = row["policy"]
    cp = ControlPlane(call=fn.run)
    key = cp.create(xr)
    cp.until_stable()
    secret_key = cp.composed[key][MASTER_SECRET]
    assert cp.cluster.get(secret_key)["data"]["password"]
    cp.delete(key)
    kept = cp.cluster.get(secret_key)
    assert (kept is not None) is row["after"].startswith("**kept**"), row
    if kept is not None:
        assert kept["data"]["password"]
