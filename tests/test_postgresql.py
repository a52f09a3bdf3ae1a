"""PostgresqlInstance: what each claim field renders, bad input, names, immutables."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from function import names
from tests.support.responses import desired, fatal_messages, render_local, status, warnings

XR = {
    "apiVersion": "anynines.com/v1",
    "kind": "XPostgresqlInstance",
    "metadata": {
        "name": "pg-db-x7k2p",
        "uid": "0b0b5c1e-3f6e-4a47-9c7a-2d1f2e3a4b5c",
        "labels": {
            "crossplane.io/claim-name": "pg-db",
            "crossplane.io/claim-namespace": "team-a",
        },
    },
    "spec": {"service": "aws-rds-postgresql", "serviceVersion": "16", "plan": "small"},
}
KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def xr_with(**spec) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def fp(out: dict, name: str = "instance") -> dict:
    return out[name]["spec"]["forProvider"]


def test_default_instance_is_private_encrypted_and_backed_up():
    out = desired(render_local(XR))
    assert set(out) == {
        "instance",
        "parameter-group",
        "provider-config",
        "group-role",
        "group-database-grant",
        "group-schema-grant",
    }
    f = fp(out)
    assert f["engine"] == "postgres" and f["engineVersion"] == "16"
    assert f["autoMinorVersionUpgrade"] is True
    assert f["instanceClass"] == "db.t4g.micro" and f["multiAz"] is False
    assert f["storageEncrypted"] is True and "kmsKeyId" not in f
    assert f["publiclyAccessible"] is False
    assert f["backupRetentionPeriod"] == 7
    assert f["copyTagsToSnapshot"] is True
    assert f["autoGeneratePassword"] is True
    assert f["passwordSecretRef"]["namespace"] == "crossplane-system"
    assert f["passwordSecretRef"]["key"] == "password"
    assert out["instance"]["spec"]["initProvider"] == {"dbName": "app", "username": "klutch_admin"}
    assert (
        f["parameterGroupName"]
        == (out["parameter-group"]["metadata"]["annotations"]["crossplane.io/external-name"])
    )
    pg = fp(out, "parameter-group")
    assert pg["family"] == "postgres16"
    assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"} in pg["parameter"]


def test_provider_config_reads_the_bare_host_with_tls():
    out = desired(render_local(XR))
    pc = out["provider-config"]
    secret = out["instance"]["spec"]["writeConnectionSecretToRef"]
    creds = pc["spec"]["credentials"]
    assert creds["source"] == "PostgreSQLConnectionSecret"
    assert creds["connectionSecretRef"] == secret
    assert creds["secretKeyMapping"]["endpoint"] == "address"
    assert pc["spec"]["sslMode"] == "require"
    assert pc["spec"]["defaultDatabase"] == "app"
    assert pc["metadata"]["name"] == names.sql_provider_config_name(XR["metadata"]["uid"])
    for key in ("group-role", "group-database-grant", "group-schema-grant"):
        assert out[key]["spec"]["providerConfigRef"] == {"name": pc["metadata"]["name"]}


def test_group_role_may_create_in_public_schema_on_postgresql_15_and_newer():
    out = desired(render_local(xr_with(parameters={"databaseName": "orders"})))
    schema = fp(out, "group-schema-grant")
    assert schema == {
        "role": names.PG_GROUP_ROLE,
        "database": "orders",
        "schema": "public",
        "privileges": ["USAGE", "CREATE"],
    }
    assert "CONNECT" in fp(out, "group-database-grant")["privileges"]
    assert fp(out, "group-role")["privileges"]["login"] is False


@pytest.mark.parametrize(
    ("policy", "mr_policy", "skip", "delete_backups", "key_policy"),
    [
        ("SnapshotAndDelete", "Delete", False, False, "Orphan"),
        ("Delete", "Delete", True, True, "Delete"),
        ("Orphan", "Orphan", False, False, "Orphan"),
    ],
)
def test_deletion_policies(policy, mr_policy, skip, delete_backups, key_policy):
    params = {"deletionPolicy": policy, "encryption": {"type": "kms", "key": {"managed": {}}}}
    out = desired(render_local(xr_with(parameters=params)))
    f = fp(out)
    assert out["instance"]["spec"]["deletionPolicy"] == mr_policy
    assert f["skipFinalSnapshot"] is skip
    assert f["deleteAutomatedBackups"] is delete_backups
    assert ("finalSnapshotIdentifier" in f) is not skip
    if not skip:
        assert re.fullmatch(r"klutch-pg-db-final-[0-9a-f]{8}", f["finalSnapshotIdentifier"])
    # A key that encrypts a final snapshot or kept backups outlives the instance.
    assert out["kms-key"]["spec"]["deletionPolicy"] == key_policy


def test_managed_kms_key_is_selected():
    params = {"encryption": {"type": "kms", "key": {"managed": {"alias": "orders"}}}}
    out = desired(render_local(xr_with(parameters=params)))
    assert fp(out)["kmsKeyIdSelector"] == {"matchControllerRef": True}
    alias = out["kms-alias"]["metadata"]["annotations"]["crossplane.io/external-name"]
    assert alias == "alias/orders"
    assert fp(out, "kms-key")["enableKeyRotation"] is True


def test_existing_kms_key_is_used_as_is():
    params = {"encryption": {"type": "kms", "key": {"existing": {"id": KEY_ARN}}}}
    rsp = render_local(xr_with(parameters=params))
    out = desired(rsp)
    assert fp(out)["kmsKeyId"] == KEY_ARN and "kms-key" not in out
    assert status(rsp)["kmsKeyArn"] == KEY_ARN


def test_multi_az_plan_windows_and_tags():
    params = {
        "backup": {"retentionDays": 35, "window": "23:45-00:15"},
        "maintenanceWindow": "Sun:04:00-Sun:05:00",
        "tags": {"team": "a"},
    }
    out = desired(render_local(xr_with(plan="large-ha", region="eu-west-1", parameters=params)))
    f = fp(out)
    assert f["multiAz"] is True and f["instanceClass"] == "db.m7g.xlarge"
    assert f["backupRetentionPeriod"] == 35 and f["backupWindow"] == "23:45-00:15"
    assert f["maintenanceWindow"] == "sun:04:00-sun:05:00"
    assert f["tags"] == {"managed-by": "klutch", "team": "a"}
    regions = {b["spec"].get("forProvider", {}).get("region") for b in out.values()}
    assert regions - {None} == {"eu-west-1"}


def test_plans_come_from_the_operator_catalogue():
    plans = {
        "tiny": {"instanceClass": "db.t4g.small", "allocatedStorage": 20, "maxAllocatedStorage": 40}
    }
    out = desired(render_local(xr_with(plan="tiny"), {"postgresql": {"plans": plans}}))
    assert fp(out)["instanceClass"] == "db.t4g.small"


def test_status_from_the_observed_instance():
    observed = {
        "apiVersion": "rds.aws.upbound.io/v1beta3",
        "kind": "Instance",
        "metadata": {"annotations": {"crossplane.io/composition-resource-name": "instance"}},
        "status": {
            "atProvider": {
                "arn": "arn:aws:rds:eu-central-1:123456789012:db:x",
                "address": "x.abc.eu-central-1.rds.amazonaws.com",
                "port": 5432,
                "endpoint": "x.abc.eu-central-1.rds.amazonaws.com:5432",
                "engineVersion": "16",
                "engineVersionActual": "16.4",
                "latestRestorableTime": "2025-06-10T11:55:00Z",
            },
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        },
    }
    rsp = render_local(XR, observed=[observed])
    s = status(rsp)
    assert s["address"] == "x.abc.eu-central-1.rds.amazonaws.com"
    assert s["port"] == 5432 and s["endpoint"].endswith(":5432")
    assert s["engineVersion"] == "16.4"
    assert s["latestRestorableTime"] == "2025-06-10T11:55:00Z"
    assert s["arn"].startswith("arn:aws:rds:")
    assert s["identifier"] == names.rds_identifier("klutch", "pg-db", XR["metadata"]["uid"])
    assert "password" not in str(s).lower()


@pytest.mark.parametrize(
    ("spec", "field", "allowed"),
    [
        ({"plan": "gold"}, "spec.plan", "'large-ha'"),
        ({"serviceVersion": "9"}, "spec.serviceVersion", "'16'"),
        ({"service": "aws-rds-mysql"}, "spec.service", "'aws-rds-postgresql'"),
        (
            {"parameters": {"backup": {"retentionDays": 0}}},
            "spec.parameters.backup.retentionDays",
            "1",
        ),
        (
            {"parameters": {"backup": {"retentionDays": 36}}},
            "spec.parameters.backup.retentionDays",
            "35",
        ),
        (
            {"parameters": {"backup": {"window": "3:00-4:00"}}},
            "spec.parameters.backup.window",
            "hh24:mi",
        ),
        (
            {"parameters": {"backup": {"window": "03:00-03:10"}}},
            "spec.parameters.backup.window",
            "30",
        ),
        (
            {"parameters": {"maintenanceWindow": "sun:4-sun:5"}},
            "spec.parameters.maintenanceWindow",
            "ddd:hh24:mi",
        ),
        (
            {"parameters": {"maintenanceWindow": "xyz:04:00-sun:05:00"}},
            "spec.parameters.maintenanceWindow",
            "ddd",
        ),
        (
            {
                "parameters": {
                    "backup": {"window": "04:00-04:30"},
                    "maintenanceWindow": "sun:04:15-sun:05:00",
                }
            },
            "spec.parameters",
            "overlap",
        ),
        ({"parameters": {"databaseName": "1db"}}, "spec.parameters.databaseName", "a-z"),
        ({"parameters": {"databaseName": "My-DB"}}, "spec.parameters.databaseName", "a-z"),
        ({"parameters": {"databaseName": "a" * 64}}, "spec.parameters.databaseName", "62"),
        ({"parameters": {"databaseName": "select"}}, "spec.parameters.databaseName", "reserved"),
        ({"parameters": {"databaseName": "postgres"}}, "spec.parameters.databaseName", "exists"),
        ({"parameters": {"deletionPolicy": "Keep"}}, "spec.parameters.deletionPolicy", "'Orphan'"),
        ({"region": "mars-1"}, "spec.region", "eu-central-1"),
    ],
)
def test_bad_input_is_fatal_and_names_the_field(spec, field, allowed):
    rsp = render_local(xr_with(**spec))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(field), msg
    assert allowed in msg, msg
    assert not rsp.desired.resources


def test_immutable_fields_keep_what_the_instance_has():
    first = desired(render_local(XR))
    observed = copy.deepcopy(first["instance"])
    observed["metadata"]["annotations"]["crossplane.io/composition-resource-name"] = "instance"
    changed = xr_with(
        serviceVersion="17",
        region="us-east-1",
        parameters={"databaseName": "other", "encryption": {"type": "kms", "key": {"managed": {}}}},
    )
    rsp = render_local(changed, observed=[observed])
    msgs = " ".join(warnings(rsp))
    for field in (
        "spec.region",
        "spec.serviceVersion",
        "spec.parameters.databaseName",
        "encryption",
    ):
        assert field in msgs
    out = desired(rsp)
    assert fp(out)["region"] == "eu-central-1" and fp(out)["engineVersion"] == "16"
    assert out["instance"]["spec"]["initProvider"]["dbName"] == "app"
    assert "kms-key" not in out and "kmsKeyIdSelector" not in fp(out)


def test_same_request_twice_gives_the_same_bytes():
    xr = xr_with(parameters={"tags": {"b": "2", "a": "1"}})
    assert render_local(xr).SerializeToString(deterministic=True) == render_local(
        copy.deepcopy(xr)
    ).SerializeToString(deterministic=True)


RDS_ID = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)$")
CLAIM_NAME = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(name=CLAIM_NAME, uid=st.uuids().map(str))
def test_identifiers_meet_rds_rules_for_any_claim_name(name, uid):
    for make in (
        names.rds_identifier,
        names.final_snapshot_identifier,
        names.rds_parameter_group_name,
    ):
        ident = make("klutch", name, uid)
        assert RDS_ID.match(ident) and len(ident) <= 63, ident
        assert ident == make("klutch", name, uid)
    assert names.rds_identifier("klutch", name, uid) != names.final_snapshot_identifier(
        "klutch", name, uid
    )
