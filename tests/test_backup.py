"""Backup and ScheduledBackup: what each claim field renders, waiting, bad input, schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import backup, claims, names, snapshot_records
from function.scheduledbackup import SCHEDULES, cron_error
from tests.support import environment as env
from tests.support import schemas
from tests.support.responses import (
    desired,
    fatal_messages,
    local_call,
    render_local,
    status,
    warnings,
)
from tools import xrender

ROOT = Path(__file__).resolve().parent.parent
INSTANCE, NAMESPACE = yaml.safe_load_all((ROOT / "examples/backup/required.yaml").read_text())
REQUIRED = {
    "postgresql-instance": [INSTANCE],
    backup.BACKUPS_REQUIREMENT: [],
    snapshot_records.RECORDS_REQUIREMENT: [],
    snapshot_records.NAMESPACE_REQUIREMENT: [NAMESPACE],
}
IDENT = INSTANCE["status"]["identifier"]
ARN = INSTANCE["status"]["arn"]


def xr(kind: str, **spec) -> dict:
    return {
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": kind,
        "metadata": {
            "name": "nightly-abcde",
            "uid": "5f0c7c1e-1111-4a47-9c7a-2d1f2e3a4b5c",
            "labels": {
                "crossplane.io/claim-name": "nightly",
                "crossplane.io/claim-namespace": "default",
            },
        },
        "spec": {"instanceRef": "pg-db", **spec},
    }


def incomplete(instance: dict) -> dict:
    """Ready, but without a field a Backup needs (claims.PostgresqlInstanceStatus)."""
    inst = copy.deepcopy(instance)
    del inst["status"]["providerConfigName"]
    return inst


def not_ready(instance: dict) -> dict:
    inst = copy.deepcopy(instance)
    inst["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "Creating"}]
    return inst


# --- Backup ----------------------------------------------------------------------------


def test_backup_asks_for_the_instance_and_waits():
    rsp = render_local(xr("XBackup"))
    sel = rsp.requirements.resources["postgresql-instance"]
    assert (sel.api_version, sel.kind) == ("rds.aws.anynines.com/v1", "XPostgresqlInstance")
    assert dict(sel.match_labels.labels) == {
        "crossplane.io/claim-name": "pg-db",
        "crossplane.io/claim-namespace": "default",
    }
    assert desired(rsp) == {}
    waited = "waiting for PostgresqlInstance pg-db in namespace default: it does not exist"
    assert warnings(rsp) == [f"{waited} (spec.instanceRef)"]
    (cond,) = [c for c in rsp.conditions if c.type == "DependencyReady"]
    assert cond.message == f"{waited} (spec.instanceRef)"
    assert (cond.type, cond.status, cond.reason) == (
        "DependencyReady",
        fnv1.STATUS_CONDITION_FALSE,
        "WaitingForDependency",
    )


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (
            [],
            "waiting for PostgresqlInstance pg-db in namespace default: it does not exist "
            "(spec.instanceRef)",
        ),
        (
            [not_ready(INSTANCE)],
            "waiting for PostgresqlInstance pg-db in namespace default: it is not ready yet",
        ),
        (
            [incomplete(INSTANCE)],
            "waiting for PostgresqlInstance pg-db in namespace default: its status is not "
            "complete yet",
        ),
    ],
)
def test_backup_waits_for_a_missing_or_unready_instance(found, message):
    rsp = render_local(xr("XBackup"), required={"postgresql-instance": found})
    assert desired(rsp) == {}
    assert not fatal_messages(rsp)
    assert any(w.startswith(message) for w in warnings(rsp)), warnings(rsp)


def test_backup_renders_one_retained_snapshot_of_the_instance():
    rsp = render_local(xr("XBackup"), required=REQUIRED)
    out = desired(rsp)
    # the Usage lasts while it is taken; the record counts the snapshot (snapshot_records)
    assert set(out) == {"snapshot", "usage-snapshot", snapshot_records.KEY}
    snap = out["snapshot"]
    ident = names.snapshot_identifier(
        names.Identity("klutch", "", "nightly", "5f0c7c1e-1111-4a47-9c7a-2d1f2e3a4b5c")
    )
    assert snap["kind"] == "Snapshot"
    assert snap["metadata"]["annotations"]["crossplane.io/external-name"] == ident
    assert snap["spec"]["deletionPolicy"] == "Orphan"
    assert snap["spec"]["forProvider"]["dbInstanceIdentifier"] == IDENT
    assert snap["spec"]["forProvider"]["region"] == "eu-central-1"
    assert schemas.errors(snap) == []
    st = status(rsp)
    assert st["snapshotIdentifier"] == ident
    assert st["engineVersion"] == INSTANCE["status"]["engineVersion"]
    assert st["databaseName"] == INSTANCE["status"]["databaseName"]
    assert st["region"] == "eu-central-1" and st["instanceIdentifier"] == IDENT
    assert not warnings(rsp)
    (cond,) = [c for c in rsp.conditions if c.type == "DependencyReady"]
    assert (cond.type, cond.status, cond.reason) == (
        "DependencyReady",
        fnv1.STATUS_CONDITION_TRUE,
        "Available",
    )


def test_backup_delete_policy_deletes_the_snapshot():
    rsp = render_local(xr("XBackup", config={"deletionPolicy": "Delete"}), required=REQUIRED)
    assert desired(rsp)["snapshot"]["spec"]["deletionPolicy"] == "Delete"


def test_backup_bad_policy_is_fatal_and_lists_allowed_values():
    rsp = render_local(xr("XBackup", config={"deletionPolicy": "Keep"}), required=REQUIRED)
    (msg,) = fatal_messages(rsp)
    assert "spec.config.deletionPolicy" in msg
    assert "'Retain'" in msg and "'Delete'" in msg


def observed_snapshot(source: str = IDENT) -> list[dict]:
    return [
        {
            "apiVersion": "rds.aws.upbound.io/v1beta1",
            "kind": "Snapshot",
            "metadata": {
                "name": "nightly-abcde-x1",
                "annotations": {"crossplane.io/composition-resource-name": "snapshot"},
            },
            "spec": {"forProvider": {"region": "eu-central-1", "dbInstanceIdentifier": source}},
            "status": {
                "atProvider": {
                    "dbSnapshotArn": "arn:aws:rds:eu-central-1:123456789012:snapshot:s",
                    "status": "available",
                },
                "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
            },
        }
    ]


def test_backup_status_has_the_arn_and_ready_when_available():
    rsp = render_local(xr("XBackup"), observed=observed_snapshot(), required=REQUIRED)
    st = status(rsp)
    assert st["snapshotArn"] == "arn:aws:rds:eu-central-1:123456789012:snapshot:s"
    assert st["snapshotStatus"] == "available"
    assert rsp.desired.resources["snapshot"].ready == 1  # READY_TRUE


def test_backup_status_publishes_the_snapshot_size_for_a_restore():
    """Issue 27 item 1: a restore starts at least as large as its snapshot (rds Snapshot
    v1beta1 ``atProvider.allocatedStorage``, a float from a protobuf Struct)."""
    observed = observed_snapshot()
    observed[0]["status"]["atProvider"]["allocatedStorage"] = 250.0
    st = status(render_local(xr("XBackup"), observed=observed, required=REQUIRED))
    assert st["allocatedStorage"] == 250
    assert claims.BackupStatus.read({"status": st}).allocatedStorage == 250


def test_a_taken_snapshot_outlives_its_instance():
    # The instance was deleted after the backup: the snapshot stays, unchanged, no warning.
    rsp = render_local(
        xr("XBackup"),
        observed=observed_snapshot("old-db"),
        required={"postgresql-instance": [], snapshot_records.NAMESPACE_REQUIREMENT: [NAMESPACE]},
    )
    snap = desired(rsp)["snapshot"]
    assert snap["spec"]["forProvider"]["dbInstanceIdentifier"] == "old-db"
    assert snap["spec"]["deletionPolicy"] == "Orphan"
    assert not warnings(rsp) and not fatal_messages(rsp)


def test_a_taken_snapshot_keeps_what_it_was_taken_of_in_status():
    # The restore reads databaseName and engineVersion of the Backup: once the snapshot exists
    # they come from the Backup's own status, not from the (maybe changed or gone) instance.
    body = xr("XBackup")
    body["status"] = {"databaseName": "hospital", "engineVersion": "16.4"}
    rsp = render_local(body, observed=observed_snapshot("old-db"), required={})
    st = status(rsp)
    assert st["databaseName"] == "hospital" and st["engineVersion"] == "16.4"
    assert st["instanceIdentifier"] == "old-db" and st["region"] == "eu-central-1"
    assert "postgresql-instance" not in rsp.requirements.resources


def test_a_backup_vouches_for_its_instance_after_the_instance_is_gone():
    # First render: the instance's resourceId goes to status (a point-in-time restore of the
    # deleted instance reaches its retained automated backups by it: function/restore.py).
    st = status(render_local(xr("XBackup"), required=REQUIRED))
    assert st["instanceResourceId"] == INSTANCE["status"]["resourceId"]
    assert st["instanceIdentifier"] == IDENT
    # Later, with the instance gone, the XR's own status keeps it.
    body = xr("XBackup")
    body["status"] = st
    rsp = render_local(body, observed=observed_snapshot(IDENT), required={})
    assert status(rsp)["instanceResourceId"] == INSTANCE["status"]["resourceId"]


def test_a_backup_publishes_what_its_snapshot_really_holds():
    """rds Snapshot v1beta1 ``status.atProvider`` has ``engineVersion`` and ``kmsKeyId`` (the
    Terraform aws_db_snapshot read sets both from DescribeDBSnapshots)."""
    observed = observed_snapshot()
    key = "arn:aws:kms:eu-central-1:123456789012:key/0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8"
    observed[0]["status"]["atProvider"].update({"engineVersion": "16.6", "kmsKeyId": key})
    st = status(render_local(xr("XBackup"), observed=observed, required=REQUIRED))
    assert st["engineVersion"] == "16.6" and st["kmsKeyArn"] == key


def test_an_instance_ref_object_is_fatal():
    # instanceRef is the claim's name, as the Klutch docs write it; {name: ...} is refused.
    (msg,) = fatal_messages(render_local(xr("XBackup", instanceRef={"name": "pg-db"})))
    assert msg.startswith("spec.instanceRef:") and "valid string" in msg


def test_a_claimless_backup_is_fatal_naming_instance_ref():
    body = xr("XBackup")
    del body["metadata"]["labels"]["crossplane.io/claim-namespace"]
    (msg,) = fatal_messages(render_local(body))
    assert msg.startswith("spec.instanceRef:")


# --- ScheduledBackup -------------------------------------------------------------------


def test_scheduled_backup_renders_vault_plan_selection():
    rsp = render_local(
        xr("XScheduledBackup", schedule="hourly", retentionDays=3), required=REQUIRED
    )
    out = desired(rsp)
    (key,) = [k for k in out if k.startswith("selection-")]
    # The example environment names no backup role: the ScheduledBackup renders one.
    assert set(out) == {"vault", "plan", key, f"usage-{key}", *ROLE_KEYS}
    name = names.backup_name(
        names.Identity("klutch", "", "nightly", "5f0c7c1e-1111-4a47-9c7a-2d1f2e3a4b5c")
    )
    assert out["vault"]["metadata"]["annotations"]["crossplane.io/external-name"] == name
    assert out["vault"]["spec"]["deletionPolicy"] == "Orphan"
    (rule,) = out["plan"]["spec"]["forProvider"]["rule"]
    assert rule["schedule"] == "cron(0 * ? * * *)"
    assert rule["lifecycle"] == {"deleteAfter": 3}
    assert rule["enableContinuousBackup"] is False
    assert out["plan"]["spec"]["forProvider"]["name"] == name
    sel = out[key]["spec"]["forProvider"]
    assert sel["resources"] == [ARN]
    assert sel["iamRoleArnSelector"] == {"matchControllerRef": True}
    assert "iamRoleArn" not in sel
    for key, body in out.items():
        if (
            key not in ROLE_KEYS and body["kind"] != "ClusterUsage"
        ):  # IAM is global; Usage is Crossplane's
            assert body["spec"]["forProvider"]["region"] == "eu-central-1"
        assert schemas.errors(body) == [], body["kind"]
    assert status(rsp)["planName"] == name and status(rsp)["vaultName"] == name


ROLE_KEYS = {"backup-role", "backup-role-policy-backup", "backup-role-policy-restores"}


def _selection(out: dict) -> tuple[str, dict]:
    (key,) = [k for k in out if k.startswith("selection-")]
    return key, out[key]["spec"]["forProvider"]


def test_service_role_comes_from_the_environment():
    role = "arn:aws:iam::000000000000:role/klutch-backup"
    named = env.with_data(backup={"serviceRoleArn": role})
    out = desired(render_local(xr("XScheduledBackup"), required=REQUIRED, environment=[named]))
    assert not ROLE_KEYS & set(out)  # no role rendered
    _, sel = _selection(out)
    assert sel["iamRoleArn"] == role


def test_the_rendered_role_trusts_aws_backup_with_its_managed_policies():
    out = desired(render_local(xr("XScheduledBackup"), required=REQUIRED))
    role = out["backup-role"]
    trust = json.loads(role["spec"]["forProvider"]["assumeRolePolicy"])
    (stmt,) = trust["Statement"]
    assert stmt == {
        "Effect": "Allow",
        "Principal": {"Service": "backup.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    policies = {out[k]["spec"]["forProvider"]["policyArn"] for k in ROLE_KEYS - {"backup-role"}}
    assert {p.rsplit("/", 1)[1] for p in policies} == {
        "AWSBackupServiceRolePolicyForBackup",
        "AWSBackupServiceRolePolicyForRestores",
    }
    assert all(p.startswith("arn:aws:iam::aws:policy/service-role/") for p in policies)
    for k in ROLE_KEYS:
        assert schemas.errors(out[k]) == [], k
    name = role["metadata"]["annotations"]["crossplane.io/external-name"]
    assert len(name) <= 64 and name.startswith("klutch-backup-")


def test_changing_the_role_replaces_the_selection_never_updates_it():
    """AWS Backup cannot change a selection's role (ForceNew): another role, another
    Selection (composed-resource name and AWS name), so Crossplane creates the new one and
    deletes the old; plan and vault stay."""
    roles = [None, "arn:aws:iam::000000000000:role/a", "arn:aws:iam::000000000000:role/b"]
    seen = []
    for role in roles:
        backup = {"serviceRoleArn": role} if role else {}
        e = env.with_data(backup=backup)
        out = desired(render_local(xr("XScheduledBackup"), required=REQUIRED, environment=[e]))
        key, sel = _selection(out)
        seen.append((key, sel["name"], out["plan"], out["vault"]))
        again = desired(render_local(xr("XScheduledBackup"), required=REQUIRED, environment=[e]))
        assert _selection(again)[0] == key  # stable for one role
    assert len({k for k, _, _, _ in seen}) == 3
    assert len({n for _, n, _, _ in seen}) == 3
    assert all(p == seen[0][2] and v == seen[0][3] for _, _, p, v in seen)


def test_the_environments_limits_bound_schedule_and_retention():
    limits = {"scheduledBackupMaxRetentionDays": 30, "allowedSchedules": ["daily"]}
    e = [env.with_data(limits=limits)]
    (msg,) = fatal_messages(
        render_local(xr("XScheduledBackup", retentionDays=31), required=REQUIRED, environment=e)
    )
    assert msg.startswith("spec.retentionDays:") and "30" in msg
    (msg,) = fatal_messages(
        render_local(xr("XScheduledBackup", schedule="hourly"), required=REQUIRED, environment=e)
    )
    assert msg.startswith("spec.schedule:") and "'daily'" in msg
    ok = render_local(xr("XScheduledBackup", retentionDays=30), required=REQUIRED, environment=e)
    assert not fatal_messages(ok)


@pytest.mark.parametrize(("schedule", "cron"), SCHEDULES.items())
def test_named_schedules(schedule, cron):
    rsp = render_local(xr("XScheduledBackup", schedule=schedule), required=REQUIRED)
    assert desired(rsp)["plan"]["spec"]["forProvider"]["rule"][0]["schedule"] == cron
    assert cron_error(cron) is None


def test_point_in_time_recovery_turns_on_continuous_backup():
    spec = {"pointInTimeRecovery": True, "retentionDays": 35}
    rsp = render_local(xr("XScheduledBackup", **spec), required=REQUIRED)
    rule = desired(rsp)["plan"]["spec"]["forProvider"]["rule"][0]
    assert rule["enableContinuousBackup"] is True
    assert rule["lifecycle"]["deleteAfter"] == 35


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        ({"retentionDays": 0}, "spec.retentionDays", "greater than or equal to 1"),
        ({"pointInTimeRecovery": True, "retentionDays": 36}, "spec", "at most 35"),
        ({"schedule": "weekly"}, "spec.schedule", "'hourly', 'daily' or an AWS cron"),
        ({"schedule": "cron(0 5 * * *)"}, "spec.schedule", "six fields"),
        ({"schedule": "cron(0 5 * * * *)"}, "spec.schedule", "exactly one of day-of-month"),
        ({"schedule": "cron(0 24 ? * * *)"}, "spec.schedule", "invalid hours field"),
        ({"schedule": "cron(*/15 * ? * * *)"}, "spec.schedule", "at most hourly"),
        ({"schedule": "cron(0 5 ? FOO * *)"}, "spec.schedule", "invalid month field"),
        # Issue 27 item 13: what AWS Backup only refuses when the plan is created.
        ({"schedule": "cron(0 \u0665 ? * * *)"}, "spec.schedule", "ASCII digits"),  # Arabic 5
        ({"schedule": "cron(\u0661\u0665 5 ? * * *)"}, "spec.schedule", "ASCII digits"),
        ({"schedule": "cron(0 5 ? * * \u0662\u0660\u0662\u0665)"}, "spec.schedule", "ASCII"),
        ({"schedule": "cron(0\u20035 ? * * *)"}, "spec.schedule", "six fields"),  # em space
        ({"retentionDays": "7"}, "spec.retentionDays", "valid integer"),
        ({"retentionDays": 7.5}, "spec.retentionDays", "valid integer"),
        ({"pointInTimeRecovery": "yes"}, "spec.pointInTimeRecovery", "valid boolean"),
        ({"pointInTimeRecovery": 1}, "spec.pointInTimeRecovery", "valid boolean"),
        ({"instanceRef": "Bad_Name"}, "spec.instanceRef", "pattern"),
        ({"instanceRef": {"name": "pg-db"}}, "spec.instanceRef", "valid string"),
        ({"instanceRef": {}}, "spec.instanceRef", "valid string"),
    ],
)
def test_scheduled_backup_bad_input_is_fatal_and_named(spec, field, says):
    rsp = render_local(xr("XScheduledBackup", **spec), required=REQUIRED)
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(f"{field}:") and says in msg, msg
    assert desired(rsp) == {}


@pytest.mark.parametrize(
    "cron",
    [
        "cron(0 5 ? * * *)",
        "cron(30 22 ? * MON-FRI *)",
        "cron(0 */2 ? * * *)",
        "cron(15 10 L * ? *)",
        "cron(0 8 1,15 JAN-MAR ? *)",
        "cron(0 12 ? * 6L 2025-2030)",
        "cron(0 12 ? * MON#2 *)",
        "cron(0 0 15W * ? *)",
    ],
)
def test_valid_aws_cron_expressions(cron):
    assert cron_error(cron) is None
    rsp = render_local(xr("XScheduledBackup", schedule=cron), required=REQUIRED)
    assert not fatal_messages(rsp)


def test_integers_arrive_as_whole_floats_and_are_taken():
    """A protobuf Struct carries every number as a double (function/convert.py): 7 arrives as
    7.0, and strict validation still takes it as the integer it is."""
    rsp = render_local(xr("XScheduledBackup", retentionDays=14.0), required=REQUIRED)
    assert not fatal_messages(rsp)
    (plan,) = [b for b in desired(rsp).values() if b["kind"] == "Plan"]
    assert plan["spec"]["forProvider"]["rule"][0]["lifecycle"]["deleteAfter"] == 14


def observed_backup_set() -> list[dict]:
    docs = []
    for key, kind, version in (
        ("vault", "Vault", "v1beta1"),
        ("plan", "Plan", "v1beta2"),
        ("selection", "Selection", "v1beta1"),
    ):
        docs.append(
            {
                "apiVersion": f"backup.aws.upbound.io/{version}",
                "kind": kind,
                "metadata": {
                    "name": f"nightly-{key}",
                    "annotations": {"crossplane.io/composition-resource-name": key},
                },
                "spec": {"forProvider": {"region": "eu-central-1"}},
            }
        )
    return docs


@pytest.mark.parametrize("found", [[], [not_ready(INSTANCE)]])
def test_scheduled_backup_keeps_what_exists_while_the_instance_is_gone(found):
    rsp = render_local(
        xr("XScheduledBackup"),
        observed=observed_backup_set(),
        required={"postgresql-instance": found},
    )
    assert set(desired(rsp)) == {"vault", "plan", "selection"}
    assert warnings(rsp) and warnings(rsp)[0].startswith("waiting for PostgresqlInstance pg-db")


def test_rendering_is_deterministic():
    one = render_local(xr("XScheduledBackup"), required=REQUIRED).SerializeToString(
        deterministic=True
    )
    two = render_local(xr("XScheduledBackup"), required=REQUIRED).SerializeToString(
        deterministic=True
    )
    assert one == two


# ------------------------------------------------------------------ the manual-backup limit


def _other_backup(name: str, instance: str = "pg-db") -> dict:
    other = xr("XBackup")
    other["metadata"] = {**other["metadata"], "name": name, "uid": f"uid-{name}"}
    other["spec"]["instanceRef"] = instance
    return other


def _with_limit(limit: int) -> list[dict]:
    data = env.example_data()
    data["limits"] = {**data.get("limits", {}), "maxManualBackupsPerInstance": limit}
    return [env.config(data)]


def test_a_new_backup_beyond_the_limit_is_refused_naming_the_field_and_the_limit():
    others = [_other_backup("a-1"), _other_backup("b-2"), _other_backup("c-3", instance="other")]
    required = {**REQUIRED, backup.BACKUPS_REQUIREMENT: [*others, xr("XBackup")]}
    rsp = render_local(xr("XBackup"), required=required, environment=_with_limit(2))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(
        "spec.instanceRef: PostgresqlInstance pg-db already has 2 manual snapshots (at most 2:"
    ), msg
    assert "limits.maxManualBackupsPerInstance" in msg
    assert "namespace default keeps 3 (at most 50: limits.maxManualBackupsPerNamespace)" in msg
    assert desired(rsp) == {}
    # below the limit (the other instance's Backup and this one not counted), it renders
    ok = render_local(xr("XBackup"), required=required, environment=_with_limit(3))
    assert not fatal_messages(ok) and "snapshot" in desired(ok)


def test_a_backup_whose_snapshot_exists_is_never_refused_by_the_limit():
    required = {**REQUIRED, backup.BACKUPS_REQUIREMENT: [_other_backup("a-1")]}
    rsp = render_local(
        xr("XBackup"), observed=observed_snapshot(), required=required, environment=_with_limit(1)
    )
    assert not fatal_messages(rsp)
    assert "snapshot" in desired(rsp)


def test_a_backup_waits_for_the_namespace_backups_before_taking_a_snapshot():
    req = xrender.build_request(xr("XBackup"), {}, required={"postgresql-instance": [INSTANCE]})
    rsp = local_call(req)
    assert desired(rsp) == {} and not fatal_messages(rsp)
    sel = rsp.requirements.resources[backup.BACKUPS_REQUIREMENT]
    assert dict(sel.match_labels.labels) == {"crossplane.io/claim-namespace": "default"}


# Issue 27 item 6: what the namespace keeps, not only its live claims.


def _record(backup_name: str, identifier: str = IDENT) -> dict:
    """The record a deleted Retain Backup left (snapshot_records.record), as Crossplane lists it."""
    return snapshot_records.record(
        f"klutch-backup-{backup_name}",
        "crossplane-system",
        claim_namespace="default",
        backup=backup_name,
        identifier=identifier,
        snapshot=f"snap-{backup_name}",
        owner={"apiVersion": "v1", "kind": "Namespace", "name": "default", "uid": "u"},
    )


def _limits(**limits: int) -> list[dict]:
    data = env.example_data()
    data["limits"] = {**data.get("limits", {}), **limits}
    return [env.config(data)]


def test_retained_snapshots_of_deleted_backups_count_toward_the_instance_limit():
    """Create-delete rounds of Retain Backups left snapshots the live claims no longer show."""
    required = {
        **REQUIRED,
        snapshot_records.RECORDS_REQUIREMENT: [_record("gone-1"), _record("gone-2")],
    }
    rsp = render_local(
        xr("XBackup"), required=required, environment=_limits(maxManualBackupsPerInstance=2)
    )
    (msg,) = fatal_messages(rsp)
    assert "pg-db already has 2 manual snapshots (at most 2" in msg, msg
    assert desired(rsp) == {}
    # a live Backup and its own record count once; a record of another DB not per instance
    required[snapshot_records.RECORDS_REQUIREMENT] = [_record("a-1"), _record("x", "other-db")]
    required[backup.BACKUPS_REQUIREMENT] = [_other_backup("a-1")]
    ok = render_local(
        xr("XBackup"), required=required, environment=_limits(maxManualBackupsPerInstance=2)
    )
    assert not fatal_messages(ok) and "snapshot" in desired(ok)


def test_the_namespace_limit_counts_every_instance_and_names_both_numbers():
    records = [_record(f"gone-{i}", f"db-{i}") for i in range(3)]
    required = {
        **REQUIRED,
        backup.BACKUPS_REQUIREMENT: [_other_backup("live", instance="other")],
        snapshot_records.RECORDS_REQUIREMENT: records,
    }
    rsp = render_local(
        xr("XBackup"), required=required, environment=_limits(maxManualBackupsPerNamespace=4)
    )
    (msg,) = fatal_messages(rsp)
    assert "pg-db already has 0 manual snapshots (at most 20" in msg, msg
    assert "namespace default keeps 4 (at most 4: limits.maxManualBackupsPerNamespace)" in msg
    ok = render_local(
        xr("XBackup"), required=required, environment=_limits(maxManualBackupsPerNamespace=5)
    )
    assert not fatal_messages(ok)


@pytest.mark.parametrize(("policy", "kept"), [("Retain", True), ("Delete", False)])
def test_the_record_outlives_the_claim_exactly_as_the_snapshot_does(policy, kept):
    rsp = render_local(xr("XBackup", config={"deletionPolicy": policy}), required=REQUIRED)
    rec = desired(rsp)[snapshot_records.KEY]
    assert (rec["apiVersion"], rec["kind"]) == ("v1", "Secret") and "data" not in rec
    assert rec["metadata"]["namespace"] == "crossplane-system"
    assert rec["metadata"]["labels"] == {
        "klutch.anynines.com/secret": snapshot_records.PURPOSE,
        snapshot_records.NAMESPACE_LABEL: "default",
        snapshot_records.BACKUP_LABEL: "nightly-abcde",
        "klutch.anynines.com/db-identifier": IDENT,
    }
    owners = rec["metadata"].get("ownerReferences")
    if kept:
        assert owners == [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "name": "default",
                "uid": NAMESPACE["metadata"]["uid"],
            }
        ]
    else:
        assert owners is None
    sel = rsp.requirements.resources[snapshot_records.RECORDS_REQUIREMENT]
    assert (sel.kind, sel.namespace) == ("Secret", "crossplane-system")
    assert dict(sel.match_labels.labels) == {
        "klutch.anynines.com/secret": snapshot_records.PURPOSE,
        snapshot_records.NAMESPACE_LABEL: "default",
    }


def test_a_retained_backup_waits_for_its_namespace_and_keeps_what_it_has():
    # Crossplane found no Namespace under the requirement (render_local's runner would find
    # the examples' Namespace default for a requirement the test leaves out).
    required = {**REQUIRED, snapshot_records.NAMESPACE_REQUIREMENT: []}
    rsp = render_local(xr("XBackup"), required=required)
    assert desired(rsp) == {} and not fatal_messages(rsp)
    assert "waiting for the Namespace default" in warnings(rsp)
    kept = render_local(xr("XBackup"), observed=observed_snapshot(), required=required)
    assert set(desired(kept)) == {"snapshot"}
