"""PostgresqlInstance spec.restore: rendered fields, waiting, bad input, immutability, XRD rules."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function.restore import RESTORE_ANNOTATION
from tests.support import schemas
from tests.support.cel import messages
from tests.support.responses import desired, fatal_messages, render_local, warnings

ROOT = Path(__file__).resolve().parent.parent
BACKUP_XR, SOURCE_XR = yaml.safe_load_all(
    (ROOT / "examples/postgresqlinstance/required.yaml").open()
)
SOURCE_ID = SOURCE_XR["status"]["identifier"]
SNAPSHOT_ID = BACKUP_XR["status"]["snapshotIdentifier"]
REQUIRED = {"restore-backup": [BACKUP_XR], "restore-source": [SOURCE_XR]}
DATABASE = {"name": SOURCE_XR["status"]["databaseName"]}


def xr(restore: dict | None = None, created: str | None = "2025-06-10T12:00:00Z") -> dict:
    body = {
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": "XPostgresqlInstance",
        "metadata": {
            "name": "restored-abcde",
            "uid": "a1b2c3d4-0000-4a47-9c7a-2d1f2e3a4b5c",
            "labels": {
                "crossplane.io/claim-name": "restored",
                "crossplane.io/claim-namespace": "default",
            },
        },
        # The database the example sources (required.yaml) bring: a restore keeps it.
        "spec": {"serviceVersion": "16", "plan": "single-nano", "config": {"database": DATABASE}},
    }
    if created:
        body["metadata"]["creationTimestamp"] = created
    if restore is not None:
        body["spec"]["restore"] = restore
    return body


def pit(**point) -> dict:
    return {"pointInTime": {"sourceInstanceRef": "pg-db", **point}}


def instance(rsp) -> dict:
    return desired(rsp)["instance"]


def test_no_restore_renders_no_restore_fields():
    spec = instance(render_local(xr()))["spec"]
    assert not {"snapshotIdentifier", "restoreToPointInTime"} & set(spec.get("initProvider", {}))
    assert not {"snapshotIdentifier", "restoreToPointInTime"} & set(spec["forProvider"])


def test_restore_from_a_backup_claim_uses_its_snapshot_in_init_provider():
    rsp = render_local(xr({"backup": {"name": "pg-db-before-migration"}}), required=REQUIRED)
    body = instance(rsp)
    assert body["spec"]["initProvider"]["snapshotIdentifier"] == SNAPSHOT_ID
    assert "snapshotIdentifier" not in body["spec"]["forProvider"]
    assert body["metadata"]["annotations"][RESTORE_ANNOTATION] == (
        '{"backup":{"name":"pg-db-before-migration"}}'
    )
    assert schemas.errors(body) == []
    sel = rsp.requirements.resources["restore-backup"]
    assert (sel.api_version, sel.kind) == ("rds.aws.anynines.com/v1", "XBackup")
    (cond,) = [c for c in rsp.conditions if c.type == "DependencyReady"]
    assert cond.status == fnv1.STATUS_CONDITION_TRUE and cond.reason == "Available"
    assert dict(sel.match_labels.labels)["crossplane.io/claim-name"] == "pg-db-before-migration"


def test_restore_from_an_arn():
    arn = "arn:aws:rds:eu-central-1:123456789012:snapshot:awsbackup:job-1234abcd"
    body = instance(render_local(xr({"backup": {"arn": arn}})))
    assert body["spec"]["initProvider"]["snapshotIdentifier"] == arn


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ({"latest": True}, {"useLatestRestorableTime": True}),
        ({"time": "2025-06-10T10:30:00+02:00"}, {"restoreTime": "2025-06-10T08:30:00Z"}),
    ],
)
def test_point_in_time_is_an_object_in_init_provider(point, expected):
    body = instance(render_local(xr(pit(**point)), required=REQUIRED))
    rtp = body["spec"]["initProvider"]["restoreToPointInTime"]
    assert rtp == {"sourceDbInstanceIdentifier": SOURCE_ID, **expected}
    assert schemas.errors(body) == []  # rds Instance v1beta3: restoreToPointInTime is an object


def test_point_in_time_from_an_identifier_needs_no_requirement():
    rsp = render_local(xr({"pointInTime": {"sourceIdentifier": "legacy-db", "latest": True}}))
    rtp = instance(rsp)["spec"]["initProvider"]["restoreToPointInTime"]
    assert rtp["sourceDbInstanceIdentifier"] == "legacy-db"
    assert "restore-source" not in rsp.requirements.resources


@pytest.mark.parametrize(
    ("restore", "field", "says"),
    [
        (
            {"backup": {"arn": "snap-1"}, "pointInTime": {"sourceIdentifier": "a", "latest": True}},
            "spec.restore",
            "exactly one restore mode",
        ),
        ({}, "spec.restore", "exactly one restore mode"),
        ({"backup": {"name": "a", "arn": "b"}}, "spec.restore.backup", "exactly one of 'name'"),
        ({"backup": {}}, "spec.restore.backup", "exactly one of 'name'"),
        ({"backup": {"arn": "arn:aws:s3:::bucket"}}, "spec.restore.backup.arn", "snapshot ARN"),
        (
            {"backup": {"arn": "arn:aws:rds:us-east-1:123456789012:snapshot:s"}},
            "spec.restore.backup.arn",
            "copy the snapshot to eu-central-1",
        ),
        (
            {"pointInTime": {"sourceIdentifier": "a", "sourceInstanceRef": "b"}},
            "spec.restore.pointInTime",
            "exactly one of 'sourceInstanceRef' or 'sourceIdentifier'",
        ),
        (pit(), "spec.restore.pointInTime", "exactly one of 'time' (RFC 3339) or 'latest: true'"),
        (
            pit(latest=True, time="2025-06-10T08:00:00Z"),
            "spec.restore.pointInTime",
            "exactly one of 'time'",
        ),
        (pit(latest=False), "spec.restore.pointInTime", "'latest' may only be true"),
        (pit(time="2025-06-10 08:00"), "spec.restore.pointInTime.time", "RFC 3339"),
        (pit(time="2025-13-10T08:00:00Z"), "spec.restore.pointInTime.time", "RFC 3339"),
        (pit(time="yesterday"), "spec.restore.pointInTime.time", "RFC 3339"),
        (pit(time="2031-01-01T00:00:00Z"), "spec.restore.pointInTime.time", "in the future"),
        (
            pit(time="2025-06-03T00:00:00Z"),
            "spec.restore.pointInTime.time",
            "older than the source's backup retention of 7 days",
        ),
        (
            pit(time="2025-05-01T00:00:00Z"),
            "spec.restore.pointInTime.time",
            "before the source instance existed",
        ),
        (
            {"pointInTime": {"sourceIdentifier": "bad--name", "latest": True}},
            "spec.restore.pointInTime.sourceIdentifier",
            "RDS DB instance identifier",
        ),
        (
            {"snapshot": "x"},
            "spec.restore",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_bad_restore_is_fatal_and_named(restore, field, says):
    rsp = render_local(xr(restore), required=REQUIRED)
    msgs = fatal_messages(rsp)
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith(field) and says in msgs[0], msgs[0]
    assert desired(rsp) == {}


def test_a_time_after_the_latest_restorable_time_without_a_request_time_is_fatal():
    rsp = render_local(xr(pit(time="2025-06-10T11:58:00Z"), created=None), required=REQUIRED)
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.restore.pointInTime.time") and "latest restorable time" in msg


def test_a_time_not_yet_restorable_but_before_the_request_waits():
    rsp = render_local(xr(pit(time="2025-06-10T11:58:00Z")), required=REQUIRED)
    assert not fatal_messages(rsp)
    assert desired(rsp) == {}
    assert any("latest restorable time (2025-06-10T11:55:00Z)" in w for w in warnings(rsp))


@pytest.mark.parametrize(
    ("required", "says"),
    [
        ({}, "waiting for Backup pg-db-before-migration in namespace default"),
        ({"restore-backup": []}, "it does not exist (spec.restore.backup.name)"),
    ],
)
def test_a_backup_name_that_does_not_exist_waits_with_a_clear_message(required, says):
    rsp = render_local(xr({"backup": {"name": "pg-db-before-migration"}}), required=required)
    assert not fatal_messages(rsp)
    assert desired(rsp) == {}
    assert any(says in w for w in warnings(rsp)), warnings(rsp)
    assert any(says in c.message for c in rsp.conditions)


def test_a_backup_without_a_snapshot_yet_waits():
    pending = copy.deepcopy(BACKUP_XR)
    pending["status"] = {"conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]}
    rsp = render_local(
        xr({"backup": {"name": "pg-db-before-migration"}}), required={"restore-backup": [pending]}
    )
    assert desired(rsp) == {}
    says = "waiting for Backup pg-db-before-migration in namespace default: it is not ready yet"
    assert any(says in w for w in warnings(rsp)), warnings(rsp)
    (cond,) = [c for c in rsp.conditions if c.type == "DependencyReady"]
    assert cond.status == fnv1.STATUS_CONDITION_FALSE and cond.reason == "WaitingForDependency"


def test_a_ready_backup_without_a_snapshot_identifier_waits():
    incomplete = copy.deepcopy(BACKUP_XR)
    del incomplete["status"]["snapshotIdentifier"]
    rsp = render_local(
        xr({"backup": {"name": "pg-db-before-migration"}}),
        required={"restore-backup": [incomplete]},
    )
    assert desired(rsp) == {} and not fatal_messages(rsp)
    assert any(w.endswith(": its status is not complete yet") for w in warnings(rsp))


def test_only_the_primary_of_a_cluster_is_restored():
    body = xr({"backup": {"name": "pg-db-before-migration"}})
    body["spec"]["plan"] = "cluster-nano"
    out = desired(render_local(body, required=REQUIRED))
    assert out["instance"]["spec"]["initProvider"]["snapshotIdentifier"] == SNAPSHOT_ID
    replica = out["replica-1"]
    assert "initProvider" not in replica["spec"]
    assert RESTORE_ANNOTATION not in (replica.get("metadata") or {}).get("annotations", {})
    assert not {"snapshotIdentifier", "restoreToPointInTime"} & set(replica["spec"]["forProvider"])


def test_a_missing_source_instance_waits():
    rsp = render_local(xr(pit(latest=True)), required={"restore-source": []})
    assert desired(rsp) == {} and not fatal_messages(rsp)
    assert any("PostgresqlInstance pg-db in namespace default" in w for w in warnings(rsp))


def observed_instance(init: dict, annotation: str | None) -> list[dict]:
    annotations = {"crossplane.io/composition-resource-name": "instance"}
    if annotation:
        annotations[RESTORE_ANNOTATION] = annotation
    return [
        {
            "apiVersion": "rds.aws.upbound.io/v1beta3",
            "kind": "Instance",
            "metadata": {"name": "restored-abcde-1", "annotations": annotations},
            "spec": {
                "forProvider": {"region": "eu-central-1", "engineVersion": "16"},
                "initProvider": init,
            },
        }
    ]


def test_changing_restore_after_creation_changes_nothing_and_warns():
    created_with = {"backup": {"name": "pg-db-before-migration"}}
    init = {"dbName": "app", "username": "klutch", "snapshotIdentifier": SNAPSHOT_ID}
    observed = observed_instance(init, '{"backup":{"name":"pg-db-before-migration"}}')
    # Unchanged: no warning, same fields, no requirement needed any more.
    same = render_local(xr(created_with), observed=observed)
    assert instance(same)["spec"]["initProvider"]["snapshotIdentifier"] == SNAPSHOT_ID
    assert not [w for w in warnings(same) if "spec.restore" in w]
    assert "restore-backup" not in same.requirements.resources
    # Changed (even to something invalid, or removed): the instance keeps its restore fields.
    for edit in (
        {"backup": {"arn": "other-snapshot"}},
        pit(latest=True),
        {"backup": {"name": "a", "arn": "b"}},
        None,
    ):
        rsp = render_local(xr(edit), observed=observed)
        assert not fatal_messages(rsp)
        body = instance(rsp)
        assert body["spec"]["initProvider"]["snapshotIdentifier"] == SNAPSHOT_ID
        assert "restoreToPointInTime" not in body["spec"]["initProvider"]
        assert body["metadata"]["annotations"][RESTORE_ANNOTATION] == (
            '{"backup":{"name":"pg-db-before-migration"}}'
        )
        assert any(w.startswith("spec.restore is immutable") for w in warnings(rsp))


def test_adding_restore_to_an_existing_instance_is_ignored():
    observed = observed_instance({"dbName": "app", "username": "klutch"}, None)
    rsp = render_local(xr({"backup": {"arn": "snap-1"}}), observed=observed)
    init = instance(rsp)["spec"]["initProvider"]
    assert "snapshotIdentifier" not in init
    assert any("created without a restore" in w for w in warnings(rsp))


# --- XRD rules (CEL, as the API server evaluates them) ---------------------------------

KIND = "XPostgresqlInstance"


@pytest.mark.parametrize(
    ("restore", "message"),
    [
        ({"backup": {"name": "b"}}, None),
        ({"backup": {"arn": "snap-1"}}, None),
        ({"backup": {"arn": "arn:aws:s3:::bucket"}}, "must be a DB snapshot ARN"),
        (pit(latest=True), None),
        ({"backup": {"name": "b"}, "pointInTime": {}}, "set exactly one restore mode"),
        ({}, "set exactly one restore mode"),
        ({"backup": {"name": "b", "arn": "a"}}, "exactly one of restore.backup.name"),
        (pit(), "exactly one of restore.pointInTime.time"),
        (pit(latest=False), "latest may only be true"),
        (
            {
                "pointInTime": {
                    "sourceIdentifier": "a",
                    "sourceInstanceRef": "b",
                    "latest": True,
                }
            },
            "exactly one of restore.pointInTime.sourceInstanceRef",
        ),
    ],
)
def test_xrd_restore_rules(restore, message):
    found = messages(KIND, xr(restore))
    if message is None:
        assert found == []
    else:
        assert any(message in m for m in found), found


def test_xrd_refuses_changing_adding_or_removing_restore():
    old = xr({"backup": {"name": "b"}})
    assert "restore is immutable" in messages(KIND, xr({"backup": {"name": "c"}}), old)
    assert "restore can only be set at creation" in messages(KIND, xr(), old)
    assert "restore can only be set at creation" in messages(KIND, old, xr())
    assert messages(KIND, old, copy.deepcopy(old)) == []


def _with_database(doc: dict, name: str) -> dict:
    doc = copy.deepcopy(doc)
    doc["status"]["databaseName"] = name
    return doc


@pytest.mark.parametrize(
    ("restore_spec", "requirement", "source"),
    [
        ({"backup": {"name": "pg-db-before-migration"}}, "restore-backup", BACKUP_XR),
        (pit(latest=True), "restore-source", SOURCE_XR),
    ],
    ids=["backup-name", "point-in-time"],
)
def test_restore_must_name_the_database_the_source_brings(restore_spec, requirement, source):
    required = {**REQUIRED, requirement: [_with_database(source, "orders")]}
    (msg,) = fatal_messages(render_local(xr(restore_spec), required=required))
    assert msg.startswith("spec.config.database.name:")
    assert "'orders'" in msg
    same = xr(restore_spec)
    same["spec"]["config"] = {"database": {"name": "orders"}}
    assert not fatal_messages(render_local(same, required=required))
