"""Day-2 for databases (issue 25): version upgrades and plan changes on a running instance."""

from __future__ import annotations

import copy

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import given
from hypothesis import strategies as st

from function.postgresql import version_key, version_move_refused
from tests.support.claims import postgresql_xr
from tests.support.responses import (
    NAME_ANNOTATION,
    desired,
    fatal_messages,
    render_created,
    status,
    warnings,
)

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
def test_a_version_move_is_allowed_exactly_when_it_goes_forward_within_the_major(old, new):
    refused = version_move_refused(old, None, new)
    (om, on), (nm, nn) = version_key(old), version_key(new)
    forward = nm == om and (on is None or nn is None or nn >= on)
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


def test_a_major_upgrade_is_refused_and_the_instance_kept():
    observed = observed_primary(XR, "16.4")
    rsp = render_created(xr_with(serviceVersion="17"), observed=[observed])
    assert not fatal_messages(rsp)
    (msg,) = [w for w in warnings(rsp) if "serviceVersion" in w]
    assert "'17'" in msg and "16.4" in msg and "keeping '16'" in msg
    assert fp(desired(rsp))["engineVersion"] == "16"
