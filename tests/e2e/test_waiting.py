"""A binding whose instance does not exist waits, and says so: READY False with a message
naming the instance (DESIGN.md section 6, "Readiness and status").

Known defect on today's code (issue 23): the function returns no composed resources for such a
binding and leaves the XR's readiness to Crossplane, which calls an XR with no composed
resources Available; the claim shows READY True. Marked xfail(strict=True) until the fix
lands: then these pass, strict xfail fails, and the mark must go.
"""

from __future__ import annotations

import pytest

from tests.e2e import claims
from tests.e2e.controlplane import condition_line, conditions

pytestmark = pytest.mark.e2e

TIMEOUT = 120
MISSING = "e2e-no-such-instance"
DEFECT = (
    "known defect (issue 23): a binding waiting for a missing instance reports READY True "
    "(no composed resources; Crossplane marks the XR Available); fixed in function/ by another "
    "change: remove this mark when it lands"
)

CASES = {
    "ObjectStorageBinding": ("objectstoragebinding", "s3-binding-example.yaml"),
    "ServiceBinding": ("servicebinding", "pg-binding-example.yaml"),
}


@pytest.mark.xfail(strict=True, reason=DEFECT)
@pytest.mark.parametrize("kind", sorted(CASES))
def test_binding_of_a_missing_instance_is_not_ready(plane, kind):
    folder, file = CASES[kind]
    claim = claims.example(folder, file, name=f"e2e-waits-{kind.lower()}", instanceRef=MISSING)
    plane.apply(claim)
    try:
        # Wait until Crossplane has run the function and set readiness (either way).
        obj = claims.wait_claim(
            plane,
            claim,
            "a Ready condition (Crossplane ran the pipeline)",
            lambda o: claims.has_condition(o, "Ready") and claims.has_condition(o, "Synced"),
            TIMEOUT,
        )
        ready = conditions(obj)["Ready"]
        assert ready["status"] == "False", (
            f"{kind} naming the missing instance {MISSING!r} is READY {ready['status']} "
            f"({ready.get('reason')}); it must be READY False, waiting. Conditions: "
            f"{condition_line(obj)}"
        )
        assert MISSING in (ready.get("message") or ""), (
            f"READY False must name what it waits for ({MISSING!r}): {condition_line(obj)}"
        )
    finally:
        claims.delete(plane, claim)
