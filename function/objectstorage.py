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
    controller_ref_selector,
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


def render(req: Request) -> Rendered:
    """Render an ObjectStorageInstance (see the module docstring for the field map)."""
    spec = parse(Spec, (req.xr.get("spec") or {}), "spec")
    out = Rendered()
    asked = spec
    spec = _keep_immutable(req, spec, out)
    if "bucket" not in req.observed:
        # A new bucket only: one that exists stays manageable when its region is withdrawn.
        req.environment.check_region(spec.region, "spec.region")
    keys = (asked.parameters.encryption.key, spec.parameters.encryption.key)
    check_existing_keys(req, keys, spec.region, KEY_FIELD)
    s = req.settings
    bucket = names.bucket_name(names.identity(req))
    arn_partition = partition(spec.region)
    bucket_arn = f"arn:{arn_partition}:s3:::{bucket}"
    keep = spec.parameters.deletionPolicy == "DeleteInstanceKeepBucket"
    policy: DeletionPolicy = "Orphan" if keep else "Delete"
    tags = resource_tags(req, OBJECT_STORAGE_INSTANCE, spec.parameters.tags, "spec.parameters.tags")
    region = spec.region

    def child(kind: Kind, for_provider: dict[str, Any], **kw: Any) -> dict[str, Any]:
        fp = {"region": region, **for_provider}
        return managed(kind, req.provider_config, fp, deletion_policy=policy, **kw)

    def of_bucket(key: str) -> dict[str, Any]:
        """A sub-resource names the bucket by selector (the one Bucket this XR composed)."""
        return parent_ref("bucket", bucket, req.observed_field(key, "spec.forProvider.bucket"))

    res = out.resources
    res["bucket"] = child(S3_BUCKET, {"forceDestroy": not keep, "tags": tags}, external_name=bucket)
    res["public-access-block"] = child(
        S3_PUBLIC_ACCESS_BLOCK,
        {
            **of_bucket("public-access-block"),
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
    )
    res["ownership-controls"] = child(
        S3_OWNERSHIP_CONTROLS,
        {**of_bucket("ownership-controls"), "rule": {"objectOwnership": "BucketOwnerEnforced"}},
    )
    res["bucket-policy"] = child(
        S3_POLICY, {**of_bucket("bucket-policy"), "policy": tls_only_policy(bucket_arn)}
    )
    res["lifecycle"] = child(
        S3_LIFECYCLE, {**of_bucket("lifecycle"), "rule": lifecycle_rules(spec.plan)}
    )

    enc = spec.parameters.encryption
    kms_arn: str | None = None
    if enc.type == "aes256":
        default: dict[str, Any] = {"sseAlgorithm": "AES256"}
    elif enc.key and enc.key.existing:
        kms_arn = enc.key.existing.id
        default = {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": kms_arn}
    else:
        alias = enc.key.managed.alias if enc.key and enc.key.managed else None
        res.update(
            managed_key_resources(
                req,
                s,
                region=region,
                alias=alias,
                description=f"S3 bucket {bucket} of {req.claim_namespace}/{req.claim_name}",
                tags=tags,
                deletion_policy=policy,
            )
        )
        kms_arn = req.observed_field("kms-key", "status.atProvider.arn")
        default = {"sseAlgorithm": "aws:kms", "kmsMasterKeyIdSelector": controller_ref_selector()}
    res["encryption"] = child(
        S3_SSE,
        {
            **of_bucket("encryption"),
            "rule": [
                {
                    "applyServerSideEncryptionByDefault": default,
                    "bucketKeyEnabled": enc.type == "kms",
                }
            ],
        },
    )

    out.status = {
        "bucketName": bucket,
        "bucketArn": req.observed_field("bucket", "status.atProvider.arn") or bucket_arn,
        "region": region,
        "plan": spec.plan,
    }
    if kms_arn:
        out.status["kmsKeyArn"] = kms_arn
    return out


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
    # A managed key is selected; the provider then also fills in kmsMasterKeyId.
    if "kmsMasterKeyIdSelector" in default:
        return Encryption(type="kms", key=observed_managed_key(req))
    if "kmsMasterKeyId" in default:
        key = EncryptionKey(existing=ExistingKey(id=default["kmsMasterKeyId"]))
        return Encryption(type="kms", key=key)
    return None


__all__ = ["ARCHIVE_PLANS", "PLAN_TRANSITIONS", "Spec", "render"]
