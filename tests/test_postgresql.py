"""PostgresqlInstance: what each claim field renders, bad input, names, immutables."""

from __future__ import annotations

import copy
import re

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import given, settings
from hypothesis import strategies as st

from function import claims, names
from function.postgresql import ENCRYPTION_ANNOTATION, ROLE_LABEL
from tests.support import environment as env
from tests.support.claims import postgresql_xr
from tests.support.responses import (
    NAME_ANNOTATION,
    applied_core_objects,
    desired,
    fatal_messages,
    group_role_ready,
    render_created,
    render_local,
    render_primary_ready,
    status,
    warnings,
)
from tools import providers

XR = postgresql_xr()
WHO = names.Identity("klutch", "team-a", "pg-db", XR["metadata"]["uid"])
KEY_ARN = "arn:aws:kms:eu-central-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CN_KEY_ARN = KEY_ARN.replace("arn:aws:", "arn:aws-cn:")
GOV_IN_CN_KEY_ARN = KEY_ARN.replace("arn:aws:kms:eu-central-1", "arn:aws-us-gov:kms:cn-north-1")
MARS_KEY_ARN = KEY_ARN.replace("eu-central-1", "mars-1")


def xr_with(**spec) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def xr_config(**config) -> dict:
    return xr_with(config=config)


def fp(out: dict, name: str = "instance") -> dict:
    return out[name]["spec"]["forProvider"]


def test_default_instance_is_private_encrypted_and_backed_up():
    out = desired(render_created(XR))
    assert set(out) == {
        "master-secret",
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
    # The XR's one ParameterGroup, by selector: the provider resolves the name from it.
    assert f["parameterGroupNameSelector"] == {"matchControllerRef": True}
    assert "parameterGroupName" not in f
    meta = out["instance"]["metadata"]
    assert meta["annotations"][ENCRYPTION_ANNOTATION] == "aws-managed"
    assert meta["labels"] == {ROLE_LABEL: "primary"}
    pg = fp(out, "parameter-group")
    assert pg["family"] == "postgres16"
    assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"} in pg["parameter"]


def test_group_grants_come_once_the_group_role_is_ready():
    """make e2e: composed with their Role, the Grants failed ("role klutch_app_owner does not
    exist") about twenty times in a second and provider-sql's rate limiter then held them for
    minutes (the claim pg-db not Ready after 13 min). Now the Role first, its grants once
    provider-sql reports it Ready; grants that exist stay."""
    grants = {"group-database-grant", "group-schema-grant"}
    first = render_local(XR)
    applied = applied_core_objects(first)
    creating = render_local(XR, observed=applied)
    assert "group-role" in desired(creating) and not grants & set(desired(creating))
    role_ready = group_role_ready(creating, applied)
    assert grants <= set(desired(render_local(XR, observed=role_ready)))
    # A Role no longer Ready (its database restarting) takes nothing away.
    rsp = render_local(XR, observed=role_ready)
    existing = []
    for key, body in desired(rsp).items():
        if key in grants:
            body.setdefault("metadata", {})["annotations"] = {NAME_ANNOTATION: key}
            existing.append(body)
    unready = [d for d in role_ready if d["kind"] != "Role"]
    unready.append(
        {**role_ready[-1], "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )
    assert grants <= set(desired(render_local(XR, observed=[*unready, *existing])))


def test_provider_config_reads_the_bare_host_with_tls():
    out = desired(render_created(XR))
    pc = out["provider-config"]
    secret = out["instance"]["spec"]["writeConnectionSecretToRef"]
    creds = pc["spec"]["credentials"]
    assert creds["source"] == "PostgreSQLConnectionSecret"
    assert creds["connectionSecretRef"] == secret
    assert creds["secretKeyMapping"]["endpoint"] == "address"
    assert pc["spec"]["sslMode"] == "require"
    assert pc["spec"]["defaultDatabase"] == "app"
    assert pc["metadata"]["name"] == names.sql_provider_config_name(WHO)
    for key in ("group-role", "group-database-grant", "group-schema-grant"):
        assert out[key]["spec"]["providerConfigRef"] == {"name": pc["metadata"]["name"]}


def test_group_role_may_create_in_public_schema_on_postgresql_15_and_newer():
    out = desired(render_created(xr_config(database={"name": "orders"})))
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
        # Even with Delete: Backups, recovery points and restored copies may still need it.
        ("Delete", "Delete", True, True, "Orphan"),
        ("Orphan", "Orphan", False, False, "Orphan"),
    ],
)
def test_deletion_policies(policy, mr_policy, skip, delete_backups, key_policy):
    config = {"deletionPolicy": policy, "encryption": {"key": {"managed": {}}}}
    out = desired(render_created(xr_with(config=config)))
    f = fp(out)
    assert out["instance"]["spec"]["deletionPolicy"] == mr_policy
    assert f["skipFinalSnapshot"] is skip
    assert f["deleteAutomatedBackups"] is delete_backups
    assert ("finalSnapshotIdentifier" in f) is not skip
    if not skip:
        final = f["finalSnapshotIdentifier"]
        assert re.fullmatch(rf"klutch-pg-db-final-[0-9a-f]{{{names.HASH_HEX}}}", final)
    # A key that encrypts a final snapshot or kept backups outlives the instance.
    assert out["kms-key"]["spec"]["deletionPolicy"] == key_policy


def test_managed_kms_key_is_selected():
    rsp = render_created(xr_config(encryption={"key": {"managed": {"alias": "orders"}}}))
    out = desired(rsp)
    assert fp(out)["kmsKeyIdSelector"] == {"matchControllerRef": True}
    alias = out["kms-alias"]["metadata"]["annotations"]["crossplane.io/external-name"]
    assert alias == names.managed_kms_alias(WHO, "orders")
    assert alias.startswith("alias/klutch/team-a/orders-")
    assert fp(out, "kms-key")["enableKeyRotation"] is True
    assert out["instance"]["metadata"]["annotations"][ENCRYPTION_ANNOTATION] == "kms-managed"


def test_existing_kms_key_is_used_as_is():
    rsp = render_created(xr_config(encryption={"key": {"existing": {"id": KEY_ARN}}}))
    out = desired(rsp)
    assert fp(out)["kmsKeyId"] == KEY_ARN and "kms-key" not in out
    assert status(rsp)["kmsKeyArn"] == KEY_ARN
    assert out["instance"]["metadata"]["annotations"][ENCRYPTION_ANNOTATION] == "kms-existing"


def test_multi_az_plan_windows_and_tags():
    config = {
        "region": "eu-west-1",
        "backup": {"retentionDays": 35, "window": "23:45-00:15"},
        "maintenanceWindow": "Sun:04:00-Sun:05:00",
        "tags": {"team": "a"},
    }
    out = desired(render_created(xr_with(plan="cluster-large", config=config)))
    f = fp(out)
    assert f["multiAz"] is True and f["instanceClass"] == "db.m7g.xlarge"
    assert f["backupRetentionPeriod"] == 35 and f["backupWindow"] == "23:45-00:15"
    assert f["maintenanceWindow"] == "sun:04:00-sun:05:00"
    owner = claims.ownership_tags(claims.POSTGRESQL_INSTANCE, "team-a", "pg-db")
    assert f["tags"] == {"managed-by": "klutch", "team": "a", **owner}
    regions = {(b.get("spec") or {}).get("forProvider", {}).get("region") for b in out.values()}
    assert regions - {None} == {"eu-west-1"}


def test_plans_come_from_the_operator_catalogue():
    plans = {
        "tiny": {"instanceClass": "db.t4g.small", "allocatedStorage": 20, "maxAllocatedStorage": 40}
    }
    out = desired(render_created(xr_with(plan="tiny"), {"postgresql": {"plans": plans}}))
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
                "resourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXY4",
            },
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        },
    }
    rsp = render_created(XR, observed=[observed])
    s = status(rsp)
    assert s["address"] == "x.abc.eu-central-1.rds.amazonaws.com"
    assert s["port"] == 5432 and s["endpoint"].endswith(":5432")
    assert s["engineVersion"] == "16.4"
    assert s["latestRestorableTime"] == "2025-06-10T11:55:00Z"
    assert s["arn"].startswith("arn:aws:rds:")
    assert s["resourceId"] == "db-ABCDEFGHIJKLMNOPQRSTUVWXY4"
    assert s["backupRetentionDays"] == 7 and s["replicas"] == 0
    assert s["databaseName"] == "app" and s["region"] == "eu-central-1"
    assert "readerEndpoints" not in s  # no replicas
    assert s["identifier"] == names.rds_identifier(WHO)
    assert "password" not in str(s).lower()


@pytest.mark.parametrize(
    ("spec", "field", "allowed"),
    [
        ({"plan": "gold"}, "spec.plan", "'cluster-large'"),
        ({"plan": "small"}, "spec.plan", "'single-small'"),
        ({"serviceVersion": "9"}, "spec.serviceVersion", "'16'"),
        ({"serviceVersion": "16.x"}, "spec.serviceVersion", "pattern"),
        ({"config": {"backup": {"retentionDays": 0}}}, "spec.config.backup.retentionDays", "1"),
        ({"config": {"backup": {"retentionDays": 36}}}, "spec.config.backup.retentionDays", "35"),
        ({"config": {"backup": {"window": "3:00-4:00"}}}, "spec.config.backup.window", "hh24:mi"),
        ({"config": {"backup": {"window": "03:00-03:10"}}}, "spec.config.backup.window", "30"),
        (
            {"config": {"maintenanceWindow": "sun:4-sun:5"}},
            "spec.config.maintenanceWindow",
            "ddd:hh24:mi",
        ),
        (
            {"config": {"maintenanceWindow": "xyz:04:00-sun:05:00"}},
            "spec.config.maintenanceWindow",
            "ddd",
        ),
        (
            {
                "config": {
                    "backup": {"window": "04:00-04:30"},
                    "maintenanceWindow": "sun:04:15-sun:05:00",
                }
            },
            "spec.config",
            "overlap",
        ),
        ({"config": {"database": {"name": "1db"}}}, "spec.config.database.name", "a-z"),
        ({"config": {"database": {"name": "My-DB"}}}, "spec.config.database.name", "a-z"),
        ({"config": {"database": {"name": "a" * 64}}}, "spec.config.database.name", "62"),
        ({"config": {"database": {"name": "select"}}}, "spec.config.database.name", "reserved"),
        ({"config": {"database": {"name": "postgres"}}}, "spec.config.database.name", "exists"),
        ({"config": {"deletionPolicy": "Keep"}}, "spec.config.deletionPolicy", "'Orphan'"),
        ({"config": {"region": "mars-1"}}, "spec.config.region", "eu-central-1"),
        (
            {"plan": "cluster-nano", "config": {"multiAZ": False}},
            "spec.config.multiAZ",
            "single-*",
        ),
        (
            {"config": {"encryption": {"key": {"managed": {}, "existing": {"id": KEY_ARN}}}}},
            "spec.config.encryption.key",
            "exactly one of 'managed' or 'existing'",
        ),
        (
            {"config": {"encryption": {"type": "kms", "key": {"managed": {}}}}},
            "spec.config.encryption.type",
            "Extra inputs are not permitted",
        ),
        ({"config": {"parameters": {}}}, "spec.config.parameters", "Extra inputs"),
        # Issue 27 item 13: no coercion of a typed field; an ARN's partition fits its region.
        ({"config": {"backup": {"retentionDays": "7"}}}, "spec.config.backup", "integer"),
        ({"config": {"publiclyAccessible": "yes"}}, "spec.config.publiclyAccessible", "boolean"),
        ({"config": {"compute": {"allocatedStorage": "50"}}}, "spec.config.compute", "integer"),
        (
            {"config": {"encryption": {"key": {"existing": {"id": CN_KEY_ARN}}}}},
            "spec.config.encryption.key.existing.id",
            "partition 'aws-cn' does not fit its region 'eu-central-1'",
        ),
        (
            {"config": {"encryption": {"key": {"existing": {"id": GOV_IN_CN_KEY_ARN}}}}},
            "spec.config.encryption.key.existing.id",
            "partition 'aws-us-gov' does not fit its region 'cn-north-1'",
        ),
        (
            {"config": {"encryption": {"key": {"existing": {"id": MARS_KEY_ARN}}}}},
            "spec.config.encryption.key.existing.id",
            "'mars-1' is not an AWS region",
        ),
    ],
)
def test_bad_input_is_fatal_and_names_the_field(spec, field, allowed):
    rsp = render_created(xr_with(**spec))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(field), msg
    assert allowed in msg, msg
    assert not rsp.desired.resources


def test_immutable_fields_keep_what_the_instance_has():
    first = desired(render_created(XR))
    observed = copy.deepcopy(first["instance"])
    observed["metadata"]["annotations"]["crossplane.io/composition-resource-name"] = "instance"
    changed = xr_with(
        serviceVersion="17",
        config={
            "region": "us-east-1",
            "database": {"name": "other"},
            "encryption": {"key": {"managed": {}}},
        },
    )
    rsp = render_created(changed, observed=[observed])
    msgs = " ".join(warnings(rsp))
    for field in (
        "spec.config.region",
        "spec.serviceVersion",
        "spec.config.database.name",
        "spec.config.encryption",
    ):
        assert field in msgs
    out = desired(rsp)
    assert fp(out)["region"] == "eu-central-1" and fp(out)["engineVersion"] == "16"
    assert out["instance"]["spec"]["initProvider"]["dbName"] == "app"
    assert "kms-key" not in out and "kmsKeyIdSelector" not in fp(out)


def test_same_request_twice_gives_the_same_bytes():
    xr = xr_with(plan="cluster-nano", config={"tags": {"b": "2", "a": "1"}})
    assert render_created(xr).SerializeToString(deterministic=True) == render_created(
        copy.deepcopy(xr)
    ).SerializeToString(deterministic=True)


RDS_ID = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)$")
CLAIM_NAME = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(name=CLAIM_NAME, uid=st.uuids().map(str))
def test_identifiers_meet_rds_rules_for_any_claim_name(name, uid):
    who = names.Identity("klutch", "team-a", name, uid)
    for make in (
        names.rds_identifier,
        names.final_snapshot_identifier,
        names.rds_parameter_group_name,
    ):
        ident = make(who)
        assert RDS_ID.match(ident) and len(ident) <= 63, ident
        assert ident == make(who)
    assert names.rds_identifier(who) != names.final_snapshot_identifier(who)


# --- serviceVersion: a major follows its newest minor, a minor is pinned ------------------


@pytest.mark.parametrize(
    ("version", "engine_version", "auto_minor"),
    [("16", "16", True), ("16.5", "16.5", False), ("17", "17", True), ("17.4", "17.4", False)],
)
def test_a_major_follows_minor_upgrades_and_a_minor_is_pinned(version, engine_version, auto_minor):
    out = desired(render_primary_ready(xr_with(serviceVersion=version, plan="cluster-nano")))
    f = fp(out)
    assert f["engineVersion"] == engine_version
    assert f["autoMinorVersionUpgrade"] is auto_minor
    assert fp(out, "replica-1")["autoMinorVersionUpgrade"] is auto_minor  # replicas follow
    assert fp(out, "parameter-group")["family"] == f"postgres{version.split('.')[0]}"


@pytest.mark.parametrize("version", ["16.99", "18", "17.1"])
def test_a_version_not_offered_is_fatal_and_lists_the_offered_versions(version):
    rsp = render_created(xr_with(serviceVersion=version))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.serviceVersion:") and repr(version) in msg, msg
    for offered in ("'16'", "'16.5'", "'17'", "'17.4'"):
        assert offered in msg, msg
    assert not rsp.desired.resources


def test_offered_minors_come_from_the_operator_catalogue():
    versions = {"16": {"parameterGroupFamily": "postgres16", "minors": ["16.2"]}}
    fn_input = {"postgresql": {"versions": versions}}
    out = desired(render_created(xr_with(serviceVersion="16.2"), fn_input))
    assert fp(out)["engineVersion"] == "16.2"
    (msg,) = fatal_messages(render_created(xr_with(serviceVersion="16.5"), fn_input))
    assert msg.startswith("spec.serviceVersion:") and "'16.2'" in msg and "'17'" not in msg


# --- cluster plans: read replicas -----------------------------------------------------------

CLUSTER = "cluster-nano"
PRIMARY_ID = names.rds_identifier(WHO)


def replicas_of(out: dict) -> list[str]:
    return sorted(k for k in out if k.startswith("replica-"))


def test_a_cluster_plan_is_multi_az_with_one_replica_by_default():
    rsp = render_primary_ready(xr_with(plan=CLUSTER))
    out = desired(rsp)
    assert replicas_of(out) == ["replica-1"]
    assert fp(out)["multiAz"] is True
    assert status(rsp)["replicas"] == 1


def test_replicas_wait_for_the_primary_to_be_ready_and_an_existing_one_is_kept():
    """Issue 27 item 5: a replica's replicateSourceDbSelector resolves the primary's
    ``spec.forProvider.identifier`` as soon as its MR exists (provider-upjet-aws v2.6.0
    apis/cluster/rds/v1beta3/zz_generated.resolvers.go), so a replica rendered with the
    primary calls CreateDBInstanceReadReplica before the primary exists. Until the primary is
    observed Ready: no replica, and the claim waits (the XR is not Ready)."""
    xr = xr_with(plan=CLUSTER, config={"compute": {"replicas": {"count": 2}}})
    rsp = render_created(xr)
    assert "instance" in desired(rsp)
    assert replicas_of(desired(rsp)) == []
    assert rsp.desired.composite.ready == fnv1.READY_FALSE
    assert status(rsp)["replicas"] == 2  # what the claim asks for, published all along
    ready = render_primary_ready(xr)
    assert replicas_of(desired(ready)) == ["replica-1", "replica-2"]
    assert ready.desired.composite.ready == fnv1.READY_UNSPECIFIED
    # A replica that exists stays while the primary is not Ready (e.g. being modified).
    replica = desired(ready)["replica-1"]
    replica["metadata"] = {"annotations": {NAME_ANNOTATION: "replica-1"}}
    kept = render_local(xr, observed=[*applied_core_objects(rsp), replica])
    assert replicas_of(desired(kept)) == ["replica-1"]
    assert kept.desired.composite.ready == fnv1.READY_FALSE


def test_a_single_plan_has_no_replicas():
    rsp = render_created(XR)
    assert replicas_of(desired(rsp)) == []
    assert status(rsp)["replicas"] == 0


def test_replica_count_renders_replicas_of_the_primary():
    config = {
        "compute": {"replicas": {"count": 2}},
        "maintenanceWindow": "sun:04:00-sun:05:00",
        "tags": {"team": "a"},
        "region": "eu-west-1",
    }
    rsp = render_primary_ready(xr_with(plan=CLUSTER, config=config))
    out = desired(rsp)
    assert replicas_of(out) == ["replica-1", "replica-2"]
    primary = fp(out)
    assert out["instance"]["metadata"]["labels"] == {ROLE_LABEL: "primary"}
    identifiers = set()
    for i in (1, 2):
        body = out[f"replica-{i}"]
        assert (body["apiVersion"], body["kind"]) == ("rds.aws.upbound.io/v1beta3", "Instance")
        assert body["spec"]["deletionPolicy"] == "Delete"
        r = body["spec"]["forProvider"]
        assert r["identifier"] == names.rds_replica_identifier(PRIMARY_ID, i)
        identifiers.add(r["identifier"])
        # The replica of *this* XR's primary (the only Instance labelled primary).
        assert r["replicateSourceDbSelector"] == {
            "matchControllerRef": True,
            "matchLabels": {ROLE_LABEL: "primary"},
        }
        assert ROLE_LABEL not in (body.get("metadata") or {}).get("labels", {})
        for same in (
            "region",
            "instanceClass",
            "storageType",
            "maxAllocatedStorage",
            "autoMinorVersionUpgrade",
            "port",
            "publiclyAccessible",
            "parameterGroupNameSelector",
            "tags",
            "maintenanceWindow",
        ):
            assert r[same] == primary[same], same
        assert r["region"] == "eu-west-1"
        assert r["multiAz"] is False
        # A replica holds no data of its own: no backups, no final snapshot.
        assert r["backupRetentionPeriod"] == 0
        assert r["skipFinalSnapshot"] is True and "finalSnapshotIdentifier" not in r
        assert r["deleteAutomatedBackups"] is True
        # Taken from the primary by RDS: never set on a replica.
        for absent in ("engine", "engineVersion", "allocatedStorage", "passwordSecretRef"):
            assert absent not in r, absent
        assert "initProvider" not in body["spec"]
        assert "writeConnectionSecretToRef" not in body["spec"]
    assert len(identifiers | {PRIMARY_ID}) == 3
    assert status(rsp)["replicas"] == 2


def test_changing_the_replica_count_never_changes_the_primary():
    def primary(count: int | None) -> dict:
        config = {} if count is None else {"compute": {"replicas": {"count": count}}}
        out = desired(render_created(xr_with(plan=CLUSTER, config=config)))
        return out["instance"]

    bodies = [primary(c) for c in (None, 0, 1, 2, 5)]
    assert all(b == bodies[0] for b in bodies)


def test_replicas_on_a_single_plan_are_fatal():
    rsp = render_created(xr_config(compute={"replicas": {"count": 1}}))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.config.compute.replicas.count:"), msg
    assert "cluster-*" in msg
    assert not rsp.desired.resources


def test_more_replicas_than_the_plan_allows_are_fatal():
    rsp = render_created(xr_with(plan=CLUSTER, config={"compute": {"replicas": {"count": 6}}}))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.config.compute.replicas.count:"), msg
    assert "at most 5" in msg and "got 6" in msg
    assert not rsp.desired.resources


def observed_replica(index: int, endpoint: str | None) -> dict:
    at = {"endpoint": endpoint} if endpoint else {}
    return {
        "apiVersion": "rds.aws.upbound.io/v1beta3",
        "kind": "Instance",
        "metadata": {
            "annotations": {"crossplane.io/composition-resource-name": f"replica-{index}"}
        },
        "status": {"atProvider": at},
    }


def test_reader_endpoints_in_status_come_from_the_observed_replicas():
    xr = xr_with(plan=CLUSTER, config={"compute": {"replicas": {"count": 2}}})
    first = status(render_created(xr))
    assert "readerEndpoints" not in first  # none observed yet
    r1 = "klutch-pg-db-r1.abc.eu-central-1.rds.amazonaws.com:5432"
    r2 = "klutch-pg-db-r2.abc.eu-central-1.rds.amazonaws.com:5432"
    one = status(render_created(xr, observed=[observed_replica(1, r1), observed_replica(2, None)]))
    assert one["readerEndpoints"] == [r1]
    both = status(render_created(xr, observed=[observed_replica(2, r2), observed_replica(1, r1)]))
    assert both["readerEndpoints"] == [r1, r2]  # in replica order
    assert both["replicas"] == 2


# --- what the operator allows -------------------------------------------------------------


def test_publicly_accessible_is_refused_where_the_region_has_no_public_network():
    # The example environment has a public network in eu-central-1 only.
    assert "publicNetwork" not in env.region("eu-west-1")
    rsp = render_created(xr_config(publiclyAccessible=True, region="eu-west-1"))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.config.publiclyAccessible:"), msg
    assert "allowed values: false" in msg
    assert "eu-central-1" in msg  # where public databases are offered
    assert not rsp.desired.resources


def test_publicly_accessible_uses_the_regions_public_network():
    public = env.region("eu-central-1")["publicNetwork"]
    private = env.region("eu-central-1")["network"]
    xr = xr_with(plan=CLUSTER, config={"publiclyAccessible": True, "region": "eu-central-1"})
    out = desired(render_primary_ready(xr))
    f = fp(out)
    assert f["publiclyAccessible"] is True
    assert f["dbSubnetGroupName"] == public["dbSubnetGroupName"]
    assert f["vpcSecurityGroupIds"] == public["vpcSecurityGroupIds"]
    r = fp(out, "replica-1")
    assert r["publiclyAccessible"] is True
    assert r["vpcSecurityGroupIds"] == public["vpcSecurityGroupIds"]
    # Allowed, not forced: a claim that does not ask stays in the private network.
    kept = fp(desired(render_created(xr_config(region="eu-central-1"))))
    assert kept["publiclyAccessible"] is False
    assert kept["dbSubnetGroupName"] == private["dbSubnetGroupName"]
    assert kept["vpcSecurityGroupIds"] == private["vpcSecurityGroupIds"]


def test_unencrypted_storage_is_refused_unless_the_operator_allows_it():
    rsp = render_created(xr_config(compute={"encryptedStorage": False}))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.config.compute.encryptedStorage:"), msg
    assert "allowed values: true" in msg
    assert not rsp.desired.resources
    fn_input = {"postgresql": {"allowUnencryptedStorage": True}}
    out = desired(render_created(xr_config(compute={"encryptedStorage": False}), fn_input))
    assert fp(out)["storageEncrypted"] is False and "kmsKeyId" not in fp(out)
    # Allowed, not forced: the default stays encrypted.
    assert fp(desired(render_created(XR, fn_input)))["storageEncrypted"] is True


def test_a_key_with_unencrypted_storage_is_fatal():
    fn_input = {"postgresql": {"allowUnencryptedStorage": True}}
    config = {"compute": {"encryptedStorage": False}, "encryption": {"key": {"managed": {}}}}
    (msg,) = fatal_messages(render_created(xr_with(config=config), fn_input))
    assert msg.startswith("spec.config:") and "encryptedStorage: true" in msg, msg


# --- storage may only grow ------------------------------------------------------------------


def observed_primary(allocated: int) -> dict:
    body = copy.deepcopy(desired(render_created(XR))["instance"])
    body["metadata"]["annotations"]["crossplane.io/composition-resource-name"] = "instance"
    body["spec"]["forProvider"]["allocatedStorage"] = allocated
    return body


def test_allocated_storage_defaults_to_the_plan_and_may_grow():
    assert fp(desired(render_created(XR)))["allocatedStorage"] == 20
    rsp = render_created(
        xr_config(compute={"allocatedStorage": 200}), observed=[observed_primary(50)]
    )
    f = fp(desired(rsp))
    assert f["allocatedStorage"] == 200
    assert f["maxAllocatedStorage"] >= 200  # the autoscaling limit is never below the storage
    assert not [w for w in warnings(rsp) if "allocatedStorage" in w]


def test_shrinking_allocated_storage_warns_and_keeps_the_old_size():
    rsp = render_created(
        xr_config(compute={"allocatedStorage": 50}), observed=[observed_primary(100)]
    )
    assert not fatal_messages(rsp)
    (msg,) = [w for w in warnings(rsp) if "allocatedStorage" in w]
    assert msg.startswith("spec.config.compute.allocatedStorage may only grow")
    assert "keeping 100 GiB" in msg and "50 GiB" in msg
    assert fp(desired(rsp))["allocatedStorage"] == 100


def scheduled_backup(
    instance_ref: str, pitr: bool, days: int = 14, published: dict | None = None
) -> dict:
    """A ScheduledBackup's XR as Crossplane returns it for the claim-namespace requirement
    (spec as the XRD defaults it; xrds/scheduledbackup.yaml), with the status the function
    published when it accepted it (``published``: that status instead; {}: refused)."""
    identifier = PRIMARY_ID if instance_ref == "pg-db" else f"klutch-{instance_ref}-0"
    accepted = {
        "instanceIdentifier": identifier,
        "retentionDays": days,
        "pointInTimeRecovery": pitr,
    }
    return {
        "status": accepted if published is None else published,
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": "XScheduledBackup",
        "metadata": {
            "name": f"nightly-{instance_ref}",
            "labels": {
                "crossplane.io/claim-name": f"nightly-{instance_ref}",
                "crossplane.io/claim-namespace": "team-a",
            },
        },
        "spec": {
            "instanceRef": instance_ref,
            "schedule": "daily",
            "retentionDays": days,
            "pointInTimeRecovery": pitr,
        },
    }


def test_continuous_aws_backup_owns_the_retention_and_sets_the_window():
    """With pointInTimeRecovery AWS Backup manages the instance's backup retention (AWS Backup
    guide, point-in-time-recovery-retention-period): the Instance leaves it alone after
    creation (initProvider: Terraform ignore_changes) and status tells AWS Backup's window."""
    required = {"scheduled-backups": [scheduled_backup("pg-db", True, 21)]}
    rsp = render_created(xr_config(backup={"retentionDays": 7}), required=required)
    spec = desired(rsp)["instance"]["spec"]
    assert "backupRetentionPeriod" not in spec["forProvider"]
    assert spec["initProvider"]["backupRetentionPeriod"] == 7
    assert status(rsp)["backupRetentionDays"] == 21
    sel = rsp.requirements.resources["scheduled-backups"]
    assert dict(sel.match_labels.labels) == {"crossplane.io/claim-namespace": "team-a"}


@pytest.mark.parametrize("policy", ["SnapshotAndDelete", "Delete", "Orphan"])
def test_aws_backup_keeps_the_retention_after_upjet_observes_the_instance(policy):
    """Issue 27 item 4: with continuous backup the retention AWS Backup sets must survive
    upjet's Observe: late initialization (on by default) would copy ``backupRetentionPeriod``
    from the state into ``forProvider``, after which it is no longer ignored and the provider
    reverts it (tools/providers.py ``upjet_late_initialize``, ``upjet_ignored_changes``,
    both from upjet's external_tfpluginsdk.go). The instance is kept or deleted as its
    deletion policy says (custom policies with Delete delete whatever deletionPolicy says)."""
    required = {"scheduled-backups": [scheduled_backup("pg-db", True, 21)]}
    xr = xr_config(backup={"retentionDays": 7}, deletionPolicy=policy)
    body = desired(render_created(xr, required=required))["instance"]
    state = {**body["spec"]["forProvider"], **body["spec"]["initProvider"]}
    state["backupRetentionPeriod"] = 21  # what AWS Backup set
    observed = providers.upjet_late_initialize(copy.deepcopy(body), state)
    assert "backupRetentionPeriod" in providers.upjet_ignored_changes(observed)
    deletes = "Delete" in body["spec"]["managementPolicies"]
    assert deletes is (policy != "Orphan")
    assert body["spec"]["deletionPolicy"] == ("Orphan" if policy == "Orphan" else "Delete")


@pytest.mark.parametrize(
    "published",
    [
        {},
        {"instanceIdentifier": PRIMARY_ID, "retentionDays": 99, "pointInTimeRecovery": True},
        {"instanceIdentifier": PRIMARY_ID, "retentionDays": 21, "pointInTimeRecovery": "yes"},
    ],
    ids=["refused-never-published", "out-of-range", "malformed"],
)
def test_only_a_scheduled_backup_the_function_accepted_takes_the_retention(published):
    """Issue 27 item 9: a ScheduledBackup whose spec asks for continuous backup but which the
    platform refused (nothing published: AWS Backup never got it), or whose status is out of
    AWS Backup's 1-35 days, leaves the instance its own retention."""
    others = [scheduled_backup("pg-db", True, 21, published=published)]
    rsp = render_created(
        xr_config(backup={"retentionDays": 7}), required={"scheduled-backups": others}
    )
    assert not fatal_messages(rsp)
    spec = desired(rsp)["instance"]["spec"]
    assert spec["forProvider"]["backupRetentionPeriod"] == 7
    assert status(rsp)["backupRetentionDays"] == 7


@pytest.mark.parametrize(
    "others",
    [[], [scheduled_backup("pg-db", False)], [scheduled_backup("other-db", True)]],
    ids=["none", "snapshots-only", "another-instance"],
)
def test_without_continuous_backup_the_instance_owns_its_retention(others):
    rsp = render_created(
        xr_config(backup={"retentionDays": 7}), required={"scheduled-backups": others}
    )
    spec = desired(rsp)["instance"]["spec"]
    assert spec["forProvider"]["backupRetentionPeriod"] == 7
    assert "backupRetentionPeriod" not in spec.get("initProvider", {})
    assert status(rsp)["backupRetentionDays"] == 7
