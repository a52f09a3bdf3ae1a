"""What every claim shares: the claim API groups and kinds, the strict model bases, names of
other claims, regions, tags, encryption and the status fields one claim publishes for another.

One source per fact. A claim module (``objectstorage.py``, ``postgresql.py``, ...) imports its
building blocks from here and never from another claim module; ``docs/architecture.md`` shows
the layers and ``make lint`` enforces them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from function.core import InputError, Request
from function.regions import REGIONS, region_error

# --- the claim API -------------------------------------------------------------------------

# Object storage keeps the group of the Klutch S3 docs; databases have their own group, so
# our CRDs never clash with anynines' Kubernetes-native data services, which define
# postgresqlinstances.anynines.com, servicebindings.anynines.com, backups.anynines.com and
# restores.anynines.com (tests/test_xrds.py checks it).
OBJECT_STORAGE_API = "anynines.com/v1"
DATABASE_API = "rds.aws.anynines.com/v1"


class ClaimKind(NamedTuple):
    """A claim kind of this package: its API version and the kind of its XR."""

    api_version: str
    xr_kind: str

    @property
    def claim_kind(self) -> str:
        """The namespaced claim's kind: the XR kind without its leading ``X``."""
        return self.xr_kind.removeprefix("X")


OBJECT_STORAGE_INSTANCE = ClaimKind(OBJECT_STORAGE_API, "XObjectStorageInstance")
OBJECT_STORAGE_BINDING = ClaimKind(OBJECT_STORAGE_API, "XObjectStorageBinding")
POSTGRESQL_INSTANCE = ClaimKind(DATABASE_API, "XPostgresqlInstance")
SERVICE_BINDING = ClaimKind(DATABASE_API, "XServiceBinding")
BACKUP = ClaimKind(DATABASE_API, "XBackup")
SCHEDULED_BACKUP = ClaimKind(DATABASE_API, "XScheduledBackup")

CLAIM_KINDS = (
    OBJECT_STORAGE_INSTANCE,
    OBJECT_STORAGE_BINDING,
    POSTGRESQL_INSTANCE,
    SERVICE_BINDING,
    BACKUP,
    SCHEDULED_BACKUP,
)

# --- model bases ---------------------------------------------------------------------------


class Strict(BaseModel):
    """A part of a claim: unknown fields are errors, values never change after parsing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ClaimSpec(BaseModel):
    """The top of a claim's spec: Crossplane adds its own fields (compositionRef, claimRef,
    writeConnectionSecretToRef, ...) to the XR's spec, so unknown top-level fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- names of other claims ------------------------------------------------------------------

# Kubernetes object names (DNS-1123 subdomain): what a claim's metadata.name may be.
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"

# A reference to another claim of the same namespace, by its name (``instanceRef: my-db``).
ClaimName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=K8S_NAME_PATTERN)
]

# --- regions ------------------------------------------------------------------------------


def _known_region(value: str) -> str:
    if value not in REGIONS:
        raise ValueError(region_error(value))
    return value


Region = Annotated[str, AfterValidator(_known_region)]

# --- tags ---------------------------------------------------------------------------------

# What AWS accepts in a tag on every service we tag (S3, IAM, KMS, RDS, AWS Backup): Unicode
# letters, digits and spaces and ``_ . : / = + - @``; keys 1-128, values 0-256 characters;
# keys starting with ``aws:`` are AWS's. A claim's keys keep the narrower set the Klutch docs
# promise (letters, digits, spaces, ``-``, ``_``). Full-string patterns (pydantic checks them
# with Rust's regex, where ``$`` never matches before a trailing newline).
TAG_KEY_PATTERN = r"^[A-Za-z0-9 _-]{1,128}$"
TAG_VALUE_PATTERN = r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$"  # length: max_length
TagKey = Annotated[str, StringConstraints(pattern=TAG_KEY_PATTERN)]
TagValue = Annotated[str, StringConstraints(max_length=256, pattern=TAG_VALUE_PATTERN)]
# AWS allows at most 50 tags on a bucket, key, IAM user, DB instance or backup resource.
MAX_TAGS = 50
Tags = Annotated[dict[TagKey, TagValue], Field(max_length=MAX_TAGS)]

# Ownership tags: on every AWS resource of a claim, naming whose it is. IAM policies of the
# operator can rely on them (``aws:ResourceTag/klutch.anynines.com/namespace``): no claim
# can set or override them.
OWNER_TAG_PREFIX = "klutch.anynines.com/"
NAMESPACE_TAG = f"{OWNER_TAG_PREFIX}namespace"
CLAIM_KIND_TAG = f"{OWNER_TAG_PREFIX}claim-kind"
CLAIM_NAME_TAG = f"{OWNER_TAG_PREFIX}claim-name"
# upjet's tagger adds these to every managed resource that has tags (crossplane-runtime
# pkg/resource: ExternalResourceTagKeyKind, ...Name, ...Provider); they count toward the 50.
PROVIDER_TAGS = ("crossplane-kind", "crossplane-name", "crossplane-providerconfig")


def ownership_tags(kind: ClaimKind, namespace: str, claim_name: str) -> dict[str, str]:
    """The tags naming a claim: its namespace ("" for an XR without a claim), kind and name."""
    return {
        NAMESPACE_TAG: namespace,
        CLAIM_KIND_TAG: kind.claim_kind,
        CLAIM_NAME_TAG: claim_name[:256],
    }


def resource_tags(
    req: Request, kind: ClaimKind, claim_tags: Mapping[str, str] | None, field: str
) -> dict[str, str]:
    """The tags of every AWS resource of a claim, in a stable order: the claim's own tags
    (``field``), the operator's default tags and the ownership tags.

    The platform's tags always win, so a claim cannot spoof them: a claim tag whose key the
    platform sets (a default tag, an ownership or provider tag, ``aws:*``) is an InputError
    naming the key, not silently overridden.
    """
    settings = req.settings
    platform = {
        **settings.defaultTags,
        **ownership_tags(kind, req.claim_namespace or "", req.claim_name),
    }
    claim_tags = claim_tags or {}
    for key in sorted(claim_tags):
        if key in platform or key in PROVIDER_TAGS or _reserved_key(key):
            raise InputError(
                f"{field}: the key {key!r} is set by the platform and cannot be set by a "
                f"claim; the platform sets {', '.join(sorted(platform))} "
                f"(and the provider {', '.join(PROVIDER_TAGS)})"
            )
    merged = {**claim_tags, **platform}
    if len(merged) + len(PROVIDER_TAGS) > MAX_TAGS:
        raise InputError(
            f"{field}: AWS allows at most {MAX_TAGS} tags and the platform adds "
            f"{len(platform) + len(PROVIDER_TAGS)} ({', '.join(sorted(platform))}, "
            f"{', '.join(PROVIDER_TAGS)}); together with these that makes "
            f"{len(merged) + len(PROVIDER_TAGS)}"
        )
    return dict(sorted(merged.items()))


def _reserved_key(key: str) -> bool:
    return key.lower().startswith("aws:") or key.startswith(OWNER_TAG_PREFIX)


# --- encryption with a customer-managed KMS key ----------------------------------------------

KMS_KEY_ARN = re.compile(
    r"arn:aws(-cn|-us-gov)?:kms:[a-z0-9-]+:[0-9]{12}:key/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
)


def _kms_key_arn(value: str) -> str:
    if not KMS_KEY_ARN.fullmatch(value):
        raise ValueError("must be a KMS key ARN: arn:aws:kms:<region>:<account>:key/<key-id>")
    return value


def _alias(value: str | None) -> str | None:
    if value is not None and value.startswith(("aws/", "alias/")):
        raise ValueError("must not start with 'aws/' (reserved by AWS) or 'alias/'")
    return value


class ManagedKey(Strict):
    """A KMS key this package creates (and its alias)."""

    alias: Annotated[
        str | None,
        Field(default=None, pattern=r"^[A-Za-z0-9/_-]{1,250}$"),
        AfterValidator(_alias),
    ] = None


class ExistingKey(Strict):
    """A KMS key the operator or the user already has, by ARN."""

    id: Annotated[str, AfterValidator(_kms_key_arn)]


class EncryptionKey(Strict):
    """Exactly one of ``managed`` or ``existing``."""

    managed: ManagedKey | None = None
    existing: ExistingKey | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EncryptionKey:
        if (self.managed is None) == (self.existing is None):
            raise ValueError("set exactly one of 'managed' or 'existing'")
        return self


class Encryption(Strict):
    """Bucket encryption: ``aes256`` (S3-managed keys) or ``kms`` with a key."""

    type: Literal["aes256", "kms"] = "aes256"
    key: EncryptionKey | None = None

    @model_validator(mode="after")
    def _key_only_for_kms(self) -> Encryption:
        if self.type == "kms" and self.key is None:
            raise ValueError("type 'kms' requires 'key' with 'managed' or 'existing'")
        if self.type == "aes256" and self.key is not None:
            raise ValueError("'key' is only allowed with type 'kms'")
        return self


# --- object storage plans -------------------------------------------------------------------

ObjectStoragePlan = Literal[
    "standard",
    "infrequentaccess",
    "intelligent",
    "archiveinstant",
    "archiveflexible",
    "archivedeep",
]
# Plans whose objects must be restored before they can be read.
ARCHIVE_PLANS = frozenset({"archiveflexible", "archivedeep"})

# --- deletion policies ----------------------------------------------------------------------

ObjectStorageDeletion = Literal["DeleteInstanceKeepBucket", "EmptyBucketAndDelete"]
DatabaseDeletion = Literal["SnapshotAndDelete", "Delete", "Orphan"]
BackupDeletion = Literal["Retain", "Delete"]

# --- status one claim publishes for another -------------------------------------------------
# A binding, backup or restore reads the XR of the claim it references. These are the fields
# it reads: the publishing module writes them under these names, the reading module validates
# them (a status is input too: never trusted).


class Published(BaseModel):
    """Base of what a referenced claim's XR status tells (unknown fields ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def read(cls, xr: Mapping[str, Any]) -> Self | None:
        """The published fields, or None while any required one is missing or malformed."""
        try:
            return cls.model_validate(xr.get("status") or {})
        except ValueError:
            return None


class ObjectStorageInstanceStatus(Published):
    """What an ObjectStorageBinding reads of its ObjectStorageInstance."""

    bucketName: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    bucketArn: str
    region: Region
    plan: str | None = None
    kmsKeyArn: Annotated[str, AfterValidator(_kms_key_arn)] | None = None


class PostgresqlInstanceStatus(Published):
    """What a ServiceBinding, Backup, ScheduledBackup or restore reads of a PostgresqlInstance."""

    identifier: str = Field(min_length=1)
    arn: str = Field(min_length=1)
    region: Region
    databaseName: str = Field(min_length=1)
    providerConfigName: str = Field(min_length=1)
    address: str | None = None
    port: int | None = None
    readerEndpoints: list[str] = Field(default_factory=list)
    serviceVersion: str | None = None
    engineVersion: str | None = None
    latestRestorableTime: str | None = None
    backupRetentionDays: int | None = None
    # The DbiResourceId (``db-...``): names the automated backups AWS keeps after deletion.
    resourceId: str | None = None
    # GiB, as AWS reports it: a restore of this instance starts at least this large.
    allocatedStorage: int | None = Field(default=None, ge=1)


# AWS Backup keeps continuous backups (point-in-time recovery) 1-35 days.
CONTINUOUS_BACKUP_MAX_DAYS = 35


class ScheduledBackupStatus(Published):
    """What a PostgresqlInstance reads of the ScheduledBackups of its namespace: what the
    function accepted and rendered (the status it published), never the raw spec, which may
    hold what the platform refused."""

    instanceIdentifier: str = Field(min_length=1)
    retentionDays: int = Field(ge=1)  # a float from a protobuf Struct: 7.0 is 7
    pointInTimeRecovery: bool = Field(strict=True)  # what we published: a bool, not "yes"

    @model_validator(mode="after")
    def _continuous_window(self) -> Self:
        if self.pointInTimeRecovery and self.retentionDays > CONTINUOUS_BACKUP_MAX_DAYS:
            raise ValueError(
                f"retentionDays over {CONTINUOUS_BACKUP_MAX_DAYS} with continuous backup"
            )
        return self


class BackupStatus(Published):
    """What a restore reads of a Backup."""

    snapshotIdentifier: str = Field(min_length=1)
    region: Region
    snapshotArn: str | None = None
    databaseName: str | None = None
    engineVersion: str | None = None
    # The instance the snapshot was taken of: a same-namespace Backup vouches for it, so a
    # point-in-time restore can reach its retained automated backups once it is deleted.
    instanceIdentifier: str | None = None
    instanceResourceId: str | None = None
    # GiB of the snapshot (rds Snapshot atProvider.allocatedStorage): a restore's least size.
    allocatedStorage: int | None = Field(default=None, ge=1)
