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

from function import fn
from tests.support.examples import example_xrs, render
from tests.support.responses import desired, fatal_messages

ANY = object()
FINAL = re.compile(r"^klutch-[a-z0-9-]+-final-[0-9a-f]{8}$")

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

# kind, claim deletionPolicy, the claim's parameters besides it, expected per resource.
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
        None,
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
        None,
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
            "kms-key": ("Delete", {"deletionWindowInDays": 30}),
            "kms-alias": ("Delete", {}),
        },
    ),
    (
        "XPostgresqlInstance",
        "Orphan",
        None,
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
    ("XBackup", "Retain", None, {"snapshot": ("Orphan", {})}),
    ("XBackup", "Delete", None, {"snapshot": ("Delete", {})}),
]


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
    if kind not in fn.RENDERERS:
        pytest.skip(f"{kind} is not rendered yet")
    xr = copy.deepcopy(example_xrs(kind)[0])
    params = xr["spec"].setdefault("parameters", {})
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


@pytest.mark.parametrize("ex", [x for k in fn.RENDERERS for x in example_xrs(k)], ids=str)
def test_no_example_deletes_a_key_at_once_or_skips_a_final_snapshot_silently(ex):
    """Any example: KMS keys wait 30 days; an RDS instance without a snapshot was asked for."""
    kind = ex["kind"]
    for name, body in desired(render(kind, ex)).items():
        fp = body["spec"].get("forProvider") or {}
        if body["kind"] == "Key" and body["apiVersion"].startswith("kms."):
            assert fp.get("deletionWindowInDays") == 30, name
        if body["kind"] == "Instance" and body["apiVersion"].startswith("rds."):
            chosen = (ex["spec"].get("parameters") or {}).get("deletionPolicy")
            assert fp.get("skipFinalSnapshot") is (chosen == "Delete"), name
        if body["kind"] == "Bucket":
            assert fp.get("forceDestroy") is (body["spec"]["deletionPolicy"] == "Delete"), name
