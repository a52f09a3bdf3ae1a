"""An ObjectStorageBinding's IAM policies: rendered, evaluated, and what they should allow.

- ``render_binding``: the resources the function renders for a binding to a ready instance;
- ``allowed``/``evaluate``: a small IAM identity-policy evaluator (explicit Deny > Allow >
  implicit deny, Action/NotAction, Resource wildcards, ``StringLike``/``StringEquals``);
- ``MAY``/``expected``: a reference model of DESIGN section 2 that does not look at the
  policy code (``function/iam_policy.py``).
"""

from __future__ import annotations

import copy
import json
from fnmatch import fnmatchcase

from function.iam_policy import PERMISSIONS
from tests.support.responses import desired, fatal_messages, render_local

LEVELS = list(PERMISSIONS)
REGION = "eu-central-1"
BUCKET = "klutch-photos-1a2b3c4d"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/ffffffff-12ab-34cd-56ef-1234567890ab"
OPS = ("list", "get", "put", "delete")

# ------------------------------------------------------------------ rendering a binding


def instance_xr(plan: str = "standard", kms: str | None = None) -> dict:
    status = {
        "bucketName": BUCKET,
        "bucketArn": BUCKET_ARN,
        "region": REGION,
        "plan": plan,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
    }
    spec = {"service": "aws-s3", "plan": plan, "region": REGION}
    if kms:
        status["kmsKeyArn"] = kms
        spec["parameters"] = {"encryption": {"type": "kms", "key": {"existing": {"id": kms}}}}
    return {
        "apiVersion": "anynines.com/v1",
        "kind": "XObjectStorageInstance",
        "metadata": {
            "name": "photos-abcde",
            "labels": {
                "crossplane.io/claim-name": "photos",
                "crossplane.io/claim-namespace": "team-a",
            },
        },
        "spec": spec,
        "status": status,
    }


BINDING_XR = {
    "apiVersion": "anynines.com/v1",
    "kind": "XObjectStorageBinding",
    "metadata": {
        "name": "photos-app-q9z8x",
        "uid": "5d1e0c1a-7b8f-4a3e-9f0e-1c2d3e4f5a6b",
        "labels": {
            "crossplane.io/claim-name": "photos-app",
            "crossplane.io/claim-namespace": "team-a",
        },
    },
    "spec": {"instanceRef": "photos"},
}


def binding_xr(level: str | None = None, scoped=()) -> dict:
    xr = copy.deepcopy(BINDING_XR)
    if level:
        xr["spec"]["permissions"] = level
    if scoped:
        xr["spec"]["scopedAccess"] = [{"prefix": p, "permissions": lv} for p, lv in scoped]
    return xr


def render_binding(level: str, scoped=(), plan="standard", kms=None) -> dict[str, dict]:
    rsp = render_local(binding_xr(level, scoped), required={"instance": [instance_xr(plan, kms)]})
    assert not fatal_messages(rsp)
    return desired(rsp)


def policy_docs(resources: dict[str, dict]) -> list[dict]:
    return [
        json.loads(body["spec"]["forProvider"]["policy"])
        for _, body in sorted(resources.items())
        if body["kind"] == "Policy"
    ]


# ------------------------------------------------------------------ reference model (DESIGN 2)

# What each level may do, straight from DESIGN section 2 (not from function/iam_policy.py).
MAY = {
    "listOnly": {"list"},
    "readOnly": {"list", "get"},
    "writeOnly": {"put", "delete"},
    "readWrite": {"list", "get", "put", "delete"},
    "admin": {"list", "get", "put", "delete", "restore"},
}


def effective(level: str, scoped, key_or_prefix: str) -> str:
    for prefix, lv in scoped:
        if key_or_prefix.startswith(prefix):
            return lv
    return level


def expected(level: str, scoped, op: str, key: str) -> bool:
    return op in MAY[effective(level, scoped, key)]


# ------------------------------------------------------------------ our IAM evaluator

ACTION = {
    "get": "s3:GetObject",
    "put": "s3:PutObject",
    "delete": "s3:DeleteObject",
    "restore": "s3:RestoreObject",
    "abort": "s3:AbortMultipartUpload",
}


def as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def _condition_holds(cond: dict | None, context: dict[str, str]) -> bool:
    for operator, tests in (cond or {}).items():
        for key, values in tests.items():
            if key not in context:
                return False
            got = context[key]
            if operator == "StringLike":
                ok = any(fnmatchcase(got, v) for v in as_list(values))
            elif operator == "StringEquals":
                ok = got in as_list(values)
            else:
                raise AssertionError(f"evaluator does not know condition operator {operator}")
            if not ok:
                return False
    return True


def _matches(stmt: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    assert "NotResource" not in stmt and "Principal" not in stmt
    if "Action" in stmt:
        hit = any(fnmatchcase(action.lower(), a.lower()) for a in as_list(stmt["Action"]))
    else:
        hit = not any(fnmatchcase(action.lower(), a.lower()) for a in as_list(stmt["NotAction"]))
    return (
        hit
        and any(fnmatchcase(resource, r) for r in as_list(stmt["Resource"]))
        and _condition_holds(stmt.get("Condition"), context)
    )


def allowed(docs: list[dict], action: str, resource: str, context=None) -> bool:
    """IAM identity-policy evaluation: explicit Deny, then Allow, else implicit deny."""
    stmts = [s for d in docs for s in d["Statement"]]
    ctx = context or {}
    if any(s["Effect"] == "Deny" and _matches(s, action, resource, ctx) for s in stmts):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, action, resource, ctx) for s in stmts)


def evaluate(docs: list[dict], op: str, key: str) -> bool:
    """``key`` is the object key, or the ``prefix`` parameter of a list request."""
    if op == "list":
        ctx = {"s3:prefix": key} if key else {}
        return allowed(docs, "s3:ListBucket", BUCKET_ARN, ctx)
    return allowed(docs, ACTION[op], f"{BUCKET_ARN}/{key}")


# Ten long scoped prefixes (100 characters each).
LONG = tuple((f"{i}" + "p" * 98 + "/", LEVELS[i % len(LEVELS)]) for i in range(10))
# The longest prefixes the XRD allows (256 characters): the set no longer fits one policy.
LONGEST = tuple((f"{i}" + "q" * 254 + "/", LEVELS[(i + 2) % len(LEVELS)]) for i in range(10))
