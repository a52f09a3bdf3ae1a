"""PostgresqlInstance -> PostgreSQL on RDS, and the provider-sql wiring bindings use.

Where each claim field becomes an AWS field (all in ``instance_parameters``, except as noted):
- ``spec.serviceVersion``            -> Instance ``engineVersion`` (the major: RDS picks the newest
                                        minor, ``autoMinorVersionUpgrade`` keeps it current);
                                        ParameterGroup ``family`` (``settings.postgresql.versions``)
- ``spec.plan``                      -> ``instanceClass``, ``allocatedStorage``,
                                        ``maxAllocatedStorage``, ``storageType``, ``multiAz``
                                        (``settings.postgresql.plans``)
- ``spec.region``                    -> ``forProvider.region`` of every resource
                                        (default ``settings.defaultRegion``)
- ``spec.parameters.databaseName``   -> ``initProvider.dbName`` (also the provider-sql database)
- ``spec.parameters.backup``         -> ``backupRetentionPeriod``, ``backupWindow``
- ``spec.parameters.maintenanceWindow`` -> ``maintenanceWindow``
- ``spec.parameters.deletionPolicy`` -> ``deletionPolicy``, ``skipFinalSnapshot``,
                                        ``finalSnapshotIdentifier``, ``deleteAutomatedBackups``
                                        (``DELETION``), and the KMS key's deletion policy
- ``spec.parameters.tags``           -> ``tags`` (merged over the operator's defaults)
- ``spec.parameters.encryption``     -> ``kmsKeyId`` / ``kmsKeyIdSelector``, kms Key + Alias
- ``spec.restore``                   -> ``initProvider.snapshotIdentifier`` /
                                        ``initProvider.restoreToPointInTime``: see
                                        ``function/restore.py`` (``restore.resolve``, ``apply``)

Besides the rds Instance this renders an rds ParameterGroup (``rds.force_ssl=1``), a
provider-sql ProviderConfig that logs in as the master user, and the group role that owns
every binding's tables (docs/postgresql-grants.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from function import names, restore
from function.core import InputError, Rendered, Request, Result, Severity, merge_tags, parse
from function.kms import (
    Encryption,
    EncryptionKey,
    ExistingKey,
    managed_key_resources,
    observed_managed_encryption,
)
from function.objectstorage import Tags
from function.regions import REGIONS, region_error
from function.resources import (
    RDS_INSTANCE,
    RDS_PARAMETER_GROUP,
    SQL_GRANT,
    SQL_PROVIDER_CONFIG,
    SQL_ROLE,
    Kind,
    controller_ref_selector,
    managed,
)
from function.settings import PostgresqlPlan, PostgresqlVersion, Settings

SERVICE = "aws-rds-postgresql"
ENGINE = "postgres"
PORT = 5432
# RDS master user: letter first, letters/digits/underscore, <= 16 for PostgreSQL, not reserved.
MASTER_USERNAME = "klutch_admin"
DEFAULT_DATABASE = "app"
DEFAULT_RETENTION_DAYS = 7
SSL_MODE = "require"  # RDS certificates are not in provider-sql's trust store: no verify-full
# Every connection must use TLS (also the default from PostgreSQL 15 on RDS; set explicitly).
FORCE_SSL = {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"}

ENCRYPTION_ANNOTATION = "klutch.anynines.com/encryption"

DeletionChoice = Literal["SnapshotAndDelete", "Delete", "Orphan"]


@dataclass(frozen=True)
class DeletionRules:
    deletion_policy: Literal["Delete", "Orphan"]
    final_snapshot: bool
    delete_automated_backups: bool


# "Nothing lost": unless the user chose Delete, a final snapshot is taken and the automated
# backups (the point-in-time window) are kept for their retention period after deletion.
DELETION: dict[str, DeletionRules] = {
    "SnapshotAndDelete": DeletionRules(
        "Delete", final_snapshot=True, delete_automated_backups=False
    ),
    "Delete": DeletionRules("Delete", final_snapshot=False, delete_automated_backups=True),
    "Orphan": DeletionRules("Orphan", final_snapshot=True, delete_automated_backups=False),
}

# PostgreSQL key words that are reserved (also those that "can be function or type"), and
# databases every RDS PostgreSQL instance already has. RDS refuses these as dbName.
_RESERVED_WORDS = """
    all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign freeze from full grant
    group having ilike in initially inner intersect into is isnull join lateral leading left like
    limit localtime localtimestamp natural not notnull null offset on only or order outer
    overlaps placing primary references returning right select session_user similar some
    symmetric system_user table tablesample then to trailing true union unique user using
    variadic verbose when where window with"""
PG_RESERVED = frozenset(_RESERVED_WORDS.split())
EXISTING_DATABASES = frozenset({"postgres", "template0", "template1", "rdsadmin"})

_HHMM = r"([01][0-9]|2[0-3]):[0-5][0-9]"
_DAY = r"(mon|tue|wed|thu|fri|sat|sun)"
BACKUP_WINDOW = re.compile(rf"^{_HHMM}-{_HHMM}$")
MAINTENANCE_WINDOW = re.compile(rf"^{_DAY}:{_HHMM}-{_DAY}:{_HHMM}$", re.IGNORECASE)
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MIN_WINDOW_MINUTES = 30  # AWS: both windows must be at least 30 minutes


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _length(start: int, end: int, period: int) -> int:
    return (end - start) % period


def backup_intervals(window: str) -> list[tuple[int, int]]:
    """A daily window as minute-of-week intervals, one per day (end may pass midnight)."""
    start, end = (_minutes(t) for t in window.split("-"))
    length = _length(start, end, 1440)
    return [(d * 1440 + start, d * 1440 + start + length) for d in range(7)]


def maintenance_interval(window: str) -> tuple[int, int]:
    a, b = window.lower().split("-")
    start = _DAYS.index(a[:3]) * 1440 + _minutes(a[4:])
    end = _DAYS.index(b[:3]) * 1440 + _minutes(b[4:])
    return start, start + _length(start, end, 7 * 1440)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    week = 7 * 1440
    # Compare in the same week and shifted by one week, so windows across Sunday midnight count.
    return any(a[0] < b[1] + s and b[0] + s < a[1] for s in (-week, 0, week))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backup(_Strict):
    retentionDays: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1, le=35)
    window: str | None = Field(default=None, description="hh24:mi-hh24:mi, UTC")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not BACKUP_WINDOW.match(value):
            raise ValueError("must be 'hh24:mi-hh24:mi' in UTC, e.g. '03:00-03:30'")
        start, end = (_minutes(t) for t in value.split("-"))
        if _length(start, end, 1440) < MIN_WINDOW_MINUTES:
            raise ValueError(f"must be at least {MIN_WINDOW_MINUTES} minutes long")
        return value


DatabaseName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class Parameters(_Strict):
    databaseName: DatabaseName = DEFAULT_DATABASE
    backup: Backup = Field(default_factory=Backup)
    maintenanceWindow: str | None = Field(default=None, description="ddd:hh24:mi-ddd:hh24:mi")
    deletionPolicy: DeletionChoice = "SnapshotAndDelete"
    tags: Tags = Field(default_factory=dict)
    encryption: Encryption = Field(default_factory=Encryption)

    @field_validator("databaseName")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in PG_RESERVED:
            raise ValueError(f"{value!r} is a PostgreSQL reserved word")
        if value in EXISTING_DATABASES:
            raise ValueError(f"{value!r} already exists on every RDS PostgreSQL instance")
        return value

    @field_validator("maintenanceWindow")
    @classmethod
    def _maintenance(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not MAINTENANCE_WINDOW.match(value):
            raise ValueError("must be 'ddd:hh24:mi-ddd:hh24:mi' in UTC, e.g. 'sun:04:00-sun:05:00'")
        start, end = maintenance_interval(value)
        if end - start < MIN_WINDOW_MINUTES:
            raise ValueError(f"must be at least {MIN_WINDOW_MINUTES} minutes long")
        return value

    @model_validator(mode="after")
    def _windows_do_not_overlap(self) -> Parameters:
        if self.backup.window and self.maintenanceWindow:
            m = maintenance_interval(self.maintenanceWindow)
            if any(_overlap(b, m) for b in backup_intervals(self.backup.window)):
                raise ValueError("backup.window must not overlap maintenanceWindow")
        return self


class Spec(BaseModel):
    # Crossplane adds its own fields (compositionRef, claimRef, ...) to the XR spec.
    model_config = ConfigDict(extra="ignore", frozen=True)

    service: Literal["aws-rds-postgresql"]
    serviceVersion: str
    plan: str
    region: str | None = None
    parameters: Parameters = Field(default_factory=Parameters)
    # Validated and resolved by function/restore.py (restore.Restore).
    restore: dict[str, Any] | None = None

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is not None and value not in REGIONS:
            raise ValueError(region_error(value))
        return value


@dataclass(frozen=True)
class Context:
    """What ``instance_parameters`` needs besides the claim: resolved names and settings."""

    settings: Settings
    region: str
    plan: PostgresqlPlan
    version: PostgresqlVersion
    identifier: str
    parameter_group: str
    final_snapshot: str
    master_secret: str
    tags: dict[str, str]


def catalogue_entry(spec: Spec, settings: Settings) -> tuple[PostgresqlPlan, PostgresqlVersion]:
    """The operator's plan and version for the claim, or InputError listing what is offered."""
    pg = settings.postgresql
    if spec.plan not in pg.plans:
        offered = ", ".join(repr(p) for p in pg.plans)
        raise InputError(f"spec.plan: unknown plan {spec.plan!r}; offered plans: {offered}")
    if spec.serviceVersion not in pg.versions:
        offered = ", ".join(repr(v) for v in pg.versions)
        raise InputError(
            f"spec.serviceVersion: unknown version {spec.serviceVersion!r}; "
            f"offered versions: {offered}"
        )
    return pg.plans[spec.plan], pg.versions[spec.serviceVersion]


def instance_parameters(spec: Spec, ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(forProvider, initProvider)`` of the rds Instance: every claim-to-AWS mapping.

    ``initProvider`` holds what only matters at creation (and is taken from a snapshot on
    restore): the database name and the master user name.
    """
    p = spec.parameters
    rules = DELETION[p.deletionPolicy]
    s = ctx.settings
    for_provider: dict[str, Any] = {
        "region": ctx.region,
        "identifier": ctx.identifier,
        "engine": ENGINE,
        "engineVersion": spec.serviceVersion,
        "autoMinorVersionUpgrade": True,
        "instanceClass": ctx.plan.instanceClass,
        "allocatedStorage": ctx.plan.allocatedStorage,
        "maxAllocatedStorage": ctx.plan.maxAllocatedStorage,
        "storageType": ctx.plan.storageType,
        "multiAz": ctx.plan.multiAz,
        "port": PORT,
        "storageEncrypted": True,
        "publiclyAccessible": False,
        "dbSubnetGroupName": s.postgresql.dbSubnetGroupName,
        "parameterGroupName": ctx.parameter_group,
        "autoGeneratePassword": True,
        "passwordSecretRef": {
            "name": ctx.master_secret,
            "namespace": s.internalSecretNamespace,
            "key": "password",
        },
        "backupRetentionPeriod": p.backup.retentionDays,
        "copyTagsToSnapshot": True,
        "deleteAutomatedBackups": rules.delete_automated_backups,
        "skipFinalSnapshot": not rules.final_snapshot,
        "tags": ctx.tags,
    }
    if s.postgresql.vpcSecurityGroupIds:
        for_provider["vpcSecurityGroupIds"] = list(s.postgresql.vpcSecurityGroupIds)
    if rules.final_snapshot:
        for_provider["finalSnapshotIdentifier"] = ctx.final_snapshot
    if p.backup.window:
        for_provider["backupWindow"] = p.backup.window
    if p.maintenanceWindow:
        for_provider["maintenanceWindow"] = p.maintenanceWindow.lower()
    enc = p.encryption
    if enc.key and enc.key.existing:
        for_provider["kmsKeyId"] = enc.key.existing.id
    elif enc.key and enc.key.managed:
        for_provider["kmsKeyIdSelector"] = controller_ref_selector()
    init_provider = {"dbName": p.databaseName, "username": MASTER_USERNAME}
    return for_provider, init_provider


def sql_managed(
    kind: Kind,
    provider_config: str,
    for_provider: dict[str, Any],
    *,
    deletion_policy: Literal["Delete", "Orphan"] = "Delete",
    external_name: str | None = None,
    connection_secret: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A provider-sql managed resource (no region, its own ProviderConfig)."""
    body: dict[str, Any] = {"apiVersion": kind.api_version, "kind": kind.kind}
    if external_name is not None:
        body["metadata"] = {"annotations": {"crossplane.io/external-name": external_name}}
    spec: dict[str, Any] = {
        "deletionPolicy": deletion_policy,
        "providerConfigRef": {"name": provider_config},
        "forProvider": for_provider,
    }
    if connection_secret is not None:
        spec["writeConnectionSecretToRef"] = {
            "name": connection_secret[0],
            "namespace": connection_secret[1],
        }
    body["spec"] = spec
    return body


def provider_config(name: str, secret: str, namespace: str, database: str) -> dict[str, Any]:
    """provider-sql logs in as the master user from the RDS connection Secret.

    The Secret's ``endpoint`` is ``host:port``; provider-sql wants the bare host, which RDS
    writes under ``address``.
    """
    return {
        "apiVersion": SQL_PROVIDER_CONFIG.api_version,
        "kind": SQL_PROVIDER_CONFIG.kind,
        "metadata": {"name": name},
        "spec": {
            "credentials": {
                "source": "PostgreSQLConnectionSecret",
                "connectionSecretRef": {"name": secret, "namespace": namespace},
                "secretKeyMapping": {
                    "endpoint": "address",
                    "port": "port",
                    "username": "username",
                    "password": "password",
                },
            },
            "sslMode": SSL_MODE,
            "defaultDatabase": database,
        },
    }


def group_resources(provider_config_name: str, database: str) -> dict[str, dict[str, Any]]:
    """The group role every binding joins, and what it may do (docs/postgresql-grants.md).

    Orphaned on deletion: it lives inside the database, which goes (or stays) with the instance,
    and deleting it would need the database reachable while everything is being torn down.
    """
    role = names.PG_GROUP_ROLE

    def sql(kind: Kind, fp: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return sql_managed(kind, provider_config_name, fp, deletion_policy="Orphan", **kw)

    return {
        "group-role": sql(
            SQL_ROLE,
            {"privileges": {"login": False, "inherit": True}},
            external_name=role,
        ),
        "group-database-grant": sql(
            SQL_GRANT,
            {"role": role, "database": database, "privileges": ["CONNECT", "TEMPORARY"]},
        ),
        "group-schema-grant": sql(
            SQL_GRANT,
            {
                "role": role,
                "database": database,
                "schema": "public",
                "privileges": ["USAGE", "CREATE"],
            },
        ),
    }


def render(req: Request) -> Rendered:
    spec = parse(Spec, (req.xr.get("spec") or {}), "spec")
    out = Rendered()
    spec = _keep_immutable(req, spec, out)
    s = req.settings
    plan, version = catalogue_entry(spec, s)
    region = spec.region or s.defaultRegion
    restored = restore.resolve(
        req,
        out,
        spec.restore,
        region=region,
        database=spec.parameters.databaseName,
        instance_key="instance",
    )
    if restored is None:  # waiting for the restore source; create nothing yet
        out.keep_desired = bool(req.observed)
        return out
    p = spec.parameters
    rules = DELETION[p.deletionPolicy]
    tags = merge_tags(s, p.tags)
    ctx = Context(
        settings=s,
        region=region,
        plan=plan,
        version=version,
        identifier=names.rds_identifier(s.namingPrefix, req.claim_name, req.uid),
        parameter_group=names.rds_parameter_group_name(s.namingPrefix, req.claim_name, req.uid),
        final_snapshot=names.final_snapshot_identifier(s.namingPrefix, req.claim_name, req.uid),
        master_secret=names.internal_secret_name("postgresql-master", req.uid),
        tags=tags,
    )
    conn_secret = names.internal_secret_name("postgresql-connection", req.uid)
    pc_name = names.sql_provider_config_name(req.uid)
    res = out.resources

    for_provider, init_provider = instance_parameters(spec, ctx)
    res["instance"] = managed(
        RDS_INSTANCE,
        s,
        for_provider,
        init_provider=init_provider,
        deletion_policy=rules.deletion_policy,
        connection_secret=(conn_secret, s.internalSecretNamespace),
    )
    # Records the encryption choice: the provider late-initializes kmsKeyId even for aes256.
    res["instance"]["metadata"] = {"annotations": {ENCRYPTION_ANNOTATION: _encryption_kind(p)}}
    restore.apply(res["instance"], restored)
    res["parameter-group"] = managed(
        RDS_PARAMETER_GROUP,
        s,
        {
            "region": region,
            "family": version.parameterGroupFamily,
            "description": f"PostgreSQL {spec.serviceVersion} of "
            f"{req.claim_namespace}/{req.claim_name}: TLS only",
            "parameter": [FORCE_SSL],
            "tags": tags,
        },
        deletion_policy=rules.deletion_policy,
        external_name=ctx.parameter_group,
    )

    enc = p.encryption
    kms_arn = enc.key.existing.id if enc.key and enc.key.existing else None
    if enc.key and enc.key.managed:
        # A key that encrypts a final snapshot or kept backups must outlive the instance.
        key_policy = "Delete" if p.deletionPolicy == "Delete" else "Orphan"
        res.update(
            managed_key_resources(
                req,
                s,
                region=region,
                alias=enc.key.managed.alias,
                description=f"RDS PostgreSQL {ctx.identifier} of "
                f"{req.claim_namespace}/{req.claim_name}",
                tags=tags,
                deletion_policy=key_policy,
            )
        )
        kms_arn = req.observed_field("kms-key", "status.atProvider.arn")

    res["provider-config"] = provider_config(
        pc_name, conn_secret, s.internalSecretNamespace, p.databaseName
    )
    res.update(group_resources(pc_name, p.databaseName))

    out.status = _status(req, spec, ctx, pc_name, kms_arn)
    return out


def _status(
    req: Request, spec: Spec, ctx: Context, pc_name: str, kms_arn: str | None
) -> dict[str, Any]:
    at = req.observed_field("instance", "status.atProvider") or {}
    status: dict[str, Any] = {
        "identifier": ctx.identifier,
        "region": ctx.region,
        "plan": spec.plan,
        "serviceVersion": spec.serviceVersion,
        "databaseName": spec.parameters.databaseName,
        "providerConfigName": pc_name,
    }
    for key, value in (
        ("arn", at.get("arn")),
        ("address", at.get("address")),
        ("port", at.get("port")),
        ("endpoint", at.get("endpoint")),
        ("engineVersion", at.get("engineVersionActual") or at.get("engineVersion")),
        ("latestRestorableTime", at.get("latestRestorableTime")),
        ("kmsKeyArn", kms_arn or at.get("kmsKeyId")),
    ):
        if value not in (None, ""):
            status[key] = int(value) if key == "port" else value
    return status


def _keep_immutable(req: Request, spec: Spec, out: Rendered) -> Spec:
    """Keep what the existing instance was created with; warn about the edit."""
    observed = req.observed.get("instance")
    if observed is None:
        return spec
    fp = (observed.resource.get("spec") or {}).get("forProvider") or {}
    ip = (observed.resource.get("spec") or {}).get("initProvider") or {}
    top: dict[str, Any] = {}
    params: dict[str, Any] = {}

    def keep(field: str, old: Any, new: Any, target: dict[str, Any], key: str) -> None:
        if old is not None and old != new:
            out.results.append(
                Result(
                    Severity.WARNING,
                    f"{field} is immutable: keeping {old!r}, ignoring {new!r}",
                    "ImmutableField",
                )
            )
            target[key] = old

    region = spec.region or req.settings.defaultRegion
    keep("spec.region", fp.get("region"), region, top, "region")
    keep("spec.serviceVersion", fp.get("engineVersion"), spec.serviceVersion, top, "serviceVersion")
    db = spec.parameters.databaseName
    keep("spec.parameters.databaseName", ip.get("dbName"), db, params, "databaseName")
    old_enc = _observed_encryption(req, fp)
    if old_enc is not None and old_enc != spec.parameters.encryption:
        out.results.append(
            Result(
                Severity.WARNING,
                "spec.parameters.encryption is immutable: keeping the encryption the instance "
                "was created with",
                "ImmutableField",
            )
        )
        params["encryption"] = old_enc
    if params:
        top["parameters"] = spec.parameters.model_copy(update=params)
    return spec.model_copy(update=top) if top else spec


def _encryption_kind(p: Parameters) -> str:
    if p.encryption.key is None:
        return "aes256"
    return "kms-managed" if p.encryption.key.managed else "kms-existing"


def _observed_encryption(req: Request, fp: dict[str, Any]) -> Encryption | None:
    annotations = req.observed_field("instance", "metadata.annotations") or {}
    kind = annotations.get(ENCRYPTION_ANNOTATION)
    if kind == "kms-managed":
        return observed_managed_encryption(req)
    if kind == "kms-existing" and fp.get("kmsKeyId"):
        return Encryption(type="kms", key=EncryptionKey(existing=ExistingKey(id=fp["kmsKeyId"])))
    if kind == "aes256":
        return Encryption(type="aes256")
    return None


__all__ = ["DELETION", "SERVICE", "InputError", "Spec", "instance_parameters", "render"]
