"""Every generated name, in one place.

Names are derived from the claim's identity (``Identity``: the operator's prefix, the
claim's namespace and name, and a hash of the XR's uid), so they are unique, stable across
reconciles and valid for AWS, Kubernetes and PostgreSQL whatever the claim is called (claim
names may be up to 253 characters and contain dots). The claim-name part is shortened to fit
a limit; the hash is always kept whole.

The hash has 64 bits (16 hex digits): enough that two names of one kind never collide in
practice, across every namespace of the cluster and every claim of the AWS account.

**Names never change.** Claims created before the 64-bit names carry 32-bit ones (8 hex
digits, naming version 1). Renaming a bucket, a DB identifier or a Secret would recreate or
orphan what exists, so ``identity`` keeps version 1 for an XR whose composed resources were
created with it (``created_with_legacy_names``: the one rule) and gives every other XR
version 2. Every name of one XR follows the same version.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from function.core import ObservedResource, Request, dig, short_hash

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")

HASH_HEX = 16  # 64 bits: every name of a claim created now
LEGACY_HASH_HEX = 8  # 32 bits: names of claims created before (naming version 1), kept

BUCKET_MAX = 63  # S3: 3-63 chars, lowercase letters, digits, hyphens (no dots: TLS)
RDS_IDENTIFIER_MAX = 63  # RDS: letter first, alnum and single hyphens, no trailing hyphen
IAM_USER_MAX = 64  # IAM user names
SNAPSHOT_IDENTIFIER_MAX = 255  # RDS snapshot identifiers follow the DB identifier rules
K8S_NAME_MAX = 253  # Kubernetes object names (DNS-1123 subdomain)
KMS_ALIAS_MAX = 256  # KMS alias names, ``alias/`` included
EXTERNAL_NAME = "crossplane.io/external-name"


@dataclass(frozen=True)
class Identity:
    """Whose names these are: the operator's naming prefix, the claim's namespace ("" for an
    XR without a claim) and name, the XR's uid (the seed of the hash) and the hash length of
    the XR's naming version (``HASH_HEX``, or ``LEGACY_HASH_HEX`` for a claim created before)."""

    prefix: str
    namespace: str
    claim: str
    uid: str
    hash_len: int = HASH_HEX

    @property
    def legacy(self) -> bool:
        """Named by version 1 (32-bit hashes, the claim's own KMS alias as given)."""
        return self.hash_len == LEGACY_HASH_HEX

    @functools.cached_property
    def hash(self) -> str:
        """The suffix of every name: ``hash_len`` hex digits of the uid's SHA-256."""
        return short_hash(self.uid, self.hash_len)


def identity(req: Request) -> Identity:
    """The identity every name of the request's XR derives from (computed once per render)."""
    return cast(Identity, req.derive("names.identity", lambda: _identity(req)))


def _identity(req: Request) -> Identity:
    return Identity(
        prefix=req.settings.namingPrefix,
        namespace=req.claim_namespace or "",
        claim=req.claim_name,
        uid=req.uid,
        hash_len=LEGACY_HASH_HEX if created_with_legacy_names(req) else HASH_HEX,
    )


# Where a composed resource records the names we gave it.
_NAME_PATHS = (
    "metadata.name",
    "spec.forProvider.identifier",
    "spec.forProvider.name",
    "spec.writeConnectionSecretToRef.name",
)


def created_with_legacy_names(req: Request) -> bool:
    """The name-keeping rule: True when an observed composed resource of the XR carries a
    version-1 name (the uid's 32-bit hash not followed by more hex digits, as in
    ``klutch-photos-1a2b3c4d``). A version-2 name starts with the same 8 digits but goes on,
    so it never matches; a new XR has no composed resources yet."""
    if not req.observed or not req.uid:
        return False
    short = short_hash(req.uid, LEGACY_HASH_HEX)
    legacy = re.compile(rf"(?<![0-9a-f]){short}(?![0-9a-f])")
    for observed in req.observed.values():
        values = observed.derive("names.recorded", functools.partial(_recorded_names, observed))
        if any(short in v and legacy.search(v) for v in values):
            return True
    return False


def _recorded_names(observed: ObservedResource) -> tuple[str, ...]:
    """The names a composed resource records (``_NAME_PATHS`` and its external name)."""
    body = observed.resource
    annotations = dig(body, "metadata.annotations")
    values: list[Any] = [dig(body, p) for p in _NAME_PATHS]
    if isinstance(annotations, Mapping):
        values.append(annotations.get(EXTERNAL_NAME))
    return tuple(v for v in values if isinstance(v, str))


def _slug(text: str) -> str:
    """Lowercase, with every run of other characters folded into one hyphen."""
    return _NOT_ALNUM.sub("-", text.lower()).strip("-")


def generated(*parts: str, who: Identity, max_len: int) -> str:
    """``parts`` joined by hyphens, shortened to fit, ending in the hash of ``who``.

    The result starts with the first part's first character, contains only
    ``[a-z0-9-]``, never ``--``, never ends with ``-`` and is at most ``max_len`` long.
    """
    suffix = who.hash
    body = "-".join(p for p in (_slug(p) for p in parts) if p)
    room = max_len - len(suffix) - 1
    body = body[:room].rstrip("-")
    return f"{body}-{suffix}" if body else suffix


def bucket_name(who: Identity) -> str:
    """The S3 bucket: ``<prefix>-<claim>-<hash>``, 3-63 DNS-safe characters."""
    return generated(who.prefix, who.claim, who=who, max_len=BUCKET_MAX)


def rds_identifier(who: Identity) -> str:
    """The primary RDS instance: a letter first, at most 63, no ``--``, no trailing ``-``."""
    return generated(who.prefix, who.claim, who=who, max_len=RDS_IDENTIFIER_MAX)


def snapshot_identifier(who: Identity) -> str:
    """The manual RDS snapshot of one Backup (the DB identifier rules, at most 255)."""
    return generated(who.prefix, who.claim, who=who, max_len=SNAPSHOT_IDENTIFIER_MAX)


def iam_user_name(who: Identity) -> str:
    """The IAM user of one ObjectStorageBinding: prefix, namespace, claim, hash; <= 64."""
    return generated(who.prefix, who.namespace, who.claim, who=who, max_len=IAM_USER_MAX)


def internal_secret_name(purpose: str, who: Identity) -> str:
    """Name of a Secret in the operator's namespace, e.g. ``klutch-accesskey-<hash>``."""
    return generated("klutch", purpose, who=who, max_len=K8S_NAME_MAX)


# KMS alias names: ``alias/`` then letters, digits, ``/``, ``_``, ``-``; never under
# ``alias/aws/`` (AWS's own). Unique per account and region, and the provider adopts an
# alias that exists: so a claim's alias is always its own, derived from its identity.
_NOT_ALIAS = re.compile(r"[^A-Za-z0-9/_-]+")


def managed_kms_alias(who: Identity, alias: str | None) -> str:
    """The alias of a claim's managed KMS key:
    ``alias/<prefix>/<namespace>/<user alias or claim name>-<hash>``.

    The user's alias stays readable inside it (shortened to fit 256 characters; the hash is
    kept whole), but it is never the account-wide name as given: two claims (in one
    namespace or two) never share an alias, and no claim names the operator's or another
    tenant's. Version 1 (kept for claims created before) used the user's alias as it was.
    """
    if who.legacy:
        if alias:
            return f"alias/{alias}"
        return "alias/" + generated(who.prefix, who.claim, who=who, max_len=250)
    head = "/".join(p for p in ("alias", who.prefix, who.namespace) if p)
    room = KMS_ALIAS_MAX - len(head) - 1 - len(who.hash) - 1
    own = _NOT_ALIAS.sub("-", alias or "")[:room].strip("/-") or _slug(who.claim)[:room].strip("-")
    return f"{head}/{own}-{who.hash}" if own else f"{head}/{who.hash}"


# AWS Backup: vault names [A-Za-z0-9_-]{2,50}; plan, rule and selection names
# [A-Za-z0-9_.-]{1,50}. One rule serves all four (a hyphenated slug fits every pattern).
BACKUP_NAME_MAX = 50


def backup_name(who: Identity) -> str:
    """Name of the AWS Backup vault, plan, rule and selection of one ScheduledBackup."""
    return generated(who.prefix, who.claim, who=who, max_len=BACKUP_NAME_MAX)


def backup_role_name(who: Identity) -> str:
    """The IAM role AWS Backup assumes for one ScheduledBackup (IAM role names: <= 64)."""
    return generated(who.prefix, "backup", who.claim, who=who, max_len=IAM_USER_MAX)


def backup_selection_name(who: Identity, role: str) -> str:
    """The Selection of one ScheduledBackup for one IAM role (``role``: what identifies it).

    AWS Backup cannot change a selection's role (Terraform's ``iam_role_arn`` is ForceNew and
    upjet refuses ForceNew changes), so a new role makes a new selection, with a new name.
    """
    per_role = replace(who, uid=f"{who.uid}/{role}")
    return generated(who.prefix, who.claim, who=per_role, max_len=BACKUP_NAME_MAX)


# --- PostgreSQL on RDS (function/postgresql.py, function/servicebinding.py) ---

PG_IDENTIFIER_MAX = 63  # PostgreSQL identifiers (NAMEDATALEN - 1)

# The per-instance group role that owns every table the bindings create (docs/postgresql-grants.md).
# A fixed name, so an instance restored from a snapshot keeps working with new bindings.
PG_GROUP_ROLE = "klutch_app_owner"


def rds_replica_identifier(primary: str, index: int) -> str:
    """Read replica ``index`` (1-15) of the primary ``primary``: ``<primary>-r<index>``,
    shortened (keeping the primary's hash) to fit the 63 characters of an RDS identifier."""
    suffix = f"r{index}"
    head, _, digest = primary.rpartition("-")
    room = RDS_IDENTIFIER_MAX - len(digest) - len(suffix) - 2
    head = head[:room].rstrip("-")
    return "-".join(p for p in (head, digest, suffix) if p)


def db_subnet_group_name(who: Identity) -> str:
    """The DB subnet group rendered for one PostgresqlInstance (RDS: <= 255, not "default")."""
    return generated(who.prefix, who.claim, who=who, max_len=RDS_IDENTIFIER_MAX)


def db_security_group_name(who: Identity) -> str:
    """The security group rendered for one PostgresqlInstance (EC2: <= 255, not "sg-*")."""
    return generated(who.prefix, "db", who.claim, who=who, max_len=RDS_IDENTIFIER_MAX)


def rds_parameter_group_name(who: Identity) -> str:
    """The TLS-only DB parameter group of one PostgresqlInstance (<= 63, RDS rules)."""
    return generated(who.prefix, who.claim, who=who, max_len=RDS_IDENTIFIER_MAX)


def family_parameter_group_name(who: Identity, family: str) -> str:
    """The parameter group of ``family`` a major upgrade moves the instance to:
    ``<prefix>-<claim>-<family>-<hash>`` (a group's family cannot change, so a new major needs
    a new group; the first group keeps ``rds_parameter_group_name``)."""
    body = generated(who.prefix, who.claim, who=who, max_len=RDS_IDENTIFIER_MAX - len(family) - 1)
    head, _, suffix = body.rpartition("-")
    return f"{head}-{family}-{suffix}" if head else f"{family}-{suffix}"


def pre_upgrade_snapshot_identifier(who: Identity, major: str) -> str:
    """The snapshot taken before the major upgrade to ``major``:
    ``<prefix>-<claim>-pre-pg<major>-<hash>`` (the DB identifier rules)."""
    tag = f"pre-pg{major}"
    body = generated(who.prefix, who.claim, who=who, max_len=RDS_IDENTIFIER_MAX - len(tag) - 1)
    head, _, suffix = body.rpartition("-")
    return f"{head}-{tag}-{suffix}" if head else f"{tag}-{suffix}"


def final_snapshot_identifier(who: Identity) -> str:
    """The snapshot RDS takes when the instance is deleted: ``<prefix>-<claim>-final-<hash>``."""
    body = generated(who.prefix, who.claim, who=who, max_len=RDS_IDENTIFIER_MAX - len("-final"))
    head, _, suffix = body.rpartition("-")
    return f"{head}-final-{suffix}" if head else f"final-{suffix}"


def sql_provider_config_name(who: Identity) -> str:
    """The provider-sql ProviderConfig that reaches one PostgresqlInstance as its master user."""
    return generated("klutch", "postgresql", who=who, max_len=K8S_NAME_MAX)


def pg_role_name(who: Identity) -> str:
    """A PostgreSQL login role: lowercase letters, digits and ``_``, letter first, <= 63.

    Never ``pg_*`` or ``rds*`` (reserved by PostgreSQL and RDS): those get a ``u_`` in front.
    """
    name = generated(who.prefix, who.namespace, who.claim, who=who, max_len=PG_IDENTIFIER_MAX - 2)
    name = name.replace("-", "_")
    if not name[0].isalpha() or name.startswith(("pg_", "rds")):
        name = "u_" + name
    return name
