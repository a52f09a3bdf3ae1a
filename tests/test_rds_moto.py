"""AWS semantics: the rendered rds Instance and ParameterGroup make valid RDS API calls (moto)."""

from __future__ import annotations

import copy

import boto3
import pytest
from moto import mock_aws

from tests.support.responses import desired, render_primary_ready

XR = {
    "apiVersion": "rds.aws.anynines.com/v1",
    "kind": "XPostgresqlInstance",
    "metadata": {
        "name": "orders-x1",
        "uid": "5b7c1f0e-1111-4a47-9c7a-2d1f2e3a4b5c",
        "labels": {
            "crossplane.io/claim-name": "orders",
            "crossplane.io/claim-namespace": "team-a",
        },
    },
    "spec": {
        "serviceVersion": "16",
        "plan": "cluster-large",
        "config": {
            "region": "eu-central-1",
            "database": {"name": "orders"},
            "backup": {"retentionDays": 14, "window": "02:00-02:30"},
            "maintenanceWindow": "sun:04:00-sun:05:00",
            "tags": {"team": "a"},
        },
    },
}

# Rendered forProvider/initProvider field -> create_db_instance parameter. Every rendered field
# must be listed here or in NOT_CREATE_PARAMETERS, so a new field cannot slip past this test.
CREATE_PARAMETERS = {
    "identifier": "DBInstanceIdentifier",
    "engine": "Engine",
    "engineVersion": "EngineVersion",
    "autoMinorVersionUpgrade": "AutoMinorVersionUpgrade",
    "instanceClass": "DBInstanceClass",
    "allocatedStorage": "AllocatedStorage",
    "maxAllocatedStorage": "MaxAllocatedStorage",
    "storageType": "StorageType",
    "multiAz": "MultiAZ",
    "port": "Port",
    "storageEncrypted": "StorageEncrypted",
    "publiclyAccessible": "PubliclyAccessible",
    "dbSubnetGroupName": "DBSubnetGroupName",
    "parameterGroupName": "DBParameterGroupName",
    "backupRetentionPeriod": "BackupRetentionPeriod",
    "backupWindow": "PreferredBackupWindow",
    "maintenanceWindow": "PreferredMaintenanceWindow",
    "copyTagsToSnapshot": "CopyTagsToSnapshot",
    "vpcSecurityGroupIds": "VpcSecurityGroupIds",
    "kmsKeyId": "KmsKeyId",
    "dbName": "DBName",
    "username": "MasterUsername",
    "tags": "Tags",
}
# Used elsewhere: the client's region, the generated password, and delete_db_instance.
NOT_CREATE_PARAMETERS = {
    "region",
    "autoGeneratePassword",
    "passwordSecretRef",
    "kmsKeyIdSelector",
    "parameterGroupNameSelector",
    "skipFinalSnapshot",
    "finalSnapshotIdentifier",
    "deleteAutomatedBackups",
}


def _int_floats(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


# provider-upjet-aws v2.6.0 apis/cluster/rds/v1beta3/zz_generated.resolvers.go: the selector fills
# ``parameterGroupName`` with the selected ParameterGroup's external name
# (``reference.ExternalName()``).
def group_name(out: dict) -> str:
    return out["parameter-group"]["metadata"]["annotations"]["crossplane.io/external-name"]


def create_call(instance: dict, kms_arn: str | None = None, parameter_group: str = "") -> dict:
    fields = {**instance["spec"].get("initProvider", {}), **instance["spec"]["forProvider"]}
    unknown = set(fields) - set(CREATE_PARAMETERS) - NOT_CREATE_PARAMETERS
    assert not unknown, f"map these rendered fields to RDS parameters: {unknown}"
    call = {
        CREATE_PARAMETERS[k]: _int_floats(v) for k, v in fields.items() if k in CREATE_PARAMETERS
    }
    call["Tags"] = [{"Key": k, "Value": v} for k, v in fields["tags"].items()]
    call["MasterUserPassword"] = "generated-by-the-provider-1"
    if "kmsKeyIdSelector" in fields:
        call["KmsKeyId"] = kms_arn
    if "parameterGroupNameSelector" in fields:
        call["DBParameterGroupName"] = parameter_group
    return call


def _network(region: str, subnet_group: str) -> list[str]:
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    rds = boto3.client("rds", region_name=region)
    rds.create_db_subnet_group(
        DBSubnetGroupName=subnet_group, DBSubnetGroupDescription="klutch", SubnetIds=subnets
    )
    sg = ec2.create_security_group(GroupName="pg", Description="pg", VpcId=vpc)["GroupId"]
    return [sg]


def _provision(xr: dict, kms: bool = False) -> tuple[dict, dict, object]:
    out = desired(render_primary_ready(xr))
    instance, group = out["instance"], out["parameter-group"]
    fp = instance["spec"]["forProvider"]
    region = fp["region"]
    sgs = _network(region, fp["dbSubnetGroupName"])
    rds = boto3.client("rds", region_name=region)
    gp = group["spec"]["forProvider"]
    name = group["metadata"]["annotations"]["crossplane.io/external-name"]
    rds.create_db_parameter_group(
        DBParameterGroupName=name,
        DBParameterGroupFamily=gp["family"],
        Description=gp["description"],
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName=name,
        Parameters=[
            {
                "ParameterName": p["name"],
                "ParameterValue": p["value"],
                "ApplyMethod": p["applyMethod"],
            }
            for p in gp["parameter"]
        ],
    )
    kms_arn = None
    if kms:
        kms_arn = boto3.client("kms", region_name=region).create_key()["KeyMetadata"]["Arn"]
    call = create_call(instance, kms_arn, name)
    call["VpcSecurityGroupIds"] = sgs  # the operator's groups exist in the real account
    created = rds.create_db_instance(**call)["DBInstance"]
    return out, created, rds


@mock_aws
def test_rendered_instance_is_a_valid_create_db_instance_call():
    out, created, rds = _provision(XR)
    fp = out["instance"]["spec"]["forProvider"]
    assert created["DBInstanceIdentifier"] == fp["identifier"]
    assert created["Engine"] == "postgres"
    assert created["MultiAZ"] is True
    assert created["StorageEncrypted"] is True
    assert created["PubliclyAccessible"] is False
    assert created["BackupRetentionPeriod"] == 14
    assert created["PreferredBackupWindow"] == "02:00-02:30"
    assert created["DBName"] == "orders"
    assert created["MasterUsername"] == "klutch_admin"
    assert created["DBParameterGroups"][0]["DBParameterGroupName"] == group_name(out)
    params = rds.describe_db_parameters(DBParameterGroupName=group_name(out))
    force = [p for p in params["Parameters"] if p["ParameterName"] == "rds.force_ssl"]
    assert force and force[0]["ParameterValue"] == "1"


@mock_aws
def test_default_deletion_takes_the_rendered_final_snapshot():
    out, _created, rds = _provision(XR)
    fp = out["instance"]["spec"]["forProvider"]
    rds.delete_db_instance(
        DBInstanceIdentifier=fp["identifier"],
        SkipFinalSnapshot=fp["skipFinalSnapshot"],
        FinalDBSnapshotIdentifier=fp["finalSnapshotIdentifier"],
        DeleteAutomatedBackups=fp["deleteAutomatedBackups"],
    )
    snap = rds.describe_db_snapshots(DBSnapshotIdentifier=fp["finalSnapshotIdentifier"])
    assert snap["DBSnapshots"][0]["DBInstanceIdentifier"] == fp["identifier"]


@pytest.mark.parametrize("key", ["managed", "existing"])
@mock_aws
def test_kms_encrypted_instance_is_valid(key):
    xr = copy.deepcopy(XR)
    arn = "arn:aws:kms:eu-central-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ref = {"managed": {}} if key == "managed" else {"existing": {"id": arn}}
    xr["spec"]["config"]["encryption"] = {"key": ref}
    _out, created, _rds = _provision(xr, kms=True)
    assert created["StorageEncrypted"] is True
    assert created.get("KmsKeyId")


# Rendered read-replica forProvider field -> create_db_instance_read_replica parameter. As for
# the primary, every rendered field is listed here or in REPLICA_NOT_CREATE_PARAMETERS.
REPLICA_CREATE_PARAMETERS = {
    "identifier": "DBInstanceIdentifier",
    "instanceClass": "DBInstanceClass",
    "storageType": "StorageType",
    "maxAllocatedStorage": "MaxAllocatedStorage",
    "autoMinorVersionUpgrade": "AutoMinorVersionUpgrade",
    "multiAz": "MultiAZ",
    "port": "Port",
    "publiclyAccessible": "PubliclyAccessible",
    "parameterGroupName": "DBParameterGroupName",
    "copyTagsToSnapshot": "CopyTagsToSnapshot",
    "vpcSecurityGroupIds": "VpcSecurityGroupIds",
    "kmsKeyId": "KmsKeyId",
    "tags": "Tags",
}
# Set after creation with modify_db_instance (as Terraform's aws provider does for replicas).
REPLICA_MODIFY_PARAMETERS = {
    "backupRetentionPeriod": "BackupRetentionPeriod",
    "maintenanceWindow": "PreferredMaintenanceWindow",
}
# The client's region, the source (resolved from the selector), and delete_db_instance.
REPLICA_NOT_CREATE_PARAMETERS = {
    "region",
    "replicateSourceDbSelector",
    "parameterGroupNameSelector",
    "skipFinalSnapshot",
    "deleteAutomatedBackups",
}


def replica_calls(replica: dict, source: str, parameter_group: str) -> tuple[dict, dict]:
    fields = replica["spec"]["forProvider"]
    known = set(REPLICA_CREATE_PARAMETERS) | set(REPLICA_MODIFY_PARAMETERS)
    unknown = set(fields) - known - REPLICA_NOT_CREATE_PARAMETERS
    assert not unknown, f"map these rendered replica fields to RDS parameters: {unknown}"
    assert fields["replicateSourceDbSelector"]["matchControllerRef"] is True
    create = {
        REPLICA_CREATE_PARAMETERS[k]: _int_floats(v)
        for k, v in fields.items()
        if k in REPLICA_CREATE_PARAMETERS
    }
    create["Tags"] = [{"Key": k, "Value": v} for k, v in fields["tags"].items()]
    create["SourceDBInstanceIdentifier"] = source  # the XR's Instance labelled primary
    create["DBParameterGroupName"] = parameter_group  # the XR's one ParameterGroup
    modify = {
        REPLICA_MODIFY_PARAMETERS[k]: _int_floats(v)
        for k, v in fields.items()
        if k in REPLICA_MODIFY_PARAMETERS
    }
    return create, modify


@mock_aws
def test_rendered_replicas_are_valid_create_db_instance_read_replica_calls():
    xr = copy.deepcopy(XR)
    xr["spec"]["config"]["compute"] = {"replicas": {"count": 2}}
    out, primary, rds = _provision(xr)
    source = primary["DBInstanceIdentifier"]
    labels = out["instance"]["metadata"]["labels"]
    for i in (1, 2):
        replica = out[f"replica-{i}"]
        selector = replica["spec"]["forProvider"]["replicateSourceDbSelector"]
        assert selector["matchLabels"].items() <= labels.items()  # selects the primary
        create, modify = replica_calls(replica, source, group_name(out))
        if "VpcSecurityGroupIds" in create:  # the operator's groups exist in the real account
            create["VpcSecurityGroupIds"] = [
                g["VpcSecurityGroupId"] for g in primary["VpcSecurityGroups"]
            ]
        got = rds.create_db_instance_read_replica(**create)["DBInstance"]
        rds.modify_db_instance(
            DBInstanceIdentifier=create["DBInstanceIdentifier"], ApplyImmediately=True, **modify
        )
        assert got["DBInstanceIdentifier"] == create["DBInstanceIdentifier"]
        assert got["ReadReplicaSourceDBInstanceIdentifier"] == source
        (db,) = rds.describe_db_instances(DBInstanceIdentifier=create["DBInstanceIdentifier"])[
            "DBInstances"
        ]
        assert db["DBInstanceClass"] == primary["DBInstanceClass"]
        assert db["BackupRetentionPeriod"] == 0
        assert db["PreferredMaintenanceWindow"] == "sun:04:00-sun:05:00"
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=source)["DBInstances"]
    assert sorted(db["ReadReplicaDBInstanceIdentifiers"]) == sorted(
        out[f"replica-{i}"]["spec"]["forProvider"]["identifier"] for i in (1, 2)
    )
    # Deleting the claim deletes a replica without a snapshot (it holds no data of its own).
    fp = out["replica-1"]["spec"]["forProvider"]
    rds.delete_db_instance(
        DBInstanceIdentifier=fp["identifier"],
        SkipFinalSnapshot=fp["skipFinalSnapshot"],
        DeleteAutomatedBackups=fp["deleteAutomatedBackups"],
    )
