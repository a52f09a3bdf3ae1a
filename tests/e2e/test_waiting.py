"""A binding whose instance does not exist waits, and says so: READY False with a message
naming the instance (DESIGN.md section 6, "Readiness and status").

This failed on the code before issue 27 item 2 (commit 5012bc6, run on this control plane): the
function returned no composed resources for such a binding and left the XR's readiness to
Crossplane, which calls an XR with no composed resources Available (crossplane v2.3.4
internal/controller/apiextensions/composite/reconciler.go); the claim showed READY True. The
function now sets the composite's readiness to False whenever it waits (function/fn.py).
"""

from __future__ import annotations

import pytest

from tests.e2e import claims
from tests.e2e.controlplane import condition_line, conditions
from tests.e2e.processes import wait_for

pytestmark = pytest.mark.e2e

TIMEOUT = 120
MISSING = "e2e-no-such-instance"

CASES = {
    "ObjectStorageBinding": ("objectstoragebinding", "s3-binding-example.yaml"),
    "ServiceBinding": ("servicebinding", "pg-binding-example.yaml"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_binding_of_a_missing_instance_is_not_ready(plane, kind):
    folder, file = CASES[kind]
    claim = claims.example(folder, file, name=f"e2e-waits-{kind.lower()}", instanceRef=MISSING)
    plane.apply(claim)
    try:
        # The function's DependencyReady condition (target COMPOSITE_AND_CLAIM, function/refs.py)
        # reaches the claim once Crossplane ran the pipeline and the claim reconciler copied the
        # XR's conditions (crossplane v2.3.4 internal/controller/apiextensions/claim/
        # reconciler.go: custom conditions copied, then Ready from the XR's Ready).
        claims.wait_claim(
            plane,
            claim,
            "the function's DependencyReady condition",
            lambda o: claims.has_condition(o, "DependencyReady"),
            TIMEOUT,
        )

        def settled():
            obj, xr = claims.get_claim(plane, claim), claims.get_xr(plane, claim)
            ready = conditions(obj).get("Ready", {}).get("status")
            return obj if xr and ready == conditions(xr).get("Ready", {}).get("status") else None

        obj = wait_for("the claim's Ready to follow its XR's", settled, TIMEOUT)
        ready = conditions(obj)["Ready"]
        assert ready["status"] == "False", (
            f"{kind} naming the missing instance {MISSING!r} is READY {ready['status']} "
            f"({ready.get('reason')}); it must be READY False, waiting. Conditions: "
            f"{condition_line(obj)}"
        )
        messages = [c.get("message") or "" for c in conditions(obj).values()]
        assert any(MISSING in m for m in messages), (
            f"no condition of the claim names what it waits for ({MISSING!r}): "
            f"{condition_line(obj)}"
        )
    finally:
        claims.delete(plane, claim)
