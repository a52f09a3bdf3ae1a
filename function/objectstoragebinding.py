"""ObjectStorageBinding -> an IAM user with least-privilege access to one bucket.

Where each claim field becomes an AWS field:
- ``spec.instanceRef``       -> the ObjectStorageInstance (same namespace), found through a
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
has are kept unchanged meanwhile, so a vanished instance deletes nothing. A ClusterUsage by the
iam User keeps the instance (and its bucket name) until the credentials are deleted.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from function import iam_policy, names
from function.claims import (
    OBJECT_STORAGE_BINDING,
    OBJECT_STORAGE_INSTANCE,
    ClaimName,
    ClaimSpec,
    ObjectStorageInstanceStatus,
    Strict,
    resource_tags,
)
from function.core import Rendered, Request, dig, parse
from function.iam_policy import Level
from function.refs import Found, claim_namespace, depend, keep_while_waiting, used_by, xr_name
from function.regions import partition
from function.resources import (
    IAM_ACCESS_KEY,
    IAM_POLICY,
    IAM_USER,
    IAM_USER_POLICY_ATTACHMENT,
    controller_ref_selector,
    managed,
)

INSTANCE_REQUIREMENT = "instance"
# Label on each composed Policy, so each attachment selects exactly its own policy.
POLICY_LABEL = "klutch.anynines.com/policy"
MAX_SCOPED = 10
PREFIX_MAX = 256

# Object key prefixes: S3's "safe" characters plus '=', '+', ',', '@', ':'. No '*', '?' or
# '$': they are wildcards or policy variables in IAM and would widen the grant.
Prefix = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!_.'()/=+,@:-]{1,256}$")]


class ScopedAccess(Strict):
    """One prefix and the level objects under it get."""

    prefix: Prefix
    permissions: Level


class Spec(ClaimSpec):
    """An ObjectStorageBinding claim's spec."""

    instanceRef: ClaimName
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


def render(req: Request) -> Rendered:
    """Render an ObjectStorageBinding (see the module docstring for the field map): wait for
    the instance, then the IAM user, its policies and their attachments, its access key, the
    status and the Secret."""
    spec = parse(Spec, req.xr.get("spec") or {}, "spec")
    namespace = claim_namespace(req, "spec.instanceRef")
    out = Rendered()
    found = depend(
        req,
        out,
        OBJECT_STORAGE_INSTANCE,
        spec.instanceRef,
        ObjectStorageInstanceStatus,
        field="spec.instanceRef",
        key=INSTANCE_REQUIREMENT,
        check=instance_problem,
    )
    if found is None:
        return _wait(req, out)
    instance = found.status
    who = names.identity(req)
    user = names.iam_user_name(who)
    tags = resource_tags(req, OBJECT_STORAGE_BINDING, None, "spec")
    docs = _policy_documents(spec, instance)
    res = out.resources
    res["user"] = managed(
        IAM_USER, req.provider_config, {"forceDestroy": True, "tags": tags}, external_name=user
    )
    # The bucket (and its name) must outlive the credentials: once deleted, anyone may create a
    # bucket of that name, and an app still holding this Secret would write into it.
    used_by(out, OBJECT_STORAGE_INSTANCE, xr_name(found), "user")
    for i, doc in enumerate(docs):
        res.update(_policy(req, i, doc, namespace=namespace, user=user, tags=tags))
    res["access-key"] = _access_key(req, who)
    out.status = {
        "bucketName": instance.bucketName,
        "bucketArn": instance.bucketArn,
        "region": instance.region,
        "iamUserName": user,
        "policies": len(docs),
    }
    out.connection_details = publishable(req, out.status, len(docs))
    return out


def _policy_documents(spec: Spec, instance: ObjectStorageInstanceStatus) -> list[str]:
    """The binding's permissions on the instance's bucket, as policy documents
    (``iam_policy.policy_documents``: split when over IAM's size)."""
    return iam_policy.policy_documents(
        bucket_arn=instance.bucketArn,
        level=spec.permissions,
        scoped=[(e.prefix, e.permissions) for e in spec.scopedAccess],
        plan=instance.plan,
        region=instance.region,
        arn_partition=partition(instance.region),
        kms_key_arn=instance.kmsKeyArn,
    )


def _policy(
    req: Request, index: int, doc: str, *, namespace: str, user: str, tags: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Policy ``index`` and its attachment to the user, which selects it by label."""
    key = resource_key("policy", index)
    policy = managed(
        IAM_POLICY,
        req.provider_config,
        {
            # description, name and path are ForceNew in Terraform's aws_iam_policy
            # (terraform-provider-aws internal/service/iam/policy.go), and upjet does not
            # replace a resource: each is derived from the binding alone, never from its
            # bucket or permissions, so re-pointing or narrowing the binding updates the
            # policy document in place.
            "description": policy_description(namespace, req.claim_name),
            "policy": doc,
            "tags": tags,
        },
        external_name=policy_name(user, index),
    )
    policy["metadata"]["labels"] = {POLICY_LABEL: key}
    attachment = managed(
        IAM_USER_POLICY_ATTACHMENT,
        req.provider_config,
        {
            "userSelector": controller_ref_selector(),
            "policyArnSelector": {**controller_ref_selector(), "matchLabels": {POLICY_LABEL: key}},
        },
    )
    return {key: policy, resource_key("policy-attachment", index): attachment}


def _access_key(req: Request, who: names.Identity) -> dict[str, Any]:
    """The user's access key; its connection details go to an internal Secret."""
    return managed(
        IAM_ACCESS_KEY,
        req.provider_config,
        {"userSelector": controller_ref_selector()},
        connection_secret=(
            names.internal_secret_name("accesskey", who),
            req.settings.internalSecretNamespace,
        ),
    )


def resource_key(base: str, index: int) -> str:
    """``policy``, ``policy-2``, ``policy-3``...: the first keeps the plain name."""
    return base if index == 0 else f"{base}-{index + 1}"


def policy_description(namespace: str, claim_name: str) -> str:
    """The iam Policy's description: names the binding only (AWS allows 1,000 characters)."""
    return f"Object storage access of ObjectStorageBinding {namespace}/{claim_name}"[:1000]


def policy_name(user: str, index: int) -> str:
    """IAM policy names live apart from user names: the user's name, numbered from the 2nd."""
    return user if index == 0 else f"{user}-{index + 1}"


def instance_problem(found: Found[ObjectStorageInstanceStatus]) -> str:
    """What is still wrong with a Ready instance's status for a binding ("" when nothing)."""
    inst = found.status
    if dig(found.xr, "spec.parameters.encryption.type") == "kms" and not inst.kmsKeyArn:
        return "its status has no kmsKeyArn yet"
    if inst.bucketArn != f"arn:{partition(inst.region)}:s3:::{inst.bucketName}":
        return f"its status.bucketArn {inst.bucketArn!r} does not name its bucket"
    return ""


def attachments_ready(req: Request, policies: int) -> bool:
    """Every one of the binding's ``policies`` is attached: its UserPolicyAttachment is
    observed Ready (upjet marks a managed resource Ready once the provider observed it in AWS)."""
    for i in range(policies):
        attachment = req.observed.get(resource_key("policy-attachment", i))
        if attachment is None or not attachment.ready:
            return False
    return True


def publishable(req: Request, status: dict[str, Any], policies: int) -> dict[str, bytes]:
    """The claim's Secret once every policy is attached (issue 27 item 8), else nothing.

    Split over several policies, a later one may hold the Deny statements that narrow the
    earlier Allows: credentials published before it is attached would grant more than the
    binding says. Withholding them never empties a Secret already published: Crossplane
    merges the details it is given into the Secret (crossplane v2.3.4
    ``internal/controller/apiextensions/composite/api.go`` ``APIFilteredSecretPublisher``
    applies with crossplane-runtime ``APIPatchingApplicator``, a JSON merge patch).
    """
    if not attachments_ready(req, policies):
        return {}
    return connection_details(req, status)


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


def _wait(req: Request, out: Rendered) -> Rendered:
    """Keep what exists and the Secret it already had while the instance is unavailable."""
    keep_while_waiting(req, out)
    previous = ObjectStorageInstanceStatus.read(req.xr)
    if req.observed and previous is not None:
        # Re-publish what the Secret already holds, so Crossplane does not empty it.
        out.connection_details = connection_details(req, previous.model_dump())
    return out
