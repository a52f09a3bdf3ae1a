"""Day-2 for databases (issue 25): version upgrades and plan changes on a running instance."""

from __future__ import annotations

import copy

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import given, settings
from hypothesis import strategies as st

from function import fn, restore
from function.postgresql import version_key, version_move_refused
from function.restore import RESTORE_ANNOTATION
from tests.support.claims import postgresql_xr
from tests.support.responses import (
    NAME_ANNOTATION,
    desired,
    fatal_messages,
    render_created,
    status,
    warnings,
)
from tools.twin import ControlPlane, example_xrs

XR = postgresql_xr()
CLUSTER = "cluster-nano"


def xr_with(**spec) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def fp(out: dict, name: str = "instance") -> dict:
    return out[name]["spec"]["forProvider"]


def observed_primary(xr: dict, running: str | None = None, **at) -> dict:
    """The primary as Crossplane observes it after rendering ``xr``: what was applied, and
    ``status.atProvider`` as the provider publishes it (``engineVersionActual``...)."""
    body = copy.deepcopy(desired(render_created(xr))["instance"])
    body["metadata"]["annotations"][NAME_ANNOTATION] = "instance"
    if running:
        at["engineVersionActual"] = running
    body["status"] = {
        "atProvider": at,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
    }
    return body


# --- item 1: minor upgrades move forward only ------------------------------------------


@pytest.mark.parametrize(
    ("old", "running", "new"),
    [
        ("16.4", "16.4", "16.6"),  # a pinned minor moves forward
        ("16.4", "16.4", "16"),  # to the major: follows the minors from now on
        ("16", "16.4", "16.6"),  # pin a minor newer than the running one
        ("16", None, "16.4"),  # the running version is not known yet
        ("16.4", None, "16.4"),
    ],
)
def test_a_minor_upgrade_renders_the_new_version(old, running, new):
    observed = observed_primary(xr_with(serviceVersion=old), running)
    rsp = render_created(xr_with(serviceVersion=new), observed=[observed])
    assert not fatal_messages(rsp)
    assert not [w for w in warnings(rsp) if "serviceVersion" in w]
    f = fp(desired(rsp))
    assert f["engineVersion"] == new
    assert f["autoMinorVersionUpgrade"] is ("." not in new)


@pytest.mark.parametrize(
    ("old", "running", "new", "named"),
    [
        ("16.6", "16.6", "16.4", "16.6"),
        ("16.6", None, "16.4", "16.6"),
        ("16", "16.8", "16.4", "16.8"),  # the major already runs a newer minor
        ("16", "16.4", "15", "16.4"),
    ],
)
def test_a_downgrade_is_refused_naming_both_versions_and_the_instance_is_kept(
    old, running, new, named
):
    observed = observed_primary(xr_with(serviceVersion=old), running)
    rsp = render_created(xr_with(serviceVersion=new), observed=[observed])
    assert not fatal_messages(rsp)
    (msg,) = [w for w in warnings(rsp) if "serviceVersion" in w]
    assert msg.startswith("spec.serviceVersion: PostgreSQL cannot be downgraded"), msg
    assert named in msg and repr(new) in msg and f"keeping {old!r}" in msg
    out = desired(rsp)
    kept = desired(render_created(xr_with(serviceVersion=old), observed=[observed]))
    assert out["instance"] == kept["instance"]  # the instance stays exactly as it is
    assert fp(out, "parameter-group") == fp(kept, "parameter-group")


VERSIONS = st.builds(
    lambda major, minor: f"{major}" if minor is None else f"{major}.{minor}",
    st.integers(10, 20),
    st.none() | st.integers(0, 30),
)


@given(old=VERSIONS, new=VERSIONS)
def test_a_version_move_is_allowed_exactly_when_it_goes_forward(old, new):
    """Forward within the major, or to a newer major (``upgrade.refused`` decides which)."""
    refused = version_move_refused(old, None, new)
    (om, on), (nm, nn) = version_key(old), version_key(new)
    forward = nm > om or (nm == om and (on is None or nn is None or nn >= on))
    assert (refused is None) is forward
    if refused:
        assert refused.startswith("spec.serviceVersion:") and repr(new) in refused


# --- item 4: plan changes ----------------------------------------------------------------


def observed_replica(index: int) -> dict:
    return {
        "apiVersion": "rds.aws.upbound.io/v1beta3",
        "kind": "Instance",
        "metadata": {"annotations": {NAME_ANNOTATION: f"replica-{index}"}},
        "status": {"atProvider": {}},
    }


def replicas_of(out: dict) -> list[str]:
    return sorted(k for k in out if k.startswith("replica-"))


def test_a_larger_plan_changes_the_instance_class_and_grows_the_storage():
    observed = observed_primary(XR)
    rsp = render_created(xr_with(plan="single-small"), observed=[observed])
    assert not fatal_messages(rsp) and not warnings(rsp)
    f = fp(desired(rsp))
    assert f["instanceClass"] == "db.t4g.medium"
    assert f["allocatedStorage"] == 50 and f["maxAllocatedStorage"] == 250
    # Everything but the plan's fields stays as it is.
    before = fp(desired(render_created(XR, observed=[observed])))
    changed = {k for k in f if f[k] != before.get(k)}
    assert changed == {"instanceClass", "allocatedStorage", "maxAllocatedStorage"}


def test_a_smaller_plan_changes_the_instance_class_but_never_shrinks_the_storage():
    observed = observed_primary(xr_with(plan="single-small"))
    rsp = render_created(XR, observed=[observed])
    assert not fatal_messages(rsp)
    (msg,) = warnings(rsp)
    assert msg.startswith("spec.plan: plan 'single-nano' has 20 GiB and storage may only grow")
    assert "keeping 50 GiB" in msg
    f = fp(desired(rsp))
    assert f["instanceClass"] == "db.t4g.micro" and f["allocatedStorage"] == 50
    assert f["maxAllocatedStorage"] >= 50


def test_single_to_cluster_turns_on_multi_az_and_adds_the_plans_default_replicas():
    observed = observed_primary(XR)  # observed Ready: replicas may come
    rsp = render_created(xr_with(plan=CLUSTER), observed=[observed])
    assert not fatal_messages(rsp)
    out = desired(rsp)
    assert fp(out)["multiAz"] is True
    assert replicas_of(out) == ["replica-1"]  # cluster-nano: defaultReplicas 1


@pytest.mark.parametrize("count", [None, 1])
def test_cluster_to_single_is_refused_while_replicas_are_configured(count):
    config = {} if count is None else {"compute": {"replicas": {"count": count}}}
    cluster = xr_with(plan=CLUSTER, config=config)
    observed = [observed_primary(cluster), observed_replica(1)]
    rsp = render_created(xr_with(plan="single-nano", config=config), observed=observed)
    (msg,) = fatal_messages(rsp)
    assert "set spec.config.compute.replicas.count to 0 first" in msg, msg
    assert msg.startswith("spec.plan:" if count is None else "spec.config.compute.replicas.count:")
    # A fatal result: Crossplane applies nothing and deletes nothing.
    assert not rsp.desired.resources


def test_cluster_to_single_once_the_count_is_0_removes_the_replicas_and_multi_az():
    config = {"compute": {"replicas": {"count": 0}}}
    cluster = xr_with(plan=CLUSTER)
    observed = [observed_primary(cluster), observed_replica(1)]
    rsp = render_created(xr_with(plan="single-nano", config=config), observed=observed)
    assert not fatal_messages(rsp)
    out = desired(rsp)
    assert replicas_of(out) == [] and fp(out)["multiAz"] is False


# --- item 3: when changes happen, and what is pending ------------------------------------


def conditions(rsp) -> dict[str, tuple[bool, str, str]]:
    return {
        c.type: (c.status == fnv1.STATUS_CONDITION_TRUE, c.reason, c.message)
        for c in rsp.conditions
    }


@pytest.mark.parametrize(("apply", "immediately"), [(None, False), ("immediately", True)])
def test_apply_changes_sets_apply_immediately_on_the_primary_and_its_replicas(apply, immediately):
    config = {} if apply is None else {"applyChanges": apply}
    cluster = xr_with(plan=CLUSTER, config=config)
    rsp = render_created(cluster, observed=[observed_primary(cluster)])
    out = desired(rsp)
    assert fp(out)["applyImmediately"] is immediately
    assert fp(out, "replica-1")["applyImmediately"] is immediately


def test_a_change_waiting_for_the_maintenance_window_is_published():
    """The provider publishes no pendingModifiedValues (rds Instance v1beta3 atProvider):
    what was applied (spec.forProvider) and RDS does not run (atProvider) is pending."""
    xr = xr_with(plan="single-small", config={"maintenanceWindow": "sun:04:00-sun:05:00"})
    observed = observed_primary(
        xr,
        "16.4",
        instanceClass="db.t4g.micro",
        allocatedStorage=20,
        multiAz=False,
        status="available",
    )
    rsp = render_created(xr, observed=[observed])
    s = status(rsp)
    assert s["instanceStatus"] == "available"
    assert s["pendingChanges"] == [
        {"field": "instanceClass", "current": "db.t4g.micro", "requested": "db.t4g.medium"},
        {"field": "allocatedStorage", "current": "20", "requested": "50"},
    ]
    ok, reason, msg = conditions(rsp)["ChangePending"]
    assert ok and reason == "WaitingForMaintenanceWindow"
    assert "sun:04:00-sun:05:00" in msg and "db.t4g.micro -> db.t4g.medium" in msg
    assert "applyChanges: immediately" in msg
    assert conditions(rsp)["Upgrading"][:2] == (False, "NotUpgrading")


def test_an_upgrade_in_progress_is_published():
    xr = xr_with(serviceVersion="16.6", config={"applyChanges": "immediately"})
    observed = observed_primary(xr, "16.4", instanceClass="db.t4g.micro", status="upgrading")
    rsp = render_created(xr, observed=[observed])
    assert status(rsp)["pendingChanges"] == [
        {"field": "engineVersion", "current": "16.4", "requested": "16.6"}
    ]
    ok, _, msg = conditions(rsp)["Upgrading"]
    assert ok and "from 16.4 to 16.6" in msg
    assert conditions(rsp)["ChangePending"][:2] == (True, "Applying")


def test_nothing_pending_when_rds_runs_what_was_asked():
    observed = observed_primary(
        XR,
        "16.8",
        instanceClass="db.t4g.micro",
        allocatedStorage=35,
        multiAz=False,
        status="available",
    )  # a major follows its minors; autoscaling grew the storage
    rsp = render_created(XR, observed=[observed])
    assert "pendingChanges" not in status(rsp)
    assert conditions(rsp)["ChangePending"][:2] == (False, "NoChangePending")
    assert conditions(rsp)["Upgrading"][0] is False


# --- item 5: refusals that keep everything -----------------------------------------------


def test_a_change_while_another_is_pending_waits_and_names_the_field():
    small = xr_with(plan="single-small")
    observed = observed_primary(
        small, "16.4", instanceClass="db.t4g.micro", allocatedStorage=20, status="available"
    )  # single-small applied, waiting for the maintenance window
    rsp = render_created(xr_with(plan="single-medium", serviceVersion="16.6"), observed=[observed])
    assert not fatal_messages(rsp)
    msgs = warnings(rsp)
    assert any(m.startswith("spec.plan: another change is still pending") for m in msgs), msgs
    assert any(m.startswith("spec.serviceVersion: another change") for m in msgs), msgs
    assert any("db.t4g.medium -> db.m7g.large" in m for m in msgs)
    f = fp(desired(rsp))
    applied = observed["spec"]["forProvider"]
    for field in ("instanceClass", "allocatedStorage", "maxAllocatedStorage", "engineVersion"):
        assert f[field] == applied[field], field
    assert f["autoMinorVersionUpgrade"] is True  # still follows "16", as applied


def test_a_change_once_nothing_is_pending_goes_through():
    small = xr_with(plan="single-small")
    observed = observed_primary(
        small, "16.4", instanceClass="db.t4g.medium", allocatedStorage=50, status="available"
    )
    rsp = render_created(xr_with(plan="single-medium"), observed=[observed])
    assert not warnings(rsp)
    assert fp(desired(rsp))["instanceClass"] == "db.m7g.large"


@pytest.mark.parametrize("version", ["16.9", "16.7"])
def test_a_version_the_catalogue_does_not_list_is_fatal_and_changes_nothing(version):
    observed = observed_primary(XR, "16.4")
    rsp = render_created(xr_with(serviceVersion=version), observed=[observed])
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(f"spec.serviceVersion: unknown version {version!r}"), msg
    assert not rsp.desired.resources  # fatal: Crossplane applies and deletes nothing


# --- item 2: major upgrades in place (function/upgrade.py) -------------------------------

AVAILABLE = {"instanceClass": "db.t4g.micro", "allocatedStorage": 20, "status": "available"}
OLD_GROUP, NEW_GROUP, SNAPSHOT = (
    "parameter-group",
    "parameter-group-postgres17",
    "pre-upgrade-snapshot-17",
)


def observed_as_desired(body: dict, key: str, ready: bool = True, **at) -> dict:
    """A desired composed resource as Crossplane observes it once its provider reports it."""
    body = copy.deepcopy(body)
    body.setdefault("metadata", {}).setdefault("annotations", {})[NAME_ANNOTATION] = key
    body["status"] = {
        "atProvider": at,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    return body


def at_rest(xr: dict = XR, running: str = "16.4", **at) -> list[dict]:
    """The primary and its parameter group of ``xr``, running ``running``."""
    out = desired(render_created(xr))
    return [
        observed_primary(xr, running, **{**AVAILABLE, **at}),
        observed_as_desired(out[OLD_GROUP], OLD_GROUP),
    ]


def upgrade_to(version: str, observed: list[dict], xr: dict = XR):
    body = copy.deepcopy(xr)
    body["spec"]["serviceVersion"] = version
    return render_created(body, observed=observed)


def group_name(out: dict, key: str) -> str:
    return out[key]["metadata"]["annotations"]["crossplane.io/external-name"]


def test_a_major_upgrade_first_takes_a_snapshot_and_creates_the_new_group_keeping_the_instance():
    observed = at_rest()
    rsp = upgrade_to("17", observed)
    assert not fatal_messages(rsp) and not warnings(rsp), warnings(rsp)
    out = desired(rsp)
    f = fp(out)
    assert f["engineVersion"] == "16" and "allowMajorVersionUpgrade" not in f
    assert f["parameterGroupName"] == group_name(out, OLD_GROUP)  # by name: two groups now
    assert fp(out, OLD_GROUP)["family"] == "postgres16"
    assert fp(out, NEW_GROUP)["family"] == "postgres17"
    assert group_name(out, NEW_GROUP) != group_name(out, OLD_GROUP)
    snap = out[SNAPSHOT]
    assert snap["kind"] == "Snapshot" and snap["spec"]["deletionPolicy"] == "Orphan"
    assert fp(out, SNAPSHOT)["dbInstanceIdentifier"] == f["identifier"]
    published = status(rsp)["preUpgradeSnapshot"]
    assert published["identifier"] == group_name(out, SNAPSHOT)
    assert published["engineVersion"] == "16.4" and published["ready"] is False
    ok, reason, msg = conditions(rsp)["ChangePending"]
    assert ok and reason == "PreparingUpgrade"
    assert "from PostgreSQL 16.4 to 17" in msg and published["identifier"] in msg


@pytest.mark.parametrize(("snapshot", "group"), [(True, False), (False, True)])
def test_the_upgrade_waits_for_both_the_snapshot_and_the_group(snapshot, group):
    out = desired(upgrade_to("17", at_rest()))
    observed = [
        *at_rest(),
        observed_as_desired(out[SNAPSHOT], SNAPSHOT, ready=snapshot),
        observed_as_desired(out[NEW_GROUP], NEW_GROUP, ready=group),
    ]
    rsp = upgrade_to("17", observed)
    assert fp(desired(rsp))["engineVersion"] == "16"
    _, _, msg = conditions(rsp)["ChangePending"]
    assert ("for the snapshot" in msg) is not snapshot
    assert ("parameter group" in msg) is not group


def started(running: str = "16.4", replica: bool = False, **at) -> list[dict]:
    """The primary once the upgrade to 17 was applied (engineVersion 17, the new group)."""
    xr = xr_with(plan=CLUSTER) if replica else XR
    out = desired(upgrade_to("17", at_rest(xr), xr))
    primary = observed_as_desired(out["instance"], "instance", engineVersionActual=running, **at)
    primary["spec"]["forProvider"]["engineVersion"] = "17"
    primary["spec"]["forProvider"]["parameterGroupName"] = group_name(out, NEW_GROUP)
    return [
        primary,
        observed_as_desired(out[OLD_GROUP], OLD_GROUP),
        observed_as_desired(out[NEW_GROUP], NEW_GROUP),
        observed_as_desired(out[SNAPSHOT], SNAPSHOT, dbSnapshotArn="arn:aws:rds:x:1:snapshot:s"),
    ]


def test_once_the_snapshot_and_the_group_are_ready_the_upgrade_is_applied_in_one_change():
    """terraform-provider-aws resourceInstanceUpdate: EngineVersion, AllowMajorVersionUpgrade
    and DBParameterGroupName go in one ModifyDBInstance."""
    out = desired(upgrade_to("17", at_rest()))
    observed = [
        *at_rest(),
        observed_as_desired(out[SNAPSHOT], SNAPSHOT),
        observed_as_desired(out[NEW_GROUP], NEW_GROUP),
    ]
    rsp = upgrade_to("17", observed)
    assert not warnings(rsp)
    out = desired(rsp)
    f = fp(out)
    assert f["engineVersion"] == "17" and f["allowMajorVersionUpgrade"] is True
    assert f["parameterGroupName"] == group_name(out, NEW_GROUP)
    assert OLD_GROUP in out  # the instance is still a member of it
    assert status(rsp)["preUpgradeSnapshot"]["ready"] is True


def test_while_rds_upgrades_the_old_group_and_the_snapshot_stay_and_status_says_so():
    old = group_name(desired(render_created(XR)), OLD_GROUP)
    rsp = upgrade_to("17", started("16.4", status="upgrading", parameterGroupName=old))
    out = desired(rsp)
    assert fp(out)["engineVersion"] == "17" and OLD_GROUP in out and SNAPSHOT in out
    assert status(rsp)["pendingChanges"] == [
        {"field": "engineVersion", "current": "16.4", "requested": "17"}
    ]
    ok, _, msg = conditions(rsp)["Upgrading"]
    assert ok and "from 16.4 to 17" in msg
    assert status(rsp)["preUpgradeSnapshot"]["arn"] == "arn:aws:rds:x:1:snapshot:s"


def test_the_old_group_goes_once_no_instance_names_it_and_the_snapshot_is_kept():
    new = group_name(desired(upgrade_to("17", at_rest())), NEW_GROUP)
    rsp = upgrade_to("17", started("17.5", parameterGroupName=new))
    out = desired(rsp)
    assert OLD_GROUP not in out and NEW_GROUP in out
    assert fp(out)["parameterGroupName"] == new and SNAPSHOT in out
    assert "pendingChanges" not in status(rsp)
    assert conditions(rsp)["ChangePending"][:2] == (False, "NoChangePending")


def test_replicas_get_no_engine_version_and_move_to_the_new_group_after_the_primary():
    """RDS upgrades in-Region read replicas with the primary (RDS User Guide,
    USER_UpgradeDBInstance.PostgreSQL.MajorVersion); Terraform's engine_version
    ConflictsWith replicate_source_db."""
    cluster = xr_with(plan=CLUSTER)
    base = desired(render_created(cluster, observed=[observed_primary(cluster)]))
    old = group_name(base, OLD_GROUP)
    replica = observed_as_desired(base["replica-1"], "replica-1", parameterGroupName=old)
    replica["spec"]["forProvider"]["parameterGroupName"] = old
    upgrading = upgrade_to("17", [*started("16.4", replica=True), replica], cluster)
    out = desired(upgrading)
    assert "engineVersion" not in fp(out, "replica-1")
    assert fp(out, "replica-1")["parameterGroupName"] == old
    done = upgrade_to("17", [*started("17.5", replica=True), replica], cluster)
    out = desired(done)
    assert fp(out, "replica-1")["parameterGroupName"] == group_name(out, NEW_GROUP)
    assert OLD_GROUP in out  # the replica is still a member of the old group


def kept_as_it_was(rsp, observed: list[dict], xr: dict = XR) -> None:
    """A refusal keeps everything: exactly what the instance at rest renders."""
    assert not fatal_messages(rsp)
    out, rest = desired(rsp), desired(render_created(xr, observed=observed))
    assert sorted(out) == sorted(rest)
    assert out["instance"] == rest["instance"]


@pytest.mark.parametrize(
    ("running", "version", "said"),
    [
        ("14.17", "16", "one major version at a time: from 14.17 the next is '15'"),
        ("15.12", "17.4", "the next is '16'"),
    ],
)
def test_skipping_a_major_is_refused_naming_the_next_one(running, version, said):
    xr = xr_with(serviceVersion=running.split(".")[0])
    observed = at_rest(xr, running)
    rsp = upgrade_to(version, observed, xr)
    (msg,) = [w for w in warnings(rsp) if "serviceVersion" in w]
    assert msg.startswith("spec.serviceVersion:") and said in msg, msg
    kept_as_it_was(rsp, observed, xr)


def test_a_major_upgrade_waits_while_another_change_is_pending():
    observed = at_rest(instanceClass="db.t4g.nano")  # the plan's class not applied yet
    rsp = upgrade_to("17", observed)
    (msg,) = [w for w in warnings(rsp) if "serviceVersion" in w]
    assert "another change is still pending (instance class db.t4g.nano" in msg, msg
    kept_as_it_was(rsp, observed)


def test_a_major_upgrade_of_an_instance_not_ready_is_refused():
    observed = at_rest()
    observed[0]["status"]["conditions"][0]["status"] = "False"
    rsp = upgrade_to("17", observed)
    (msg,) = [w for w in warnings(rsp) if "serviceVersion" in w]
    assert "once it is Ready" in msg
    assert SNAPSHOT not in desired(rsp) and fp(desired(rsp))["engineVersion"] == "16"


def test_a_major_the_catalogue_does_not_list_is_fatal():
    rsp = upgrade_to(
        "18", at_rest(xr_with(serviceVersion="17"), "17.5"), xr_with(serviceVersion="17")
    )
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("spec.serviceVersion: unknown version '18'")
    assert not rsp.desired.resources


@settings(deadline=None, max_examples=32)
@given(
    snapshot=st.booleans(),
    group=st.booleans(),
    applied=st.booleans(),
    primary_done=st.booleans(),
    member_of_new=st.booleans(),
)
def test_no_group_an_instance_names_is_dropped_and_no_upgrade_before_its_snapshot(
    snapshot, group, applied, primary_done, member_of_new
):
    """Whatever the order in which the provider reports things: a group an observed instance
    names (asked or member of) is rendered, and the primary gets 17 only once it was applied
    or its snapshot and group are Ready."""
    primary_done = primary_done and applied  # RDS runs 17 only once it was asked for
    out = desired(upgrade_to("17", at_rest()))
    old, new = group_name(out, OLD_GROUP), group_name(out, NEW_GROUP)
    primary = observed_primary(
        XR,
        "17.5" if primary_done else "16.4",
        **AVAILABLE,
        parameterGroupName=new if member_of_new else old,
    )
    if applied:
        primary["spec"]["forProvider"]["engineVersion"] = "17"
        primary["spec"]["forProvider"]["parameterGroupName"] = new
    observed = [
        primary,
        observed_as_desired(out[OLD_GROUP], OLD_GROUP),
        observed_as_desired(out[NEW_GROUP], NEW_GROUP, ready=group),
        observed_as_desired(out[SNAPSHOT], SNAPSHOT, ready=snapshot),
    ]
    rsp = upgrade_to("17", observed)
    assert not fatal_messages(rsp)
    result = desired(rsp)
    rendered = {group_name(result, k) for k in result if k.startswith("parameter-group")}
    named = {primary["status"]["atProvider"]["parameterGroupName"]}
    named |= {primary["spec"]["forProvider"].get("parameterGroupName")} - {None}
    assert named <= rendered
    version = fp(result)["engineVersion"]
    assert (version == "17") is (applied or primary_done or (snapshot and group))
    assert SNAPSHOT in result


# --- restored instances: minor upgrades from the source's version -----------------------


def restored(version: str = "16.4", ready: bool = True) -> dict:
    body = observed_primary(XR, version, **AVAILABLE)
    body["metadata"]["annotations"][RESTORE_ANNOTATION] = '{"backup":{"arn":"snap"}}'
    body["spec"].setdefault("initProvider", {})["snapshotIdentifier"] = "snap"
    body["spec"]["forProvider"]["engineVersion"] = version
    body["status"]["conditions"][0]["status"] = "True" if ready else "False"
    return body


@pytest.mark.parametrize(
    ("claim", "rendered"),
    [("16", "16.4"), ("16.4", "16.4"), ("16.6", "16.6"), ("16.8", "16.8")],
)
def test_a_restored_instance_moves_forward_from_its_source_version(claim, rendered):
    rsp = render_created(xr_with(serviceVersion=claim), observed=[restored()])
    assert not fatal_messages(rsp)
    assert not [w for w in warnings(rsp) if "serviceVersion" in w], warnings(rsp)
    assert fp(desired(rsp))["engineVersion"] == rendered


def test_a_restored_instance_is_not_downgraded_below_its_source_version():
    rsp = render_created(xr_with(serviceVersion="16.2"), observed=[restored("16.4")])
    (msg,) = [w for w in warnings(rsp) if "serviceVersion" in w]
    assert "cannot be downgraded" in msg and "'16.2'" in msg
    assert fp(desired(rsp))["engineVersion"] == "16.4"


def test_a_major_upgrade_of_a_restore_that_has_not_finished_is_refused():
    rsp = render_created(xr_with(serviceVersion="17"), observed=[restored(ready=False)])
    (msg,) = [w for w in warnings(rsp) if "serviceVersion" in w]
    assert "still being restored" in msg and "keeping '16.4'" in msg, msg
    out = desired(rsp)
    assert fp(out)["engineVersion"] == "16.4" and SNAPSHOT not in out


def test_a_new_instance_restores_the_pre_upgrade_snapshot_its_namespace_published():
    """status.preUpgradeSnapshot vouches for the snapshot as a Backup's status does
    (function/restore.py ``_from_pre_upgrade_snapshot``)."""
    upgraded = copy.deepcopy(XR)
    rsp = upgrade_to("17", at_rest())
    upgraded["status"] = status(rsp)
    upgraded["metadata"]["name"] = "pg-db-x7k2p"  # the claim's XR, labelled as Crossplane does
    taken = upgraded["status"]["preUpgradeSnapshot"]["identifier"]
    claim = xr_with(
        serviceVersion="16",
        restore={"backup": {"arn": taken}},
    )
    claim["metadata"] = {**claim["metadata"], "name": "pg-db-before-17", "uid": "u-2"}
    required = {"restore-backup": [], restore.UPGRADE_SNAPSHOTS_REQUIREMENT: [upgraded]}
    rsp = render_created(claim, required=required)
    assert not fatal_messages(rsp), fatal_messages(rsp)
    body = desired(rsp)["instance"]
    assert body["spec"]["initProvider"]["snapshotIdentifier"] == taken
    assert fp(desired(rsp))["engineVersion"] == "16.4"  # what the snapshot holds
    claim["spec"]["serviceVersion"] = "17"
    (msg,) = fatal_messages(render_created(claim, required=required))
    assert "runs PostgreSQL 16.4" in msg


# --- the twin: an upgrade and a plan change end to end -----------------------------------


def test_the_twin_upgrades_and_resizes_a_running_instance_and_its_binding_keeps_working():
    """tools/twin.py: Crossplane and the providers over one fake cluster; the rds Instance
    model reports what RDS runs after the ModifyDBInstance (tools/providers.py
    ``_rds_instance``: engineVersionActual, instanceClass, parameterGroupName)."""
    xrs = {x["metadata"]["name"]: x for x in example_xrs()}
    instance = xrs["pg-db-8e1d6"]
    binding = next(
        x
        for x in xrs.values()
        if x["kind"] == "XServiceBinding" and x["spec"]["instanceRef"] == "pg-db"
    )
    cp = ControlPlane(call=fn.run)
    key, bkey = cp.create(instance), cp.create(binding)
    cp.until_stable()
    before = cp.cluster.connection_details(cp.xr(bkey))
    assert before and cp.xr(key)["status"]["engineVersion"] == "16.4"

    edited = cp.xr(key)
    edited["spec"]["serviceVersion"] = "17"
    edited["spec"]["plan"] = "single-small"
    edited["spec"]["config"]["applyChanges"] = "immediately"
    cp.cluster.put(edited)
    cp.round()  # the class changes at once; the snapshot and the new group come first
    pending = {c["type"]: c for c in cp.xr(key)["status"]["conditions"]}["ChangePending"]
    assert pending["reason"] == "PreparingUpgrade", pending
    cp.until_stable()

    xr = cp.xr(key)
    s = xr["status"]
    assert s["engineVersion"] == "17.4" and "pendingChanges" not in s
    assert s["preUpgradeSnapshot"]["ready"] is True
    assert s["preUpgradeSnapshot"]["engineVersion"] == "16.4"
    composed = cp.composed[key]
    assert "parameter-group" not in composed and "parameter-group-postgres17" in composed
    primary = cp.cluster.get(composed["instance"])
    at = primary["status"]["atProvider"]
    assert at["instanceClass"] == "db.t4g.medium" and at["engineVersionActual"] == "17.4"
    group = cp.cluster.get(composed["parameter-group-postgres17"])
    assert (
        primary["spec"]["forProvider"]["parameterGroupName"]
        == group["metadata"]["annotations"]["crossplane.io/external-name"]
    )
    assert group["spec"]["forProvider"]["family"] == "postgres17"
    conditions = {c["type"]: c["status"] for c in xr["status"]["conditions"]}
    assert conditions["Ready"] == "True" and conditions["ChangePending"] == "False"
    # The binding's Secret is the same: same endpoint, same user.
    assert cp.cluster.connection_details(cp.xr(bkey)) == before
    assert {c["type"]: c["status"] for c in cp.xr(bkey)["status"]["conditions"]}["Ready"] == "True"


def test_an_upgrade_under_way_is_held_not_dropped_while_another_change_is_pending():
    """The plan changed with the major (maintenance window): the snapshot stays and the
    version waits for RDS to apply the class; a major never goes with a pending change."""
    out = desired(upgrade_to("17", at_rest()))
    observed = [
        *at_rest(instanceClass="db.t4g.nano"),  # another class asked, not running yet
        observed_as_desired(out[SNAPSHOT], SNAPSHOT),
        observed_as_desired(out[NEW_GROUP], NEW_GROUP),
    ]
    rsp = upgrade_to("17", observed)
    assert not [w for w in warnings(rsp) if "serviceVersion" in w], warnings(rsp)
    out = desired(rsp)
    assert SNAPSHOT in out and NEW_GROUP in out
    f = fp(out)
    assert f["engineVersion"] == "16" and f["parameterGroupName"] == group_name(out, OLD_GROUP)
    ok, reason, msg = conditions(rsp)["ChangePending"]
    assert ok and reason == "PreparingUpgrade" and "RDS to apply instance class" in msg, msg
