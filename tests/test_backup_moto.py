"""AWS semantics with moto: what we render drives the RDS and AWS Backup APIs to success.

Each test maps the rendered managed resource to the API call the provider makes for it
(the field mapping is written out here, as Terraform's aws provider does it), then calls
moto. moto does not implement ``create_backup_selection``; the Selection's fields are
checked against the plan and the instance moto created instead.
"""

from __future__ import annotations

import copy
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from function import backup, restore
from function.core import Rendered, Request
from function.settings import Settings
from tests.support.responses import desired, render_created

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = yaml.safe_load((ROOT / "examples/backup/required.yaml").read_text())
SOURCE = INSTANCE["status"]["identifier"]
DATABASE = INSTANCE["status"]["databaseName"]  # a restore keeps the source's database
REGION = "eu-central-1"


def xr(kind: str, **spec) -> dict:
    return {
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": kind,
        "metadata": {
            "name": "b-1",
            "uid": "8c1f2e3a-0000-4a47-9c7a-2d1f2e3a4b5c",
            "creationTimestamp": "2025-06-10T12:00:00Z",
            "labels": {
                "crossplane.io/claim-name": "b",
                "crossplane.io/claim-namespace": "default",
            },
        },
        "spec": {"instanceRef": "pg-db", **spec},
    }


@pytest.fixture
def aws():
    with mock_aws():
        rds = boto3.client("rds", region_name=REGION)
        rds.create_db_instance(
            DBInstanceIdentifier=SOURCE,
            DBInstanceClass="db.t4g.micro",
            Engine="postgres",
            MasterUsername="klutch",
            MasterUserPassword="not-a-real-password-1",
            AllocatedStorage=20,
            BackupRetentionPeriod=7,
        )
        yield rds, boto3.client("backup", region_name=REGION)


def rendered(kind: str, **spec) -> dict[str, dict]:
    return desired(
        render_created(
            xr(kind, **spec),
            required={"postgresql-instance": [INSTANCE], backup.BACKUPS_REQUIREMENT: []},
        )
    )


def whole(number: float) -> int:
    assert float(number).is_integer(), number
    return int(number)


def external_name(body: dict) -> str:
    return body["metadata"]["annotations"]["crossplane.io/external-name"]


def test_backup_snapshot_drives_create_db_snapshot(aws):
    rds, _ = aws
    snap = rendered("XBackup")["snapshot"]
    fp = snap["spec"]["forProvider"]
    assert fp["region"] == REGION
    got = rds.create_db_snapshot(
        DBSnapshotIdentifier=external_name(snap),  # the external name is the identifier
        DBInstanceIdentifier=fp["dbInstanceIdentifier"],
        Tags=[{"Key": k, "Value": v} for k, v in fp["tags"].items()],
    )["DBSnapshot"]
    assert got["Status"] == "available"
    assert got["DBInstanceIdentifier"] == SOURCE


def instance_with(raw: dict, required: dict | None = None) -> dict:
    """A rendered rds Instance (as function/postgresql.py would) with the restore applied."""
    body = {
        "apiVersion": "rds.aws.upbound.io/v1beta3",
        "kind": "Instance",
        "spec": {
            "forProvider": {
                "region": REGION,
                "engine": "postgres",
                "instanceClass": "db.t4g.micro",
                "dbName": DATABASE,
                "username": "klutch",
            }
        },
    }
    target = xr("XPostgresqlInstance")
    req = Request(xr=target, settings=Settings(), required=required or {})
    out = Rendered()
    resolved = restore.resolve(
        req,
        out,
        raw,
        region=REGION,
        database=DATABASE,
        service_version="16",
        key_requested=False,
        instance_key="instance",
    )
    assert resolved is not None, [r.message for r in out.results]
    return restore.apply(copy.deepcopy(body), resolved)


def restore_call(rds, body: dict, identifier: str) -> dict:
    """The call the provider makes to create an Instance with a restore in initProvider."""
    spec = body["spec"]
    fields = {**spec["forProvider"], **spec.get("initProvider", {})}  # merged at creation
    if "snapshotIdentifier" in fields:
        return rds.restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier=identifier,
            DBSnapshotIdentifier=fields["snapshotIdentifier"],
            DBInstanceClass=fields["instanceClass"],
        )["DBInstance"]
    pit = fields["restoreToPointInTime"]
    kw: dict = {
        "SourceDBInstanceIdentifier": pit["sourceDbInstanceIdentifier"],
        "TargetDBInstanceIdentifier": identifier,
        "DBInstanceClass": fields["instanceClass"],
    }
    if pit.get("useLatestRestorableTime"):
        kw["UseLatestRestorableTime"] = True
    else:
        kw["RestoreTime"] = pit["restoreTime"]
    return rds.restore_db_instance_to_point_in_time(**kw)["DBInstance"]


def test_restore_from_a_backup_claim_drives_restore_db_instance_from_db_snapshot(aws):
    rds, _ = aws
    snap = rendered("XBackup")["snapshot"]
    snapshot_id = external_name(snap)
    rds.create_db_snapshot(DBSnapshotIdentifier=snapshot_id, DBInstanceIdentifier=SOURCE)
    backup_xr = {
        **xr("XBackup"),
        "metadata": {
            "name": "b-1",
            "labels": {
                "crossplane.io/claim-name": "before-migration",
                "crossplane.io/claim-namespace": "default",
            },
        },
        "status": {
            "snapshotIdentifier": snapshot_id,
            "region": REGION,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    body = instance_with(
        {"backup": {"name": "before-migration"}}, {restore.BACKUP_REQUIREMENT: [backup_xr]}
    )
    assert "dbName" not in body["spec"]["forProvider"]  # taken from the snapshot
    got = restore_call(rds, body, "restored-1")
    assert got["DBInstanceIdentifier"] == "restored-1"


def test_restore_from_a_snapshot_arn(aws, monkeypatch):
    # A raw source is rendered as given only when the operator lets AWS IAM decide
    # (per-namespace ProviderConfigs: restore.raw_sources_allowed).
    monkeypatch.setattr(restore, "raw_sources_allowed", lambda _req: True)
    rds, _ = aws
    arn = rds.create_db_snapshot(DBSnapshotIdentifier="manual-1", DBInstanceIdentifier=SOURCE)[
        "DBSnapshot"
    ]["DBSnapshotArn"]
    got = restore_call(rds, instance_with({"backup": {"arn": arn}}), "restored-2")
    assert got["DBInstanceIdentifier"] == "restored-2"


def test_a_missing_snapshot_fails_in_aws_too(aws, monkeypatch):
    # A raw source is rendered as given only when the operator lets AWS IAM decide
    # (per-namespace ProviderConfigs: restore.raw_sources_allowed).
    monkeypatch.setattr(restore, "raw_sources_allowed", lambda _req: True)
    # The mapping is meaningful: moto checks the snapshot exists.
    rds, _ = aws
    with pytest.raises(rds.exceptions.DBSnapshotNotFoundFault):
        restore_call(rds, instance_with({"backup": {"arn": "no-such-snapshot"}}), "restored-x")


@pytest.mark.parametrize(
    "point",
    [{"latest": True}, {"time": "2025-06-10T10:30:00+02:00"}],
    ids=["latest", "timestamp"],
)
def test_point_in_time_drives_restore_db_instance_to_point_in_time(aws, point):
    rds, _ = aws
    raw = {"pointInTime": {"sourceInstanceRef": "pg-db", **point}}
    body = instance_with(raw, {restore.SOURCE_REQUIREMENT: [INSTANCE]})
    pit = body["spec"]["initProvider"]["restoreToPointInTime"]
    if "time" in point:
        assert pit["restoreTime"] == "2025-06-10T08:30:00Z"
    got = restore_call(rds, body, "restored-pit")
    assert got["DBInstanceIdentifier"] == "restored-pit"


def test_point_in_time_from_an_identifier(aws, monkeypatch):
    # A raw source is rendered as given only when the operator lets AWS IAM decide
    # (per-namespace ProviderConfigs: restore.raw_sources_allowed).
    monkeypatch.setattr(restore, "raw_sources_allowed", lambda _req: True)
    rds, _ = aws
    raw = {"pointInTime": {"sourceIdentifier": SOURCE, "latest": True}}
    got = restore_call(rds, instance_with(raw), "restored-id")
    assert got["DBInstanceIdentifier"] == "restored-id"


@pytest.mark.parametrize("spec", [{"schedule": "daily"}, {"pointInTimeRecovery": True}])
def test_scheduled_backup_drives_vault_and_plan(aws, spec):
    rds, backup = aws
    out = rendered("XScheduledBackup", retentionDays=14, **spec)
    vault = out["vault"]
    vfp = vault["spec"]["forProvider"]
    vault_arn = backup.create_backup_vault(
        BackupVaultName=external_name(vault), BackupVaultTags=vfp["tags"]
    )["BackupVaultArn"]
    assert vault_arn.endswith(f":backup-vault:{external_name(vault)}")

    pfp = out["plan"]["spec"]["forProvider"]
    rules = []
    for rule in pfp["rule"]:
        # The vault this XR composed, by name (no selector inside the atomic rule list).
        assert rule["targetVaultName"] == external_name(vault)
        rules.append(
            {
                "RuleName": rule["ruleName"],
                "TargetBackupVaultName": rule["targetVaultName"],
                "ScheduleExpression": rule["schedule"],
                # protobuf Structs carry numbers as doubles; the provider reads integers
                "StartWindowMinutes": whole(rule["startWindow"]),
                "Lifecycle": {"DeleteAfterDays": whole(rule["lifecycle"]["deleteAfter"])},
                "EnableContinuousBackup": rule["enableContinuousBackup"],
                "RecoveryPointTags": rule["recoveryPointTags"],
            }
        )
    plan_id = backup.create_backup_plan(
        BackupPlan={"BackupPlanName": pfp["name"], "Rules": rules}, BackupPlanTags=pfp["tags"]
    )["BackupPlanId"]
    (got,) = backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]["Rules"]
    assert got["Lifecycle"]["DeleteAfterDays"] == 14
    assert got["EnableContinuousBackup"] is spec.get("pointInTimeRecovery", False)
    assert got["TargetBackupVaultName"] == external_name(vault)

    # create_backup_selection is not implemented in moto: check its inputs exist instead.
    (selection,) = [k for k in out if k.startswith("selection-")]
    sfp = out[selection]["spec"]["forProvider"]
    assert sfp["planIdSelector"] == {"matchControllerRef": True}
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=SOURCE)["DBInstances"]
    assert sfp["resources"] == [db["DBInstanceArn"]]
