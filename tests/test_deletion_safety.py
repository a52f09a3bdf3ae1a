"""What deleting a claim does to the data: one table, every deletion policy of every claim.

Each row renders the kind's first example with one ``deletionPolicy`` and states, for every
composed resource, the exact Crossplane ``deletionPolicy`` and the provider fields that decide
what AWS deletes: Bucket ``forceDestroy``, RDS ``skipFinalSnapshot`` /
``finalSnapshotIdentifier`` / ``deleteAutomatedBackups``, KMS ``deletionWindowInDays``, Backup
vault ``forceDestroy``. A row whose kind is not rendered yet is skipped.
"""

from __future__ import annotations

import copy
import re

import pytest

from function import fn, names
from tests.support.examples import example_xrs, render
from tests.support.responses import desired, fatal_messages

ANY = object()
FINAL = re.compile(rf"^klutch-[a-z0-9-]+-final-[0-9a-f]{{{names.HASH_HEX}}}$")

S3_CONFIG = (
    "public-access-block",
    "ownership-controls",
    "bucket-policy",
    "lifecycle",
    "encryption",
)


def s3(policy: str, keep: bool) -> dict:
    p = "Orphan" if keep else "Delete"
    row = {name: (p, {}) for name in S3_CONFIG}
    row["bucket"] = (p, {"forceDestroy": not keep})
    row["kms-key"] = (p, {"deletionWindowInDays": 30})
    row["kms-alias"] = (p, {})
    return row


PG_SQL = {"group-role": ("Orphan", {}), "group-schema-grant": ("Orphan", {})}
PG_SQL["group-database-grant"] = ("Orphan", {})
PG_SQL["provider-config"] = (None, {})

# Where each kind's claim has its deletionPolicy (and the settings besides it).
SETTINGS_FIELD = {
    "XObjectStorageInstance": "parameters",
    "XPostgresqlInstance": "config",
    "XBackup": "config",
}
PG_KEY = {"encryption": {"key": {"managed": {}}}}

# kind, claim deletionPolicy, the claim's settings besides it (spec.parameters or spec.config;
# None: the example's), expected per resource.
TABLE = [
    (
        "XObjectStorageInstance",
        "DeleteInstanceKeepBucket",
        {"encryption": {"type": "kms", "key": {"managed": {}}}},
        s3("DeleteInstanceKeepBucket", keep=True),
    ),
    (
        "XObjectStorageInstance",
        "EmptyBucketAndDelete",
        {"encryption": {"type": "kms", "key": {"managed": {}}}},
        s3("EmptyBucketAndDelete", keep=False),
    ),
    (
        "XPostgresqlInstance",
        "SnapshotAndDelete",
        PG_KEY,
        {
            **PG_SQL,
            "instance": (
                "Delete",
                {
                    "skipFinalSnapshot": False,
                    "finalSnapshotIdentifier": FINAL,
                    "deleteAutomatedBackups": False,
                },
            ),
            "parameter-group": ("Delete", {}),
            "kms-key": ("Orphan", {"deletionWindowInDays": 30}),
            "kms-alias": ("Orphan", {}),
        },
    ),
    (
        "XPostgresqlInstance",
        "Delete",
        PG_KEY,
        {
            **PG_SQL,
            "instance": (
                "Delete",
                {
                    "skipFinalSnapshot": True,
                    "finalSnapshotIdentifier": None,
                    "deleteAutomatedBackups": True,
                },
            ),
            "parameter-group": ("Delete", {}),
            # Retained Backup snapshots, AWS Backup recovery points and restored copies may
            # still be encrypted with it: never scheduled for deletion by the claim.
            "kms-key": ("Orphan", {"deletionWindowInDays": 30}),
            "kms-alias": ("Orphan", {}),
        },
    ),
    (
        "XPostgresqlInstance",
        "Orphan",
        PG_KEY,
        {
            **PG_SQL,
            "instance": (
                "Orphan",
                {
                    "skipFinalSnapshot": False,
                    "finalSnapshotIdentifier": FINAL,
                    "deleteAutomatedBackups": False,
                },
            ),
            "parameter-group": ("Orphan", {}),
            "kms-key": ("Orphan", {"deletionWindowInDays": 30}),
            "kms-alias": ("Orphan", {}),
        },
    ),
    # The ClusterUsage while the snapshot is taken is Crossplane's: no deletionPolicy.
    ("XBackup", "Retain", None, {"snapshot": ("Orphan", {}), "usage-snapshot": (None, {})}),
    ("XBackup", "Delete", None, {"snapshot": ("Delete", {}), "usage-snapshot": (None, {})}),
]


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
    rsp = render(kind, xr)
    assert not fatal_messages(rsp)
    out = desired(rsp)
    assert set(out) == set(expected), "every composed resource has a row"
    for name, (deletion_policy, fields) in expected.items():
        spec = out[name]["spec"]
        assert spec.get("deletionPolicy") == deletion_policy, name
        for field, want in fields.items():
            got = spec["forProvider"].get(field)
            assert _matches(want, got), f"{name}.forProvider.{field}: {got!r}"


@pytest.mark.parametrize("ex", [x for k in sorted(RENDERED) for x in example_xrs(k)], ids=str)
def test_no_example_deletes_a_key_at_once_or_skips_a_final_snapshot_silently(ex):
    """Any example: KMS keys wait 30 days; an RDS instance without a snapshot was asked for
    (a read replica holds no data of its own: the primary's snapshot and backups have it)."""
    kind = ex["kind"]
    out = desired(render(kind, ex))
    assert out, "the example renders something"
    for name, body in out.items():
        fp = body["spec"].get("forProvider") or {}
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
    rsp = render(kind, xr)
    assert not fatal_messages(rsp)
    out = desired(rsp)
    want = {**expected, "replica-1": REPLICA, "replica-2": REPLICA}
    assert set(out) == set(want), "every composed resource has a row"
    for name, (deletion_policy, fields) in want.items():
        spec = out[name]["spec"]
        assert spec.get("deletionPolicy") == deletion_policy, name
        for field, wanted in fields.items():
            got = spec["forProvider"].get(field)
            assert _matches(wanted, got), f"{name}.forProvider.{field}: {got!r}"
