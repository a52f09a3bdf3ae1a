"""ObjectStorageBinding -> an IAM user with least-privilege access to one bucket.

Where each claim field becomes an AWS field:
- ``spec.instanceRef.name``  -> the ObjectStorageInstance (same namespace), found through a
  requirement on its XR; its status gives bucket name/ARN, region, KMS key and plan
- ``spec.permissions``       -> the bucket-wide statements of the iam Policy
  (``iam_policy.PERMISSIONS`` is the one permission table)
- ``spec.scopedAccess``      -> the per-prefix statements of the iam Policy (split over
  several attached policies when one would exceed AWS's 6,144 characters)
- the XR's uid               -> the iam User name, the internal Secret of the AccessKey
- AccessKey connection details ``username``/``password`` -> the Secret keys
  ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (plus region, bucket and endpoint)

Until the instance exists, is Ready and shows its bucket in its status, the binding renders
nothing new, says what it waits for, and publishes no credentials. Resources it already
has are kept unchanged meanwhile, so a vanished instance deletes nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from function import iam_policy, names
from function.core import (
    Condition,
    Rendered,
    Request,
    dig,
    is_ready,
    merge_tags,
    parse,
)
from function.iam_policy import Level
from function.kms import KMS_KEY_ARN
from function.refs import claim_namespace, claim_xr_requirement, waiting
from function.regions import REGIONS, partition
from function.resources import (
    IAM_ACCESS_KEY,
    IAM_POLICY,
    IAM_USER,
    IAM_USER_POLICY_ATTACHMENT,
    controller_ref_selector,
    managed,
)

INSTANCE_KIND = "XObjectStorageInstance"
INSTANCE_REQUIREMENT = "instance"
CONDITION_TYPE = "InstanceReady"
# Label on each composed Policy, so each attachment selects exactly its own policy.
POLICY_LABEL = "klutch.anynines.com/policy"
MAX_SCOPED = 10
PREFIX_MAX = 256

# Object key prefixes: S3's "safe" characters plus '=', '+', ',', '@', ':'. No '*', '?' or
# '$': they are wildcards or policy variables in IAM and would widen the grant.
Prefix = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!_.'()/=+,@:-]{1,256}$")]
K8sName = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)
]
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceRef(_Strict):
    name: K8sName


class ScopedAccess(_Strict):
    prefix: Prefix
    permissions: Level


class Spec(BaseModel):
    # Crossplane adds its own fields (compositionRef, claimRef, ...) to the XR spec.
    model_config = ConfigDict(extra="ignore", frozen=True)

    instanceRef: InstanceRef
    permissions: Level = "readWrite"
    scopedAccess: list[ScopedAccess] = Field(default_factory=list, max_length=MAX_SCOPED)

    @field_validator("scopedAccess")
    @classmethod
    def _no_nesting(cls, entries: list[ScopedAccess]) -> list[ScopedAccess]:
        for i, a in enumerate(entries):
            for j, b in enumerate(entries):
                if i != j and b.prefix.startswith(a.prefix):
                    how = "repeats" if a.prefix == b.prefix else "is inside"
                    raise ValueError(
                        f"prefix {b.prefix!r} (entry {j}) {how} prefix {a.prefix!r} (entry {i}): "
                        "scoped prefixes must not nest or repeat"
                    )
        return entries


class Instance(BaseModel):
    """What the binding needs from the instance's status (validated, never trusted)."""

    bucketName: str
    bucketArn: str
    region: str
    plan: str | None = None
    kmsKeyArn: str | None = None


def render(req: Request) -> Rendered:
    spec = parse(Spec, req.xr.get("spec") or {}, "spec")
    namespace = claim_namespace(req, "spec.instanceRef")
    out = Rendered()
    ref = spec.instanceRef.name
    out.requirements[INSTANCE_REQUIREMENT] = claim_xr_requirement(INSTANCE_KIND, ref, namespace)
    instance, why = find_instance(req.required.get(INSTANCE_REQUIREMENT))
    waiting = f"waiting for ObjectStorageInstance {ref} in namespace {namespace}"
    if instance is None:
        return _wait(req, out, f"{waiting}: {why}")

    s = req.settings
    arn_partition = partition(instance.region)
    user = names.iam_user_name(s.namingPrefix, namespace, req.claim_name, req.uid)
    tags = merge_tags(s, {"claim-namespace": namespace, "claim-name": req.claim_name[:256]})
    docs = iam_policy.policy_documents(
        bucket_arn=instance.bucketArn,
        level=spec.permissions,
        scoped=[(e.prefix, e.permissions) for e in spec.scopedAccess],
        plan=instance.plan,
        region=instance.region,
        arn_partition=arn_partition,
        kms_key_arn=instance.kmsKeyArn,
    )

    res = out.resources
    res["user"] = managed(IAM_USER, s, {"forceDestroy": True, "tags": tags}, external_name=user)
    for i, doc in enumerate(docs):
        key = resource_key("policy", i)
        policy = managed(
            IAM_POLICY,
            s,
            {
                # AWS cannot change a policy's description in place: keep it independent
                # of the permissions, so editing them updates the policy, not replaces it.
                "description": f"Access to bucket {instance.bucketName}"
                f" for {namespace}/{req.claim_name}"[:1000],
                "policy": doc,
                "tags": tags,
            },
            external_name=policy_name(user, i),
        )
        policy["metadata"]["labels"] = {POLICY_LABEL: key}
        res[key] = policy
        res[resource_key("policy-attachment", i)] = managed(
            IAM_USER_POLICY_ATTACHMENT,
            s,
            {
                "userSelector": controller_ref_selector(),
                "policyArnSelector": {
                    **controller_ref_selector(),
                    "matchLabels": {POLICY_LABEL: key},
                },
            },
        )
    res["access-key"] = managed(
        IAM_ACCESS_KEY,
        s,
        {"userSelector": controller_ref_selector()},
        connection_secret=(
            names.internal_secret_name("accesskey", req.uid),
            s.internalSecretNamespace,
        ),
    )

    out.status = {
        "bucketName": instance.bucketName,
        "bucketArn": instance.bucketArn,
        "region": instance.region,
        "iamUserName": user,
        "policies": len(docs),
    }
    out.conditions.append(
        Condition(CONDITION_TYPE, True, "Available", f"ObjectStorageInstance {ref} is ready")
    )
    out.connection_details = connection_details(req, out.status)
    return out


def resource_key(base: str, index: int) -> str:
    """``policy``, ``policy-2``, ``policy-3``...: the first keeps the plain name."""
    return base if index == 0 else f"{base}-{index + 1}"


def policy_name(user: str, index: int) -> str:
    """IAM policy names live apart from user names: the user's name, numbered from the 2nd."""
    return user if index == 0 else f"{user}-{index + 1}"


def find_instance(found: list[dict] | None) -> tuple[Instance | None, str]:
    """The instance's bucket, or None and why not."""
    if found is None:
        return None, "looking it up"
    if not found:
        return None, "it does not exist"
    if len(found) > 1:
        return None, f"{len(found)} instances match, expected one"
    xr = found[0]
    if not is_ready(xr):
        return None, "it is not ready yet"
    st = dig(xr, "status") or {}
    missing = [k for k in ("bucketName", "bucketArn", "region") if not st.get(k)]
    if missing:
        return None, f"its status has no {', '.join(missing)} yet"
    wants_kms = dig(xr, "spec.parameters.encryption.type") == "kms"
    if wants_kms and not st.get("kmsKeyArn"):
        return None, "its status has no kmsKeyArn yet"
    inst = Instance(
        bucketName=str(st["bucketName"]),
        bucketArn=str(st["bucketArn"]),
        region=str(st["region"]),
        plan=str(st.get("plan") or dig(xr, "spec.plan") or "") or None,
        kmsKeyArn=str(st["kmsKeyArn"]) if st.get("kmsKeyArn") else None,
    )
    problem = _invalid(inst)
    return (None, problem) if problem else (inst, "")


def _invalid(inst: Instance) -> str:
    if inst.region not in REGIONS:
        return f"its status.region {inst.region!r} is not an AWS region"
    if not _BUCKET.match(inst.bucketName):
        return f"its status.bucketName {inst.bucketName!r} is not a bucket name"
    if inst.bucketArn != f"arn:{partition(inst.region)}:s3:::{inst.bucketName}":
        return f"its status.bucketArn {inst.bucketArn!r} does not name its bucket"
    if inst.kmsKeyArn and not KMS_KEY_ARN.match(inst.kmsKeyArn):
        return f"its status.kmsKeyArn {inst.kmsKeyArn!r} is not a KMS key ARN"
    return ""


def connection_details(req: Request, status: dict[str, Any]) -> dict[str, bytes]:
    """The claim's Secret, once the AccessKey's own connection details exist (else empty)."""
    key = req.observed.get("access-key")
    details = key.connection_details if key else {}
    key_id, secret = details.get("username"), details.get("password")
    if not key_id or not secret:
        return {}
    region = str(status["region"])
    return {
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": region.encode(),
        "BUCKET_NAME": str(status["bucketName"]).encode(),
        "BUCKET_ARN": str(status["bucketArn"]).encode(),
        "S3_ENDPOINT": iam_policy.s3_endpoint(region, partition(region)).encode(),
    }


def _wait(req: Request, out: Rendered, message: str) -> Rendered:
    """Say what we wait for; keep what exists and the Secret it already had."""
    waiting(out, message, "WaitingForInstance", CONDITION_TYPE)
    if req.observed:
        out.keep_desired = True
        previous = req.xr.get("status") or {}
        if all(previous.get(k) for k in ("bucketName", "bucketArn", "region")) and (
            previous["region"] in REGIONS
        ):
            # Re-publish what the Secret already holds, so Crossplane does not empty it.
            out.connection_details = connection_details(req, previous)
    return out
