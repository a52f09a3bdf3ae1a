"""PostgresqlInstance spec.restore: rendered fields, waiting, bad input, immutability, XRD rules."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import restore
from function.core import Request
from function.environment import Environment
from function.restore import RESTORE_ANNOTATION
from function.settings import Settings
from tests.support import environment as env
from tests.support import schemas
from tests.support.cel import messages
from tests.support.responses import (
    desired,
    fatal_messages,
    render_created,
    render_primary_ready,
    status,
    warnings,
)

ROOT = Path(__file__).resolve().parent.parent
BACKUP_XR, SOURCE_XR, *_ = yaml.safe_load_all(
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
    spec = instance(render_created(xr()))["spec"]
    assert not {"snapshotIdentifier", "restoreToPointInTime"} & set(spec.get("initProvider", {}))
    assert not {"snapshotIdentifier", "restoreToPointInTime"} & set(spec["forProvider"])


def test_restore_from_a_backup_claim_uses_its_snapshot_in_init_provider():
    rsp = render_created(xr({"backup": {"name": "pg-db-before-migration"}}), required=REQUIRED)
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


def test_restore_from_an_arn_a_backup_of_the_namespace_published():
    for published in (BACKUP_XR["status"]["snapshotArn"], SNAPSHOT_ID):
        rsp = render_created(xr({"backup": {"arn": published}}), required=REQUIRED)
        assert instance(rsp)["spec"]["initProvider"]["snapshotIdentifier"] == SNAPSHOT_ID
    sel = rsp.requirements.resources["restore-backup"]
    # Every Backup of the claim's own namespace, none of any other.
    assert dict(sel.match_labels.labels) == {"crossplane.io/claim-namespace": "default"}


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:rds:eu-central-1:123456789012:snapshot:awsbackup:job-1234abcd",
        "arn:aws:rds:eu-central-1:123456789012:snapshot:klutch-other-tenant-final-0a1b2c3d",
        "rds:klutch-pg-db-bd40f46d-2025-06-01-03-00",
    ],
)
def test_restore_from_an_arn_no_backup_of_the_namespace_published_is_fatal(arn):
    required = {**REQUIRED, restore.UPGRADE_SNAPSHOTS_REQUIREMENT: []}
    rsp = render_created(xr({"backup": {"arn": arn}}), required=required)
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.restore.backup.arn:") and "no Backup of this namespace" in msg
    assert desired(rsp) == {}


def test_raw_sources_are_rendered_as_given_only_when_the_operator_allows_them(monkeypatch):
    arn = "arn:aws:rds:eu-central-1:123456789012:snapshot:awsbackup:job-1234abcd"
    monkeypatch.setattr(restore, "raw_sources_allowed", lambda _req: True)
    body = instance(render_created(xr({"backup": {"arn": arn}})))
    assert body["spec"]["initProvider"]["snapshotIdentifier"] == arn
    assert "engineVersion" not in body["spec"]["forProvider"]  # the source's is not known
    rsp = render_created(xr({"pointInTime": {"sourceIdentifier": "legacy-db", "latest": True}}))
    rtp = instance(rsp)["spec"]["initProvider"]["restoreToPointInTime"]
    assert rtp == {"sourceDbInstanceIdentifier": "legacy-db", "useLatestRestorableTime": True}


def test_raw_sources_are_not_allowed_by_default():
    environment = Environment.model_validate(env.example_data())
    req = Request(xr=xr(), settings=Settings(), env=environment)
    assert restore.raw_sources_allowed(req) is False
    templated = environment.model_copy(update={"providerConfigNameTemplate": "aws-{namespace}"})
    assert restore.raw_sources_allowed(Request(xr=xr(), settings=Settings(), env=templated))


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ({"latest": True}, {"useLatestRestorableTime": True}),
        ({"time": "2025-06-10T10:30:00+02:00"}, {"restoreTime": "2025-06-10T08:30:00Z"}),
    ],
)
def test_point_in_time_is_an_object_in_init_provider(point, expected):
    body = instance(render_created(xr(pit(**point)), required=REQUIRED))
    rtp = body["spec"]["initProvider"]["restoreToPointInTime"]
    assert rtp == {"sourceDbInstanceIdentifier": SOURCE_ID, **expected}
    assert schemas.errors(body) == []  # rds Instance v1beta3: restoreToPointInTime is an object


def test_point_in_time_from_an_identifier_an_instance_of_the_namespace_published():
    rsp = render_created(
        xr({"pointInTime": {"sourceIdentifier": SOURCE_ID, "latest": True}}),
        required={**REQUIRED, "restore-source-backups": []},
    )
    rtp = instance(rsp)["spec"]["initProvider"]["restoreToPointInTime"]
    assert rtp == {"sourceDbInstanceIdentifier": SOURCE_ID, "useLatestRestorableTime": True}
    sel = rsp.requirements.resources["restore-source"]
    assert dict(sel.match_labels.labels) == {"crossplane.io/claim-namespace": "default"}
    # The source's bounds apply as with sourceInstanceRef.
    old = {"pointInTime": {"sourceIdentifier": SOURCE_ID, "time": "2025-06-03T00:00:00Z"}}
    (msg,) = fatal_messages(
        render_created(xr(old), required={**REQUIRED, "restore-source-backups": []})
    )
    assert msg.startswith("spec.restore.pointInTime.time") and "retention" in msg


@pytest.mark.parametrize("identifier", ["legacy-db", "klutch-other-tenant-0a1b2c3d"])
def test_point_in_time_from_an_identifier_nobody_in_the_namespace_published_is_fatal(identifier):
    rsp = render_created(
        xr({"pointInTime": {"sourceIdentifier": identifier, "latest": True}}),
        required={**REQUIRED, "restore-source-backups": [BACKUP_XR]},
    )
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.restore.pointInTime.sourceIdentifier:")
    assert "of its own namespace" in msg
    assert desired(rsp) == {}


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
    rsp = render_created(xr(restore), required=REQUIRED)
    msgs = fatal_messages(rsp)
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith(field) and says in msgs[0], msgs[0]
    assert desired(rsp) == {}


def test_a_time_after_the_latest_restorable_time_without_a_request_time_is_fatal():
    rsp = render_created(xr(pit(time="2025-06-10T11:58:00Z"), created=None), required=REQUIRED)
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.restore.pointInTime.time") and "latest restorable time" in msg


def test_a_time_not_yet_restorable_but_before_the_request_waits():
    rsp = render_created(xr(pit(time="2025-06-10T11:58:00Z")), required=REQUIRED)
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
    rsp = render_created(xr({"backup": {"name": "pg-db-before-migration"}}), required=required)
    assert not fatal_messages(rsp)
    assert desired(rsp) == {}
    assert any(says in w for w in warnings(rsp)), warnings(rsp)
    assert any(says in c.message for c in rsp.conditions)


def test_a_backup_without_a_snapshot_yet_waits():
    pending = copy.deepcopy(BACKUP_XR)
    pending["status"] = {"conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]}
    rsp = render_created(
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
    rsp = render_created(
        xr({"backup": {"name": "pg-db-before-migration"}}),
        required={"restore-backup": [incomplete]},
    )
    assert desired(rsp) == {} and not fatal_messages(rsp)
    assert any(w.endswith(": its status is not complete yet") for w in warnings(rsp))


def test_only_the_primary_of_a_cluster_is_restored():
    body = xr({"backup": {"name": "pg-db-before-migration"}})
    body["spec"]["plan"] = "cluster-nano"
    out = desired(render_primary_ready(body, required=REQUIRED))
    assert out["instance"]["spec"]["initProvider"]["snapshotIdentifier"] == SNAPSHOT_ID
    replica = out["replica-1"]
    assert "initProvider" not in replica["spec"]
    assert RESTORE_ANNOTATION not in (replica.get("metadata") or {}).get("annotations", {})
    assert not {"snapshotIdentifier", "restoreToPointInTime"} & set(replica["spec"]["forProvider"])


def test_a_missing_source_instance_waits():
    rsp = render_created(xr(pit(latest=True)), required={"restore-source": []})
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
    same = render_created(xr(created_with), observed=observed)
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
        rsp = render_created(xr(edit), observed=observed)
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
    rsp = render_created(xr({"backup": {"arn": "snap-1"}}), observed=observed)
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
    (msg,) = fatal_messages(render_created(xr(restore_spec), required=required))
    assert msg.startswith("spec.config.database.name:")
    assert "'orders'" in msg
    same = xr(restore_spec)
    same["spec"]["config"] = {"database": {"name": "orders"}}
    assert not fatal_messages(render_created(same, required=required))


# --- what AWS and Terraform accept (issue 16 item 1) -----------------------------------


def _source_version() -> str:
    return BACKUP_XR["status"]["engineVersion"]


@pytest.mark.parametrize(
    "restore_spec",
    [{"backup": {"name": "pg-db-before-migration"}}, pit(latest=True)],
    ids=["backup", "point-in-time"],
)
def test_a_restore_starts_at_the_source_engine_version_not_the_major(restore_spec):
    """terraform-provider-aws internal/service/rds/instance.go (resourceInstanceCreate,
    snapshot_identifier branch) sends engine_version with the new master password in one
    ModifyDBInstance; "16" would resolve to the region's default minor and fail."""
    body = instance(render_created(xr(restore_spec), required=REQUIRED))
    fp = body["spec"]["forProvider"]
    assert fp["engineVersion"] == _source_version() == SOURCE_XR["status"]["engineVersion"]
    assert fp["autoMinorVersionUpgrade"] is True  # the claim asked for a major
    assert schemas.errors(body) == []


def test_a_restore_from_a_source_of_unknown_version_renders_none():
    unknown = copy.deepcopy(BACKUP_XR)
    del unknown["status"]["engineVersion"]
    rsp = render_created(
        xr({"backup": {"name": "pg-db-before-migration"}}), required={"restore-backup": [unknown]}
    )
    assert "engineVersion" not in instance(rsp)["spec"]["forProvider"]


@pytest.mark.parametrize("version", ["17", "16.5", "17.4"])  # all in the default catalogue
def test_a_restore_whose_service_version_is_not_the_sources_is_fatal(version):
    body = xr({"backup": {"name": "pg-db-before-migration"}})
    body["spec"]["serviceVersion"] = version
    rsp = render_created(body, required=REQUIRED)
    msgs = fatal_messages(rsp)
    assert len(msgs) == 1 and msgs[0].startswith("spec.serviceVersion"), msgs
    assert desired(rsp) == {}


def test_a_restore_pinned_to_the_sources_minor_is_accepted():
    body = xr({"backup": {"name": "pg-db-before-migration"}})
    body["spec"]["serviceVersion"] = _source_version()
    rsp = render_created(body, required=REQUIRED)
    assert not fatal_messages(rsp)
    assert instance(rsp)["spec"]["forProvider"]["engineVersion"] == _source_version()


@pytest.mark.parametrize(
    "key",
    [
        {"managed": {}},
        {
            "existing": {
                "id": "arn:aws:kms:eu-central-1:000000000000:key/"
                + "0" * 8
                + "-0000-4000-8000-"
                + "0" * 12
            }
        },
    ],
    ids=["managed", "existing"],
)
@pytest.mark.parametrize(
    "restore_spec",
    [{"backup": {"name": "pg-db-before-migration"}}, pit(latest=True)],
    ids=["backup", "point-in-time"],
)
def test_a_restore_with_a_kms_key_is_fatal(restore_spec, key):
    """RestoreDBInstanceFromDBSnapshot and RestoreDBInstanceToPointInTime take no KmsKeyId:
    the copy keeps its source's key, and the rds Instance's kmsKeyId is ForceNew."""
    body = xr(restore_spec)
    body["spec"]["config"]["encryption"] = {"key": key}
    rsp = render_created(body, required=REQUIRED)
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.config.encryption.key:") and "source" in msg
    assert desired(rsp) == {}


def test_a_restore_renders_no_key_of_its_own_and_leaves_encryption_to_the_source():
    rsp = render_created(xr({"backup": {"name": "pg-db-before-migration"}}), required=REQUIRED)
    out = desired(rsp)
    assert not {"kms-key", "kms-alias"} & set(out)
    spec = out["instance"]["spec"]
    assert not {"kmsKeyId", "kmsKeyIdSelector", "storageEncrypted"} & set(spec["forProvider"])
    # Terraform's storage_encrypted is ForceNew and the restore takes none: creation only.
    assert spec["initProvider"]["storageEncrypted"] is True
    assert schemas.errors(out["instance"]) == []


SOURCE_KEY = BACKUP_XR["status"]["kmsKeyArn"]


def restored_observed(version: str = "16.4") -> list[dict]:
    """The restored rds Instance as the provider reports it: upjet fills status.atProvider
    from the Terraform state (crossplane/upjet pkg/controller/external_tfpluginsdk.go,
    SetObservation); resourceInstanceRead sets kms_key_id, storage_encrypted, resource_id and
    engine_version_actual from DescribeDBInstances."""
    (body,) = observed_instance(
        {"dbName": "hospital", "username": "klutch_admin", "snapshotIdentifier": SNAPSHOT_ID},
        '{"backup":{"name":"pg-db-before-migration"}}',
    )
    body["metadata"]["annotations"]["klutch.anynines.com/encryption"] = "source"
    body["spec"]["forProvider"]["engineVersion"] = version
    body["status"] = {
        "atProvider": {
            "kmsKeyId": SOURCE_KEY,
            "storageEncrypted": True,
            "engineVersion": version,
            "engineVersionActual": version,
            "resourceId": "db-RESTOREDRESTOREDRESTORED1",
        },
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
    }
    return [body]


def test_a_restored_instance_keeps_its_version_and_reports_the_key_it_really_has():
    rsp = render_created(
        xr({"backup": {"name": "pg-db-before-migration"}}), observed=restored_observed()
    )
    assert not fatal_messages(rsp)
    assert not [w for w in warnings(rsp) if "immutable" in w], warnings(rsp)
    fp = instance(rsp)["spec"]["forProvider"]
    assert fp["engineVersion"] == "16.4" and fp["autoMinorVersionUpgrade"] is True
    st = status(rsp)
    assert st["kmsKeyArn"] == SOURCE_KEY and st["storageEncrypted"] is True
    assert st["resourceId"] == "db-RESTOREDRESTOREDRESTORED1"
    # Adding a key later changes nothing and says so.
    body = xr({"backup": {"name": "pg-db-before-migration"}})
    body["spec"]["config"]["encryption"] = {"key": {"managed": {}}}
    rsp = render_created(body, observed=restored_observed())
    assert not fatal_messages(rsp) and "kms-key" not in desired(rsp)
    assert any(w.startswith("spec.config.encryption is immutable") for w in warnings(rsp))


def test_a_restored_instance_whose_major_changes_keeps_its_major_until_the_restore_finished():
    """A major upgrade of a restore waits for the restore (issue 25); once it finished the
    upgrade is prepared as for any instance (tests/test_day2.py): the version stays meanwhile."""
    body = xr({"backup": {"name": "pg-db-before-migration"}})
    body["spec"]["serviceVersion"] = "17"
    restoring = restored_observed()
    restoring[0]["status"]["conditions"][0]["status"] = "False"
    for observed, said in ((restoring, "still being restored"), (restored_observed(), None)):
        rsp = render_created(body, observed=observed)
        assert instance(rsp)["spec"]["forProvider"]["engineVersion"] == "16.4"
        refused = [w for w in warnings(rsp) if w.startswith("spec.serviceVersion:")]
        assert [said in w for w in refused] == ([True] if said else []), refused


# --- retained automated backups of a deleted instance (issue 16 item 2) ------------------

RESOURCE_ID = BACKUP_XR["status"]["instanceResourceId"]
GONE = {"restore-source": [], "restore-source-backups": [BACKUP_XR]}


@pytest.mark.parametrize(
    "source",
    [
        {"sourceInstanceRef": "pg-db"},
        {"sourceIdentifier": BACKUP_XR["status"]["instanceIdentifier"]},
    ],
    ids=["by-name", "by-identifier"],
)
def test_a_deleted_instance_is_restored_from_its_retained_backups_by_resource_id(source):
    rsp = render_created(
        xr({"pointInTime": {**source, "time": "2025-06-10T08:30:00Z"}}), required=GONE
    )
    assert not fatal_messages(rsp)
    body = instance(rsp)
    rtp = body["spec"]["initProvider"]["restoreToPointInTime"]
    assert rtp == {"sourceDbiResourceId": RESOURCE_ID, "restoreTime": "2025-06-10T08:30:00Z"}
    assert body["spec"]["forProvider"]["engineVersion"] == _source_version()
    assert schemas.errors(body) == []
    sel = rsp.requirements.resources["restore-source-backups"]
    assert dict(sel.match_labels.labels) == {"crossplane.io/claim-namespace": "default"}


def test_a_deleted_instance_without_a_backup_that_recorded_it_waits():
    unrecorded = copy.deepcopy(BACKUP_XR)
    del unrecorded["status"]["instanceResourceId"]
    rsp = render_created(
        xr(pit(latest=True)),
        required={"restore-source": [], "restore-source-backups": [unrecorded]},
    )
    assert desired(rsp) == {} and not fatal_messages(rsp)
    assert any("it does not exist" in w for w in warnings(rsp))


def test_two_deleted_instances_of_one_name_are_fatal_until_one_is_named():
    other = copy.deepcopy(BACKUP_XR)
    other["metadata"]["name"] = "pg-db-older-1a2b3"
    other["status"]["instanceResourceId"] = "db-OLDEROLDEROLDEROLDEROLDE1"
    other["status"]["instanceIdentifier"] = "klutch-pg-db-0a1b2c3d"
    required = {"restore-source": [], "restore-source-backups": [BACKUP_XR, other]}
    (msg,) = fatal_messages(render_created(xr(pit(latest=True)), required=required))
    assert msg.startswith("spec.restore.pointInTime.sourceInstanceRef")
    assert "sourceIdentifier" in msg and "klutch-pg-db-0a1b2c3d" in msg
    named = {"pointInTime": {"sourceIdentifier": "klutch-pg-db-0a1b2c3d", "latest": True}}
    rtp = instance(render_created(xr(named), required=required))["spec"]["initProvider"]
    assert rtp["restoreToPointInTime"]["sourceDbiResourceId"] == "db-OLDEROLDEROLDEROLDEROLDE1"


@pytest.mark.parametrize(
    ("restore", "source", "key"),
    [
        ({"backup": {"name": "pg-db-before-migration"}}, BACKUP_XR, "restore-backup"),
        (pit(latest=True), SOURCE_XR, "restore-source"),
    ],
    ids=["snapshot", "point-in-time"],
)
def test_a_restore_starts_at_least_as_large_as_its_source(restore, source, key):
    """Issue 27 item 1. terraform-provider-aws internal/service/rds/instance.go
    (resourceInstanceCreate): after RestoreDBInstanceFromDBSnapshot, allocated_storage goes
    with the master password in one ModifyDBInstance, which RDS refuses below the snapshot's
    size (the password never set); a point-in-time restore sends max_allocated_storage in
    RestoreDBInstanceToPointInTime. The source publishes its size (Backup: the snapshot's
    atProvider.allocatedStorage; PostgresqlInstance: the instance's); the restore takes it."""
    big = copy.deepcopy(source)
    big["status"]["allocatedStorage"] = 500
    rsp = render_created(xr(restore), required={**REQUIRED, key: [big]})
    assert not fatal_messages(rsp)
    fp = instance(rsp)["spec"]["forProvider"]
    assert fp["allocatedStorage"] == 500
    assert fp["maxAllocatedStorage"] >= 500
    # A source smaller than the plan changes nothing.
    small = copy.deepcopy(source)
    small["status"]["allocatedStorage"] = 1
    plain = instance(render_created(xr(restore), required={**REQUIRED, key: [small]}))
    assert (
        plain["spec"]["forProvider"]["allocatedStorage"]
        == instance(render_created(xr(restore), required=REQUIRED))["spec"]["forProvider"][
            "allocatedStorage"
        ]
    )
