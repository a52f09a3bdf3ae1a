"""ObjectStorageInstance -> a hardened S3 bucket (and a KMS key when asked).

Where each claim field becomes an AWS field:
- ``spec.region``                   -> ``forProvider.region`` of every resource (one of the
                                      environment's ``allowedRegions``)
- ``spec.plan``                     -> lifecycle transition (``PLAN_TRANSITIONS``)
- ``spec.parameters.tags``          -> ``forProvider.tags`` (plus operator defaults, ownership)
- ``spec.parameters.deletionPolicy`` -> every ``deletionPolicy``, Bucket ``forceDestroy``
- ``spec.parameters.encryption``    -> BucketServerSideEncryptionConfiguration, kms Key + Alias
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from function import names
from function.claims import (
    ARCHIVE_PLANS,
    OBJECT_STORAGE_INSTANCE,
    ClaimSpec,
    Encryption,
    EncryptionKey,
    ExistingKey,
    ObjectStorageDeletion,
    ObjectStoragePlan,
    Region,
    Strict,
    Tags,
    resource_tags,
)
from function.core import Rendered, Request, Result, Severity, parse
from function.kms import check_existing_keys, managed_key_resources, observed_managed_key
from function.regions import partition
from function.resources import (
    S3_BUCKET,
    S3_LIFECYCLE,
    S3_OWNERSHIP_CONTROLS,
    S3_POLICY,
    S3_PUBLIC_ACCESS_BLOCK,
    S3_SSE,
    DeletionPolicy,
    Kind,
    managed,
    parent_ref,
)

# plan -> (storage class, days after creation); ``standard`` has no transition.
# 30 days is the minimum AWS accepts for STANDARD_IA.
PLAN_TRANSITIONS: dict[str, tuple[str, int] | None] = {
    "standard": None,
    "infrequentaccess": ("STANDARD_IA", 30),
    "intelligent": ("INTELLIGENT_TIERING", 0),
    "archiveinstant": ("GLACIER_IR", 0),
    "archiveflexible": ("GLACIER", 0),
    "archivedeep": ("DEEP_ARCHIVE", 0),
}

# Incomplete multipart uploads are billed until aborted.
ABORT_MULTIPART_DAYS = 7


class Parameters(Strict):
    """Optional settings of an ObjectStorageInstance."""

    tags: Tags = Field(default_factory=dict)
    deletionPolicy: ObjectStorageDeletion = "DeleteInstanceKeepBucket"
    encryption: Encryption = Field(default_factory=Encryption)


class Spec(ClaimSpec):
    """An ObjectStorageInstance claim's spec."""

    service: Literal["aws-s3"]
    plan: ObjectStoragePlan
    region: Region
    parameters: Parameters = Field(default_factory=Parameters)


@dataclass(frozen=True)
class Bucket:
    """What every part of one claim's bucket shares."""

    name: str
    arn: str
    region: str
    # ``DeleteInstanceKeepBucket``: the bucket and its parts outlive the claim.
    keep: bool
    policy: DeletionPolicy
    tags: dict[str, str]


def render(req: Request) -> Rendered:
    """Render an ObjectStorageInstance (see the module docstring for the field map): check
    the claim, then the bucket, its settings, its encryption (and KMS key) and the status."""
    out = Rendered()
    asked = parse(Spec, (req.xr.get("spec") or {}), "spec")
    spec = _keep_immutable(req, asked, out)
    _check_placement(req, asked, spec)
    b = _bucket(req, spec)
    res = out.resources
    res["bucket"] = _part(
        req, b, S3_BUCKET, {"forceDestroy": not b.keep, "tags": b.tags}, external_name=b.name
    )
    res.update(_bucket_settings(req, spec, b))
    kms_resources, default, kms_arn = _default_encryption(req, spec, b)
    res.update(kms_resources)
    if default is None:
        out.waiting = True  # for the managed key's ARN, which the encryption names directly
    else:
        res["encryption"] = _encryption(req, spec, b, default)
    out.status = {
        "bucketName": b.name,
        "bucketArn": req.observed_field("bucket", "status.atProvider.arn") or b.arn,
        "region": b.region,
        "plan": spec.plan,
    }
    if kms_arn:
        out.status["kmsKeyArn"] = kms_arn
    return out


def _check_placement(req: Request, asked: Spec, spec: Spec) -> None:
    """A new bucket's region and an existing key are allowed, else InputError naming the field."""
    if "bucket" not in req.observed:
        # A new bucket only: one that exists stays manageable when its region is withdrawn.
        req.environment.check_region(spec.region, "spec.region")
    keys = (asked.parameters.encryption.key, spec.parameters.encryption.key)
    check_existing_keys(req, keys, spec.region, KEY_FIELD)


def _bucket(req: Request, spec: Spec) -> Bucket:
    """The bucket's name (``names.bucket_name``), ARN, region, deletion policy and tags."""
    name = names.bucket_name(names.identity(req))
    keep = spec.parameters.deletionPolicy == "DeleteInstanceKeepBucket"
    return Bucket(
        name=name,
        arn=f"arn:{partition(spec.region)}:s3:::{name}",
        region=spec.region,
        keep=keep,
        policy="Orphan" if keep else "Delete",
        tags=resource_tags(
            req, OBJECT_STORAGE_INSTANCE, spec.parameters.tags, "spec.parameters.tags"
        ),
    )


def _part(
    req: Request, b: Bucket, kind: Kind, for_provider: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    """A managed resource of the bucket's region, deleted or kept with the bucket."""
    fp = {"region": b.region, **for_provider}
    return managed(kind, req.provider_config, fp, deletion_policy=b.policy, **kw)


def _of_bucket(req: Request, b: Bucket, key: str) -> dict[str, Any]:
    """A sub-resource names the bucket by selector (the one Bucket this XR composed)."""
    return parent_ref("bucket", b.name, req.observed_field(key, "spec.forProvider.bucket"))


def _bucket_settings(req: Request, spec: Spec, b: Bucket) -> dict[str, dict[str, Any]]:
    """No public access, the bucket owner owns every object, TLS only, the plan's lifecycle."""
    return {
        "public-access-block": _part(
            req,
            b,
            S3_PUBLIC_ACCESS_BLOCK,
            {
                **_of_bucket(req, b, "public-access-block"),
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        ),
        "ownership-controls": _part(
            req,
            b,
            S3_OWNERSHIP_CONTROLS,
            {
                **_of_bucket(req, b, "ownership-controls"),
                "rule": {"objectOwnership": "BucketOwnerEnforced"},
            },
        ),
        "bucket-policy": _part(
            req,
            b,
            S3_POLICY,
            {**_of_bucket(req, b, "bucket-policy"), "policy": tls_only_policy(b.arn)},
        ),
        "lifecycle": _part(
            req,
            b,
            S3_LIFECYCLE,
            {**_of_bucket(req, b, "lifecycle"), "rule": lifecycle_rules(spec.plan)},
        ),
    }


def _default_encryption(
    req: Request, spec: Spec, b: Bucket
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None, str | None]:
    """The managed KMS Key and Alias (when the key is the platform's), the bucket's default
    encryption (None until a managed key's ARN is known), and the key's ARN as far as known.

    A managed key is named by its ARN once its Key is observed, never by
    ``kmsMasterKeyIdSelector``: ``rule`` is an atomic list in the v2.6.0 CRD, and the
    generated resolver (provider-upjet-aws v2.6.0 apis/cluster/s3/v1beta2/
    zz_generated.resolvers.go, ``BucketServerSideEncryptionConfiguration.ResolveReferences``,
    ``ExtractParamPath("arn", true)``) writes it back through crossplane-runtime v2.2.0
    pkg/reconciler/managed/api.go ``APISimpleReferenceResolver`` (a force-owned apply of the
    whole list), which Crossplane's apply of the list without it undoes on every reconcile.
    """
    enc = spec.parameters.encryption
    if enc.type == "aes256":
        return {}, {"sseAlgorithm": "AES256"}, None
    if enc.key and enc.key.existing:
        existing = enc.key.existing.id
        return {}, {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": existing}, existing
    alias = enc.key.managed.alias if enc.key and enc.key.managed else None
    resources = managed_key_resources(
        req,
        req.settings,
        region=b.region,
        alias=alias,
        description=f"S3 bucket {b.name} of {req.claim_namespace}/{req.claim_name}",
        tags=b.tags,
        deletion_policy=b.policy,
    )
    arn = req.observed_field("kms-key", "status.atProvider.arn") or _observed_key_id(req)
    if not isinstance(arn, str) or not arn:
        return resources, None, None
    return resources, {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": arn}, arn


def _observed_key_id(req: Request) -> str | None:
    """The key the existing encryption configuration names (kept while the Key's ARN is not
    observed: withholding the configuration would delete it)."""
    rule = req.observed_field("encryption", "spec.forProvider.rule")
    if not rule or not isinstance(rule, list) or not isinstance(rule[0], dict):
        return None
    key = (rule[0].get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
    return key if isinstance(key, str) and key else None


def _encryption(req: Request, spec: Spec, b: Bucket, default: dict[str, Any]) -> dict[str, Any]:
    """The bucket's server-side encryption configuration."""
    return _part(
        req,
        b,
        S3_SSE,
        {
            **_of_bucket(req, b, "encryption"),
            "rule": [
                {
                    "applyServerSideEncryptionByDefault": default,
                    "bucketKeyEnabled": spec.parameters.encryption.type == "kms",
                }
            ],
        },
    )


KEY_FIELD = "spec.parameters.encryption.key.existing.id"


def tls_only_policy(bucket_arn: str) -> str:
    """A bucket policy that denies every request not made over TLS (compact JSON)."""
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    return json.dumps(doc, separators=(",", ":"))


def lifecycle_rules(plan: str) -> list[dict[str, Any]]:
    """Always abort stale multipart uploads; move objects to the plan's storage class."""
    rules: list[dict[str, Any]] = [
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": [{"prefix": ""}],
            "abortIncompleteMultipartUpload": [{"daysAfterInitiation": ABORT_MULTIPART_DAYS}],
        }
    ]
    transition = PLAN_TRANSITIONS[plan]
    if transition is not None:
        storage_class, days = transition
        rules.append(
            {
                "id": f"plan-{plan}",
                "status": "Enabled",
                "filter": [{"prefix": ""}],
                "transition": [{"days": days, "storageClass": storage_class}],
            }
        )
    return rules


def _keep_immutable(req: Request, spec: Spec, out: Rendered) -> Spec:
    """Keep region and encryption as the existing bucket has them; warn about the edit."""
    observed_region = req.observed_field("bucket", "spec.forProvider.region")
    if observed_region and observed_region != spec.region:
        out.results.append(
            Result(
                Severity.WARNING,
                f"spec.region is immutable: keeping {observed_region!r}, ignoring {spec.region!r}",
                "ImmutableField",
            )
        )
        spec = spec.model_copy(update={"region": observed_region})
    observed_enc = _observed_encryption(req)
    if observed_enc is not None and observed_enc != spec.parameters.encryption:
        out.results.append(
            Result(
                Severity.WARNING,
                "spec.parameters.encryption is immutable: keeping the encryption the bucket "
                "was created with",
                "ImmutableField",
            )
        )
        params = spec.parameters.model_copy(update={"encryption": observed_enc})
        spec = spec.model_copy(update={"parameters": params})
    return spec


def _observed_encryption(req: Request) -> Encryption | None:
    """The encryption the existing SSE configuration was rendered with, if any."""
    rule = req.observed_field("encryption", "spec.forProvider.rule")
    if not rule or not isinstance(rule, list):
        return None
    default = (rule[0] or {}).get("applyServerSideEncryptionByDefault") or {}
    if default.get("sseAlgorithm") == "AES256":
        return Encryption(type="aes256")
    # A managed key: this XR composed it (its ARN named directly; earlier versions selected it,
    # and the provider then also filled in kmsMasterKeyId).
    if "kmsMasterKeyIdSelector" in default or "kms-key" in req.observed:
        return Encryption(type="kms", key=observed_managed_key(req))
    if "kmsMasterKeyId" in default:
        key = EncryptionKey(existing=ExistingKey(id=default["kmsMasterKeyId"]))
        return Encryption(type="kms", key=key)
    return None


__all__ = ["ARCHIVE_PLANS", "PLAN_TRANSITIONS", "Spec", "render"]
