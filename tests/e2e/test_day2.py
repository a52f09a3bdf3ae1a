"""Day-2 on the real control plane (issue 25): a running PostgresqlInstance gets a larger plan
and the next major; the pre-upgrade snapshot comes first; a ServiceBinding's DATABASE_URL
works before and after.

The fake provider (tests/e2e/fakeaws/aws.py ``_version_diffs``) sends the version and
parameter group change as provider-upjet-aws would and moto applies it; its PostgreSQL server
stays what it is (a binary of one version), so what is checked is what Crossplane, the function
and the provider do, and that the binding keeps working through it.
"""

from __future__ import annotations

import pytest

from tests.e2e import claims
from tests.e2e.controlplane import conditions
from tests.e2e.test_examples import PG_KEYS, READY_TIMEOUT, _connect, _wait_secret

pytestmark = pytest.mark.e2e

NAME = "e2e-day2"
SECRET = "e2e-day2-credentials"
CHANGE_TIMEOUT = 600  # a snapshot, a parameter group, then the modify (about 1 min unloaded)


def _ready(obj: dict) -> bool:
    return claims.has_condition(obj, "Ready", "True") and claims.has_condition(
        obj, "Synced", "True"
    )


def test_a_plan_change_and_a_major_upgrade_apply_in_place_and_the_binding_keeps_working(plane):
    if not plane.fake_aws:
        pytest.skip("tests/e2e/fakeaws is not there: the AWS side cannot become Ready")
    instance = claims.example("postgresqlinstance", "pg-instance-example.yaml", name=NAME)
    binding = claims.example(
        "servicebinding",
        "pg-binding-example.yaml",
        name=f"{NAME}-app",
        instanceRef=NAME,
        writeConnectionSecretToRef={"name": SECRET},
    )
    plane.apply(instance, binding)
    try:
        claims.wait_claim(plane, instance, "Synced and Ready", _ready, READY_TIMEOUT)
        # The binding's membership grant comes once its Role is Ready (pg_grants.after_role),
        # which can take provider-sql longer than the Secret wait's minute: wait for the claim.
        claims.wait_claim(plane, binding, "Synced and Ready", _ready, READY_TIMEOUT)
        before = _wait_secret(plane, "default", SECRET, PG_KEYS)
        db = _connect(before["DATABASE_URL"])
        db.run("CREATE TABLE IF NOT EXISTS visits (n int)")
        db.run("INSERT INTO visits VALUES (1)")
        db.close()

        # The guide's edit (docs/user-guide.md, "Upgrading and resizing").
        instance["spec"]["plan"] = "single-small"
        instance["spec"]["serviceVersion"] = "17"
        instance["spec"]["config"]["applyChanges"] = "immediately"
        plane.apply(instance)

        def upgraded(obj: dict) -> bool:
            s = obj.get("status") or {}
            taken = s.get("preUpgradeSnapshot") or {}
            return (
                str(s.get("engineVersion", "")).split(".")[0] == "17"
                and s.get("plan") == "single-small"
                and not s.get("pendingChanges")
                and taken.get("ready") is True
                and claims.has_condition(obj, "ChangePending", "False")
                and _ready(obj)
            )

        done = claims.wait_claim(
            plane, instance, "running 17 on single-small, nothing pending", upgraded, CHANGE_TIMEOUT
        )
        taken = done["status"]["preUpgradeSnapshot"]
        assert taken["engineVersion"].split(".")[0] == "16", taken
        assert conditions(done)["Upgrading"]["status"] == "False"
        xr = claims.get_xr(plane, instance) or {}
        refs = {r["name"]: r for r in xr.get("spec", {}).get("resourceRefs") or []}
        groups = [r for r in refs.values() if r["kind"] == "ParameterGroup"]
        assert len(groups) == 1, groups  # the old family's group is gone
        (primary,) = [
            plane.get("instances.rds.aws.upbound.io", r["name"])
            for r in refs.values()
            if r["kind"] == "Instance"
        ]
        at = primary["status"]["atProvider"]
        assert at["instanceClass"] == "db.t4g.medium", at
        assert at["engineVersionActual"].split(".")[0] == "17", at

        after = _wait_secret(plane, "default", SECRET, PG_KEYS)
        assert after["DATABASE_URL"] == before["DATABASE_URL"]
        db = _connect(after["DATABASE_URL"])
        assert db.run("SELECT n FROM visits") == [[1]]
        db.close()
    finally:
        claims.delete(plane, binding)
        claims.delete(plane, instance)
