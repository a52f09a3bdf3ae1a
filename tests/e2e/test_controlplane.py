"""The control plane is up and Crossplane calls the function: an example claim, applied as a
user applies it, is composed by this repository's function over mutual TLS."""

from __future__ import annotations

import json

import pytest

from tests.e2e import claims
from tests.e2e.controlplane import condition_line, conditions

pytestmark = pytest.mark.e2e

# Bounds: Crossplane composes within seconds of the claim; providers take longer.
COMPOSE_TIMEOUT = 120
READY_TIMEOUT = 300


def test_every_part_is_running(plane):
    plane.check_alive()
    version = json.loads(plane.kubectl("get", "--raw", "/version").stdout)
    assert (version["major"], version["minor"]) == ("1", "35"), version
    xrds = plane.get("compositeresourcedefinitions")["items"]
    assert len(xrds) == 6, [x["metadata"]["name"] for x in xrds]
    for xrd in xrds:
        c = conditions(xrd)
        assert c["Established"]["status"] == "True", condition_line(xrd)
        assert c["Offered"]["status"] == "True", condition_line(xrd)


def test_example_bucket_is_composed_by_the_function(plane):
    claim = claims.example("objectstorageinstance", "s3-instance-example.yaml")
    plane.apply(claim)
    try:
        # The function's own condition (target COMPOSITE_AND_CLAIM) reaches the claim: Crossplane
        # called it over gRPC through the FunctionRevision's endpoint.
        obj = claims.wait_claim(
            plane,
            claim,
            "the function's EnvironmentReady condition",
            lambda o: claims.has_condition(o, "EnvironmentReady", "True"),
            COMPOSE_TIMEOUT,
        )
        assert claims.has_condition(obj, "Synced", "True"), condition_line(obj)
        xr = claims.get_xr(plane, claim)
        assert xr is not None, claims.dump(obj)
        kinds = sorted(r["kind"] for r in xr["spec"].get("resourceRefs") or [])
        assert "Bucket" in kinds, f"composed resources of {xr['metadata']['name']}: {kinds}"
        assert xr["status"].get("bucketName", "").startswith("klutch-my-s3-instance-"), xr["status"]
        if not plane.fake_aws:
            pytest.skip("tests/e2e/fakeaws is not there: SYNCED/READY of the bucket not checked")
        obj = claims.wait_claim(
            plane,
            claim,
            "SYNCED True and READY True",
            lambda o: (
                claims.has_condition(o, "Synced", "True")
                and claims.has_condition(o, "Ready", "True")
            ),
            READY_TIMEOUT,
        )
    finally:
        claims.delete(plane, claim)
