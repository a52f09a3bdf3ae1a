"""Every generated name, in one place.

Names are derived from the operator's prefix, the claim's name and a short hash of the
XR's uid, so they are unique, stable across reconciles and valid for AWS whatever the
claim is called (claim names may be up to 253 characters and contain dots).
"""

from __future__ import annotations

import re

from function.core import short_hash

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")

BUCKET_MAX = 63  # S3: 3-63 chars, lowercase letters, digits, hyphens (no dots: TLS)
RDS_IDENTIFIER_MAX = 63  # RDS: letter first, alnum and single hyphens, no trailing hyphen
IAM_USER_MAX = 64  # IAM user names
SNAPSHOT_IDENTIFIER_MAX = 255  # RDS snapshot identifiers follow the DB identifier rules
K8S_NAME_MAX = 253  # Kubernetes object names (DNS-1123 subdomain)


def _slug(text: str) -> str:
    """Lowercase, with every run of other characters folded into one hyphen."""
    return _NOT_ALNUM.sub("-", text.lower()).strip("-")


def generated(*parts: str, seed: str, max_len: int) -> str:
    """``parts`` joined by hyphens, shortened to fit, ending in a hash of ``seed``.

    The result starts with the first part's first character, contains only
    ``[a-z0-9-]``, never ``--``, never ends with ``-`` and is at most ``max_len`` long.
    """
    suffix = short_hash(seed)
    body = "-".join(p for p in (_slug(p) for p in parts) if p)
    room = max_len - len(suffix) - 1
    body = body[:room].rstrip("-")
    return f"{body}-{suffix}" if body else suffix


def bucket_name(prefix: str, claim_name: str, uid: str) -> str:
    return generated(prefix, claim_name, seed=uid, max_len=BUCKET_MAX)


def rds_identifier(prefix: str, claim_name: str, uid: str) -> str:
    return generated(prefix, claim_name, seed=uid, max_len=RDS_IDENTIFIER_MAX)


def snapshot_identifier(prefix: str, claim_name: str, uid: str) -> str:
    return generated(prefix, claim_name, seed=uid, max_len=SNAPSHOT_IDENTIFIER_MAX)


def iam_user_name(prefix: str, namespace: str | None, claim_name: str, uid: str) -> str:
    return generated(prefix, namespace or "", claim_name, seed=uid, max_len=IAM_USER_MAX)


def internal_secret_name(purpose: str, uid: str) -> str:
    """Name of a Secret in the operator's namespace, e.g. ``klutch-accesskey-1a2b3c4d``."""
    return generated("klutch", purpose, seed=uid, max_len=K8S_NAME_MAX)


def managed_kms_alias(prefix: str, alias: str | None, claim_name: str, uid: str) -> str:
    """``alias/<user alias>``, or a generated one when the claim gives none."""
    if alias:
        return f"alias/{alias}"
    return "alias/" + generated(prefix, claim_name, seed=uid, max_len=250)


# AWS Backup: vault names [A-Za-z0-9_-]{2,50}; plan, rule and selection names
# [A-Za-z0-9_.-]{1,50}. One rule serves all four (a hyphenated slug fits every pattern).
BACKUP_NAME_MAX = 50


def backup_name(prefix: str, claim_name: str, uid: str) -> str:
    """Name of the AWS Backup vault, plan, rule and selection of one ScheduledBackup."""
    return generated(prefix, claim_name, seed=uid, max_len=BACKUP_NAME_MAX)


def backup_role_name(prefix: str, claim_name: str, uid: str) -> str:
    """The IAM role AWS Backup assumes for one ScheduledBackup (IAM role names: <= 64)."""
    return generated(prefix, "backup", claim_name, seed=uid, max_len=IAM_USER_MAX)


def backup_selection_name(prefix: str, claim_name: str, uid: str, role: str) -> str:
    """The Selection of one ScheduledBackup for one IAM role (``role``: what identifies it).

    AWS Backup cannot change a selection's role (Terraform's ``iam_role_arn`` is ForceNew and
    upjet refuses ForceNew changes), so a new role makes a new selection, with a new name.
    """
    return generated(prefix, claim_name, seed=f"{uid}/{role}", max_len=BACKUP_NAME_MAX)


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


def db_subnet_group_name(prefix: str, claim_name: str, uid: str) -> str:
    """The DB subnet group rendered for one PostgresqlInstance (RDS: <= 255, not "default")."""
    return generated(prefix, claim_name, seed=uid, max_len=RDS_IDENTIFIER_MAX)


def db_security_group_name(prefix: str, claim_name: str, uid: str) -> str:
    """The security group rendered for one PostgresqlInstance (EC2: <= 255, not "sg-*")."""
    return generated(prefix, "db", claim_name, seed=uid, max_len=RDS_IDENTIFIER_MAX)


def rds_parameter_group_name(prefix: str, claim_name: str, uid: str) -> str:
    return generated(prefix, claim_name, seed=uid, max_len=RDS_IDENTIFIER_MAX)


def final_snapshot_identifier(prefix: str, claim_name: str, uid: str) -> str:
    """The snapshot RDS takes when the instance is deleted: ``<prefix>-<claim>-final-<hash>``."""
    body = generated(prefix, claim_name, seed=uid, max_len=RDS_IDENTIFIER_MAX - len("-final"))
    head, _, suffix = body.rpartition("-")
    return f"{head}-final-{suffix}" if head else f"final-{suffix}"


def sql_provider_config_name(uid: str) -> str:
    """The provider-sql ProviderConfig that reaches one PostgresqlInstance as its master user."""
    return generated("klutch", "postgresql", seed=uid, max_len=K8S_NAME_MAX)


def pg_role_name(prefix: str, namespace: str | None, claim_name: str, uid: str) -> str:
    """A PostgreSQL login role: lowercase letters, digits and ``_``, letter first, <= 63.

    Never ``pg_*`` or ``rds*`` (reserved by PostgreSQL and RDS): those get a ``u_`` in front.
    """
    name = generated(prefix, namespace or "", claim_name, seed=uid, max_len=PG_IDENTIFIER_MAX - 2)
    name = name.replace("-", "_")
    if not name[0].isalpha() or name.startswith(("pg_", "rds")):
        name = "u_" + name
    return name
