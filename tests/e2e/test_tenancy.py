"""Cross-namespace references are refused on the real control plane (DESIGN.md section 5):
a claim names other claims by name only, found in its own namespace (the function asks for
them with the claim labels ``crossplane.io/claim-name`` and ``crossplane.io/claim-namespace``);
a raw snapshot ARN no Backup of the namespace published is refused."""

from __future__ import annotations

import json

import pytest

from tests.e2e import claims
from tests.e2e.controlplane import condition_line, conditions
from tests.e2e.processes import wait_for

pytestmark = pytest.mark.e2e

TIMEOUT = 120
TEAM_A, TEAM_B = "e2e-team-a", "e2e-team-b"
CREDENTIAL_KINDS = {"User", "AccessKey", "Policy", "UserPolicyAttachment"}


@pytest.fixture(scope="module")
def namespaces(plane):
    for ns in (TEAM_A, TEAM_B):
        plane.kubectl("create", "namespace", ns)
    yield TEAM_A, TEAM_B
    for ns in (TEAM_A, TEAM_B):
        plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _xr_after_the_function_ran(plane, claim):
    """The claim's XR once Crossplane ran the pipeline (the XR has a Synced condition)."""
    return wait_for(
        f"the XR of {claim['metadata']['namespace']}/{claim['metadata']['name']} with Synced",
        lambda: (xr := claims.get_xr(plane, claim)) and "Synced" in conditions(xr) and xr,
        TIMEOUT,
    )


def test_binding_does_not_reach_another_namespaces_bucket(plane, namespaces):
    team_a, team_b = namespaces
    instance = claims.example(
        "objectstorageinstance", "s3-instance-example.yaml", name="shared", namespace=team_a
    )
    binding = claims.example(
        "objectstoragebinding",
        "s3-binding-example.yaml",
        name="intruder",
        namespace=team_b,
        instanceRef="shared",
    )
    plane.apply(instance)
    try:
        claims.wait_claim(
            plane,
            instance,
            "composed (the function's EnvironmentReady condition)",
            lambda o: claims.has_condition(o, "EnvironmentReady", "True"),
            TIMEOUT,
        )
        plane.apply(binding)
        xr = _xr_after_the_function_ran(plane, binding)
        kinds = {r["kind"] for r in xr["spec"].get("resourceRefs") or []}
        assert not kinds & CREDENTIAL_KINDS, (
            f"a binding in {team_b} naming {team_a}'s instance got {sorted(kinds)}: "
            f"{condition_line(xr)}"
        )
        secret = plane.kubectl(
            "get", "secret", "-n", team_b, "my-s3-binding-creds", "-o", "json", check=False
        )
        keys = sorted(
            (json.loads(secret.stdout).get("data") or {}) if secret.returncode == 0 else {}
        )
        assert not keys, f"the binding's Secret in {team_b} has credentials: {keys}"
    finally:
        claims.delete(plane, binding)
        claims.delete(plane, instance)


def test_restore_from_a_snapshot_no_backup_of_the_namespace_published_is_refused(plane, namespaces):
    _, team_b = namespaces
    arn = "arn:aws:rds:eu-central-1:000000000000:snapshot:klutch-team-a-snapshot"
    claim = claims.example(
        "postgresqlinstance",
        "pg-instance-restore-backup.yaml",
        name="stolen",
        namespace=team_b,
        restore={"backup": {"arn": arn}},
    )
    plane.apply(claim)
    try:
        xr = wait_for(
            "the XR of the restore to be Synced False (a fatal result of the function)",
            lambda: (
                (x := claims.get_xr(plane, claim))
                and conditions(x).get("Synced", {}).get("status") == "False"
                and x
            ),
            TIMEOUT,
        )
        message = conditions(xr)["Synced"].get("message", "")
        assert "no Backup of this namespace published the snapshot" in message, message
        kinds = {r["kind"] for r in xr["spec"].get("resourceRefs") or []}
        assert "Instance" not in kinds, f"an rds Instance was composed: {sorted(kinds)}"
    finally:
        claims.delete(plane, claim)
