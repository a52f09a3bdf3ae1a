"""PostgresqlInstance ``spec.restore`` -> the rds Instance fields that create it from a backup.

Where each claim field becomes an AWS field (rds Instance v1beta3, all in ``initProvider``):
- ``restore.backup.arn``                   -> ``snapshotIdentifier`` (ARN or identifier, as given)
- ``restore.backup.name``                  -> ``snapshotIdentifier`` = the Backup's
                                              ``status.snapshotIdentifier`` (a required resource)
- ``restore.pointInTime.sourceInstanceRef`` -> ``restoreToPointInTime.sourceDbInstanceIdentifier``
                                              = the source XR's ``status.identifier``
- ``restore.pointInTime.sourceIdentifier``  -> ``restoreToPointInTime.sourceDbInstanceIdentifier``
- ``restore.pointInTime.time``              -> ``restoreToPointInTime.restoreTime`` (UTC, RFC 3339)
- ``restore.pointInTime.latest``            -> ``restoreToPointInTime.useLatestRestorableTime``

Why ``initProvider`` and not ``forProvider``: the rds Instance CRD says of ``initProvider``
"The fields that are in InitProvider are merged into ForProvider when the resource is
created. The same fields are also added to the terraform ignore_changes hook, to avoid
updating them after creation." A restore source is a create-time input; in Terraform both
``snapshot_identifier`` and ``restore_to_point_in_time`` force a new resource when they
change, so in ``forProvider`` any later difference (an edit, a field the provider
normalises) would replace the database. In ``initProvider`` it is used once and ignored
after. The same holds for ``dbName`` and ``username``: a restored instance takes both from
its source, so ``CREATION_ONLY_FIELDS`` moves them to ``initProvider`` too (else a claim
whose database name differs from the source's would make Terraform replace the instance).

Determinism and time: the function never reads the clock. A restore time is judged
against bounds the request itself carries:
- after this XR's ``metadata.creationTimestamp`` (when the restore was asked for):
  in the future, fatal;
- after the source's ``status.latestRestorableTime``: not restorable *yet*; it waits when
  the time is before the request (AWS catches up within minutes), else fatal;
- before the source's creation, or before ``latestRestorableTime - backupRetentionDays`` (both
  from the source's status): outside the retention, fatal.
A ``sourceIdentifier`` (an instance this package does not manage) has only the first bound;
AWS checks the rest and the provider reports it on the Instance.

Immutability: once the rds Instance exists, the restore fields are re-emitted exactly as
observed (never dropped: dropping them would lift Terraform's ignore_changes) and a changed
``spec.restore`` is only warned about. ``RESTORE_ANNOTATION`` on the Instance records the
restore it was created with, so the function can tell an edit from the original.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, field_validator, model_validator

from function.claims import (
    BACKUP,
    POSTGRESQL_INSTANCE,
    BackupStatus,
    ClaimName,
    PostgresqlInstanceStatus,
    Strict,
)
from function.core import (
    CLAIM_NAME_LABEL,
    InputError,
    Rendered,
    Request,
    Result,
    Severity,
    dig,
    parse,
)
from function.refs import (
    Found,
    claim_namespace,
    depend,
    depend_on,
    namespace_claims,
    requirement,
    satisfied,
    waiting,
)

BACKUP_REQUIREMENT = "restore-backup"
SOURCE_REQUIREMENT = "restore-source"
# The Backups of the namespace that vouch for a deleted source instance (point in time).
SOURCE_BACKUPS_REQUIREMENT = "restore-source-backups"
# The PostgresqlInstances of the namespace, one of which may vouch for a snapshot it took
# before a major upgrade (``status.preUpgradeSnapshot``, function/upgrade.py).
UPGRADE_SNAPSHOTS_REQUIREMENT = "restore-upgrade-snapshots"
RESTORE_ANNOTATION = "klutch.anynines.com/restore"
# Instance fields the restore source decides; set only at creation when restoring.
# ``storageEncrypted``: RestoreDBInstanceFromDBSnapshot / ToPointInTime take no encryption
# setting (the copy is encrypted as its source is), and Terraform's ``storage_encrypted`` is
# ForceNew: in ``initProvider`` it is never compared with what the source brought.
CREATION_ONLY_FIELDS = ("dbName", "username", "storageEncrypted")
# Instance fields that carry the restore source.
RESTORE_FIELDS = ("snapshotIdentifier", "restoreToPointInTime")

# ASCII digits only (Python's ``\d`` takes any Unicode digit; issue 27 item 13).
RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
SNAPSHOT_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:rds:(?P<region>[a-z0-9-]+):[0-9]{12}:snapshot:[A-Za-z][A-Za-z0-9:-]{0,254}$"
)
# Manual (``my-snap``), automated (``rds:db-2025-06-01-03-00``) and AWS Backup
# (``awsbackup:job-...``) snapshot identifiers.
SNAPSHOT_ID = re.compile(r"^[A-Za-z][A-Za-z0-9:-]{0,254}$")
# RDS DB instance identifier: letter first, alnum and single hyphens, no trailing hyphen.
DB_IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")


class BackupSource(Strict):
    """Restore a snapshot: a Backup claim's, by name, or one by ARN or identifier."""

    name: ClaimName | None = Field(default=None, description="a Backup claim")
    arn: str | None = Field(default=None, description="a DB snapshot ARN or identifier")

    @field_validator("arn")
    @classmethod
    def _snapshot(cls, value: str | None) -> str | None:
        is_arn = value is not None and value.startswith("arn:")
        if value is not None and not (SNAPSHOT_ARN if is_arn else SNAPSHOT_ID).fullmatch(value):
            raise ValueError(
                "must be a DB snapshot ARN (arn:aws:rds:<region>:<account>:snapshot:<id>) "
                "or a snapshot identifier"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> BackupSource:
        if (self.name is None) == (self.arn is None):
            raise ValueError("set exactly one of 'name' (a Backup) or 'arn' (a snapshot)")
        return self


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp with its offset, as an aware datetime in UTC."""
    if not RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 timestamp, e.g. 2025-06-01T12:00:00Z")
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except ValueError:
        raise ValueError("must be an RFC 3339 timestamp, e.g. 2025-06-01T12:00:00Z") from None


def utc(moment: datetime) -> str:
    """The form RDS takes: ``2025-06-01T12:00:00Z`` (fractions kept when given)."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


class PointInTime(Strict):
    """Restore a source instance's state at a moment of its backup retention window."""

    sourceInstanceRef: ClaimName | None = None
    sourceIdentifier: str | None = None
    time: str | None = None
    latest: bool | None = None

    @field_validator("sourceIdentifier")
    @classmethod
    def _db_identifier(cls, value: str | None) -> str | None:
        if value is not None and not DB_IDENTIFIER.fullmatch(value):
            raise ValueError(
                "must be an RDS DB instance identifier (1-63 letters, digits and single "
                "hyphens, starting with a letter, not ending with a hyphen)"
            )
        return value

    @field_validator("time")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)
        return value

    @model_validator(mode="after")
    def _exactly_one_each(self) -> PointInTime:
        if (self.sourceInstanceRef is None) == (self.sourceIdentifier is None):
            raise ValueError("set exactly one of 'sourceInstanceRef' or 'sourceIdentifier'")
        if self.latest is False:
            raise ValueError("'latest' may only be true; to pick a moment use 'time'")
        if (self.time is None) == (self.latest is None):
            raise ValueError("set exactly one of 'time' (RFC 3339) or 'latest: true'")
        return self

    @property
    def moment(self) -> datetime | None:
        """The requested time, parsed; None for ``latest: true``."""
        return parse_time(self.time) if self.time else None


class Restore(Strict):
    """``spec.restore``: exactly one restore mode."""

    backup: BackupSource | None = None
    pointInTime: PointInTime | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Restore:
        if (self.backup is None) == (self.pointInTime is None):
            raise ValueError("set exactly one restore mode: 'backup' or 'pointInTime'")
        return self

    def canonical(self) -> str:
        """Compact, key-sorted JSON: what the Instance records in ``RESTORE_ANNOTATION``."""
        body = self.model_dump(mode="json", exclude_none=True)
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


@dataclass
class Resolved:
    """What the rds Instance gets from ``spec.restore``."""

    init_provider: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # The engine version the restored instance starts with: the source's exact version (as
    # its Backup or PostgresqlInstance publishes it), or None (then none is rendered).
    engine_version: str | None = None
    # GiB the source holds (its Backup's snapshot, its instance), when published: the least
    # allocatedStorage and maxAllocatedStorage of the restore (postgresql._allocated_storage).
    allocated_storage: int | None = None

    @property
    def restoring(self) -> bool:
        """The instance is (or was) created from a restore source."""
        return bool(self.init_provider)


def raw_sources_allowed(req: Request) -> bool:
    """Whether ``spec.restore`` may name an AWS source no claim of its namespace vouches for.

    A tenant may restore only what its own namespace owns, so a raw snapshot ARN or DB
    identifier is refused unless the operator turned on per-namespace ProviderConfigs; then
    every managed resource of the claim uses its namespace's ProviderConfig and AWS IAM
    decides what the namespace may restore. True exactly when the environment's
    ``providerConfigNameTemplate`` is set (``Environment.per_namespace_provider_configs``);
    docs/operator-guide.md, section "Restores across namespaces", gives the rule and the IAM
    policy per namespace that makes it safe.
    """
    return req.environment.per_namespace_provider_configs


@dataclass(frozen=True)
class _Source:
    """What a resolved restore source gives the Instance."""

    fields: dict[str, Any]
    engine_version: str | None
    allocated_storage: int | None = None


def resolve(
    req: Request,
    out: Rendered,
    raw: Any,
    *,
    region: str,
    database: str,
    service_version: str,
    key_requested: bool,
    instance_key: str,
) -> Resolved | None:
    """The restore fields for the Instance, or None while waiting for the source.

    ``raw`` is the XR's ``spec.restore``; ``database`` the claim's database name, which must
    be the one the source brings; ``service_version`` the claim's, which must be the source's
    major (or its exact minor); ``key_requested`` whether the claim asks for a KMS key of its
    own; ``instance_key`` the key of the rds Instance among the composed resources.
    Requirements, warnings and waiting conditions go to ``out``; bad input raises InputError
    naming the field.
    """
    observed = req.observed.get(instance_key)
    if observed is not None:
        return _as_created(observed.resource, raw, out)
    if raw is None:
        return Resolved()
    spec = parse(Restore, raw, "spec.restore")
    if key_requested:
        # RestoreDBInstanceFromDBSnapshot and RestoreDBInstanceToPointInTime take no
        # KmsKeyId (the copy keeps its source's key; only RestoreDBCluster* re-key), and
        # Terraform's kms_key_id is ForceNew: a key here is never applied and never changes.
        raise InputError(
            "spec.config.encryption.key: a restored instance keeps the KMS key of its source "
            "(RDS restores take no key); remove encryption.key. To re-key, copy the snapshot "
            "with the new key and restore the copy"
        )
    source: _Source | None
    if spec.backup is not None:
        source = _from_backup(req, out, spec.backup, region, database)
    else:
        assert spec.pointInTime is not None
        source = _to_point_in_time(req, out, spec.pointInTime, region, database)
    if source is None:
        return None
    return Resolved(
        source.fields,
        {RESTORE_ANNOTATION: spec.canonical()},
        engine_version=source_engine_version(source.engine_version, service_version),
        allocated_storage=source.allocated_storage,
    )


def source_engine_version(source: str | None, service_version: str) -> str | None:
    """The version a restore renders: the source's exact version, which the claim's
    ``serviceVersion`` must name (its major, or that very minor); None when unknown.

    After a snapshot restore Terraform sends ``engine_version`` together with the new master
    password in one ModifyDBInstance (terraform-provider-aws internal/service/rds/instance.go,
    ``resourceInstanceCreate``, the ``snapshot_identifier`` branch). A major such as ``"16"``
    makes AWS pick the region's default minor, which fails when the snapshot is newer: the
    password is then never reset. The source's own version changes nothing in that call.
    """
    if not source:
        return None
    major = source.split(".")[0]
    if service_version.split(".", maxsplit=1)[0] != major or (
        "." in service_version and service_version != source
    ):
        raise InputError(
            f"spec.serviceVersion: the restore source runs PostgreSQL {source} and a restore "
            f"starts at the source's version; set serviceVersion to {major!r} or {source!r} "
            f"(it is {service_version!r})"
        )
    return source


def _same_database(source_database: Any, database: str, where: str) -> None:
    """A restore brings the source's database; the claim must name that one.

    The ProviderConfig and every ServiceBinding use the claim's databaseName, so a different
    name would point them at a database that does not exist.
    """
    if source_database and str(source_database) != database:
        raise InputError(
            f"spec.config.database.name: a restore brings the database of {where}, "
            f"{str(source_database)!r}; set database.name to {str(source_database)!r} "
            f"(it is {database!r})"
        )


def _from_backup(
    req: Request, out: Rendered, src: BackupSource, region: str, database: str
) -> _Source | None:
    found: Found[BackupStatus] | None
    if src.arn is not None:
        field = "spec.restore.backup.arn"
        m = SNAPSHOT_ARN.fullmatch(src.arn)
        if m and m.group("region") != region:
            raise InputError(
                f"{field}: the snapshot is in {m.group('region')}, the instance "
                f"in {region}; copy the snapshot to {region} first"
            )
        if raw_sources_allowed(req):
            return _Source({"snapshotIdentifier": src.arn}, None)
        backups = namespace_claims(req, out, BACKUP, field=field, key=BACKUP_REQUIREMENT)
        if backups is None:
            return None
        vouching = sorted(
            (x for x in backups if src.arn in _published(x, "snapshotArn", "snapshotIdentifier")),
            key=_name,
        )
        if not vouching:
            return _from_pre_upgrade_snapshot(req, out, src.arn, region, database)
        found = depend_on(req, out, vouching[0], BackupStatus, field=field)
    else:
        assert src.name is not None
        field = "spec.restore.backup.name"
        found = depend(
            req, out, BACKUP, src.name, BackupStatus, field=field, key=BACKUP_REQUIREMENT
        )
    if found is None:
        return None
    backup = found.status
    if backup.region != region:
        raise InputError(f"{field}: {found.where} is in {backup.region}, the instance in {region}")
    _same_database(backup.databaseName, database, found.where)
    return _Source(
        {"snapshotIdentifier": backup.snapshotIdentifier},
        backup.engineVersion,
        backup.allocatedStorage,
    )


def _from_pre_upgrade_snapshot(
    req: Request, out: Rendered, snapshot: str, region: str, database: str
) -> _Source | None:
    """A snapshot a PostgresqlInstance of this namespace took before its major upgrade and
    publishes (``status.preUpgradeSnapshot``: ``identifier``, ``arn``, ``engineVersion``);
    None while Crossplane has not sent the namespace's instances; else InputError."""
    field = "spec.restore.backup.arn"
    instances = namespace_claims(
        req, out, POSTGRESQL_INSTANCE, field=field, key=UPGRADE_SNAPSHOTS_REQUIREMENT
    )
    if instances is None:
        return None
    for xr in sorted(instances, key=_name):
        status = xr.get("status") or {}
        taken = status.get("preUpgradeSnapshot")
        if not isinstance(taken, dict) or snapshot not in _published(
            {"status": taken}, "identifier", "arn"
        ):
            continue
        claim = (xr.get("metadata") or {}).get("labels", {}).get(CLAIM_NAME_LABEL, _name(xr))
        where = f"the PostgresqlInstance {claim!r} (status.preUpgradeSnapshot)"
        if status.get("region") != region:
            raise InputError(
                f"{field}: {where} is in {status.get('region')}, the instance in {region}"
            )
        _same_database(status.get("databaseName"), database, where)
        version = taken.get("engineVersion")
        return _Source(
            {"snapshotIdentifier": str(taken["identifier"])},
            str(version) if version else None,
            None,
        )
    raise InputError(
        f"{field}: no Backup of this namespace published the snapshot {snapshot!r}, nor a "
        "PostgresqlInstance as its pre-upgrade snapshot; a restore may only use a snapshot "
        "a claim of its own namespace took (name a Backup with backup.name, or give its "
        "status.snapshotArn, or a PostgresqlInstance's status.preUpgradeSnapshot.identifier)"
    )


def _published(xr: dict[str, Any], *fields: str) -> set[str]:
    status = xr.get("status") or {}
    return {v for f in fields if isinstance(v := status.get(f), str) and v}


def _name(xr: dict[str, Any]) -> str:
    return str((xr.get("metadata") or {}).get("name") or "")


def _point(moment: datetime | None, source: dict[str, Any]) -> dict[str, Any]:
    target = dict(source)
    if moment is not None:
        target["restoreTime"] = utc(moment)
    else:
        target["useLatestRestorableTime"] = True
    return {"restoreToPointInTime": target}


def _to_point_in_time(
    req: Request, out: Rendered, pit: PointInTime, region: str, database: str
) -> _Source | None:
    """A point-in-time restore: the source instance, live or vouched for by the Backups it
    took, checked against the request's bounds (see the module docstring)."""
    moment = pit.moment
    requested = _timestamp(dig(req.xr, "metadata.creationTimestamp"))
    if moment is not None and requested is not None and moment > requested:
        raise InputError(
            f"spec.restore.pointInTime.time: {pit.time} is in the future: after this "
            f"PostgresqlInstance was requested ({utc(requested)})"
        )
    where = _Where(moment=moment, region=region, database=database)
    found: _Source | Found[PostgresqlInstanceStatus] | None
    if pit.sourceIdentifier is not None:
        field_name = "spec.restore.pointInTime.sourceIdentifier"
        found = _source_by_identifier(req, out, pit.sourceIdentifier, where, field_name)
    else:
        assert pit.sourceInstanceRef is not None
        field_name = "spec.restore.pointInTime.sourceInstanceRef"
        found = _source_by_ref(req, out, pit.sourceInstanceRef, where, field_name)
    if found is None or isinstance(found, _Source):
        return found
    return _from_live(out, pit, found, where, requested=requested, field_name=field_name)


@dataclass(frozen=True)
class _Where:
    """What a point-in-time source must fit: the moment (None: latest), region and database."""

    moment: datetime | None
    region: str
    database: str


def _source_by_identifier(
    req: Request, out: Rendered, identifier: str, where: _Where, field_name: str
) -> _Source | Found[PostgresqlInstanceStatus] | None:
    """``sourceIdentifier``: as given when raw sources are allowed; else the instance of this
    namespace that published it, or the Backups that recorded it once it was deleted."""
    if raw_sources_allowed(req):
        return _Source(_point(where.moment, {"sourceDbInstanceIdentifier": identifier}), None)
    instances = namespace_claims(
        req, out, POSTGRESQL_INSTANCE, field=field_name, key=SOURCE_REQUIREMENT
    )
    backups = namespace_claims(req, out, BACKUP, field=field_name, key=SOURCE_BACKUPS_REQUIREMENT)
    if instances is None or backups is None:
        return None
    live = sorted((x for x in instances if identifier in _published(x, "identifier")), key=_name)
    if live:
        return depend_on(req, out, live[0], PostgresqlInstanceStatus, field=field_name)
    gone = [b for b in backups if identifier in _published(b, "instanceIdentifier")]
    if not gone:
        raise InputError(
            f"{field_name}: no PostgresqlInstance or Backup of this namespace published "
            f"the DB identifier {identifier!r}; a restore may only copy a "
            "database of its own namespace (name it with sourceInstanceRef)"
        )
    return _from_retained(
        out,
        gone,
        moment=where.moment,
        region=where.region,
        database=where.database,
        field_name=field_name,
    )


def _source_by_ref(
    req: Request, out: Rendered, ref: str, where: _Where, field_name: str
) -> _Source | Found[PostgresqlInstanceStatus] | None:
    """``sourceInstanceRef``: the PostgresqlInstance of that name, or, once it is gone, the
    Backups it took, which recorded it."""
    if req.required.get(SOURCE_REQUIREMENT) == []:
        # No such PostgresqlInstance (any more): a Backup it took still vouches for it.
        ns = claim_namespace(req, field_name)
        out.requirements[SOURCE_REQUIREMENT] = requirement(POSTGRESQL_INSTANCE, ref, ns)
        backups = namespace_claims(
            req, out, BACKUP, field=field_name, key=SOURCE_BACKUPS_REQUIREMENT, quiet=True
        )
        gone = [b for b in backups or [] if dig(b, "spec.instanceRef") == ref]
        if any(_published(b, "instanceResourceId") for b in gone):
            return _from_retained(
                out,
                gone,
                moment=where.moment,
                region=where.region,
                database=where.database,
                field_name=field_name,
            )
    return depend(
        req,
        out,
        POSTGRESQL_INSTANCE,
        ref,
        PostgresqlInstanceStatus,
        field=field_name,
        key=SOURCE_REQUIREMENT,
    )


def _from_live(
    out: Rendered,
    pit: PointInTime,
    src: Found[PostgresqlInstanceStatus],
    where: _Where,
    *,
    requested: datetime | None,
    field_name: str,
) -> _Source | None:
    """A live source instance of this namespace: same region and database, and the moment
    within what its status says is restorable (None while waiting for it)."""
    if src.status.region != where.region:
        raise InputError(
            f"{field_name}: the source is in {src.status.region}, the instance in "
            f"{where.region}; a point-in-time restore stays in the source's region"
        )
    _same_database(src.status.databaseName, where.database, src.where)
    moment = where.moment
    if moment is not None and not _within_retention(out, pit, moment, src, requested):
        return None
    return _Source(
        _point(moment, {"sourceDbInstanceIdentifier": src.status.identifier}),
        src.status.engineVersion,
        src.status.allocatedStorage,
    )


def _from_retained(
    out: Rendered,
    backups: list[dict[str, Any]],
    *,
    moment: datetime | None,
    region: str,
    database: str,
    field_name: str,
) -> _Source:
    """A point-in-time restore of a deleted instance of this namespace, vouched for by the
    Backups it took: their status recorded its identifier and DbiResourceId while it existed.

    AWS keeps a deleted instance's automated backups (``deleteAutomatedBackups: false``, what
    ``SnapshotAndDelete`` and ``Orphan`` render) for their retention period and restores them
    only by ``SourceDbiResourceId`` or the automated-backups ARN
    (RestoreDBInstanceToPointInTime; rds Instance v1beta3
    ``restoreToPointInTime.sourceDbiResourceId``). The window is no longer published, so only
    "not in the future" is checked here; AWS refuses a time outside the kept backups and the
    provider reports it on the Instance.
    """
    records = sorted(
        ((_name(b), s) for b in backups if (s := BackupStatus.read(b)) and s.instanceResourceId),
        key=lambda r: r[0],
    )
    instances = sorted({s.instanceIdentifier or "?" for _, s in records})
    if len({s.instanceResourceId for _, s in records}) != 1:
        raise InputError(
            f"{field_name}: the Backups of this namespace recorded {len(instances)} deleted "
            f"instances of that name ({', '.join(instances)}); name one with "
            "pointInTime.sourceIdentifier"
        )
    name, record = records[0]
    assert record.instanceResourceId is not None
    if record.region != region:
        raise InputError(
            f"{field_name}: the source was in {record.region}, the instance in {region}; "
            "a point-in-time restore stays in the source's region"
        )
    where = f"deleted instance {instances[0]} (recorded by Backup {name})"
    _same_database(record.databaseName, database, where)
    satisfied(out, f"restoring the retained automated backups of the {where}")
    return _Source(
        _point(moment, {"sourceDbiResourceId": record.instanceResourceId}),
        record.engineVersion,
        record.allocatedStorage,
    )


def _within_retention(
    out: Rendered,
    pit: PointInTime,
    moment: datetime,
    src: Found[PostgresqlInstanceStatus],
    requested: datetime | None,
) -> bool:
    """Check ``moment`` against what the source's XR tells; False while it must wait."""
    f = "spec.restore.pointInTime.time"
    created_at = dig(src.xr, "metadata.creationTimestamp")
    created = _timestamp(created_at)
    if created is not None and moment < created:
        raise InputError(f"{f}: {pit.time} is before the source instance existed ({created_at})")
    latest_at = src.status.latestRestorableTime
    latest = _timestamp(latest_at)
    if latest is None:
        return True
    retention = src.status.backupRetentionDays
    if retention is not None:
        earliest = latest - timedelta(days=retention)
        if moment < earliest:
            raise InputError(
                f"{f}: {pit.time} is older than the source's backup retention of "
                f"{retention} days (earliest restorable about {utc(earliest)})"
            )
    if moment > latest:
        if requested is None:
            raise InputError(
                f"{f}: {pit.time} is after the source's latest restorable time ({latest_at})"
            )
        waiting(
            out,
            f"waiting until the source's latest restorable time ({latest_at}) reaches {pit.time}",
            "WaitingForRestorableTime",
        )
        return False
    return True


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _as_created(instance: Mapping[str, Any], raw: Any, out: Rendered) -> Resolved:
    """The restore the existing Instance was created with, unchanged; warn about any edit."""
    init = dig(instance, "spec.initProvider") or {}
    fields = {k: init[k] for k in (*RESTORE_FIELDS, *CREATION_ONLY_FIELDS) if k in init}
    if not any(k in fields for k in RESTORE_FIELDS):
        fields = {}  # not a restore: dbName/username stay where the instance renders them
    recorded = (dig(instance, "metadata.annotations") or {}).get(RESTORE_ANNOTATION)
    try:
        current = parse(Restore, raw, "spec.restore").canonical() if raw is not None else None
    except InputError:
        current = "invalid"
    if current != recorded:
        was = f"restored from {recorded}" if recorded else "created without a restore"
        out.results.append(
            Result(
                Severity.WARNING,
                f"spec.restore is immutable: the database was {was}; ignoring the change "
                "(a restore always makes a new PostgresqlInstance)",
                "ImmutableField",
            )
        )
    engine = dig(instance, "spec.forProvider.engineVersion") if fields else None
    return Resolved(
        fields,
        {RESTORE_ANNOTATION: recorded} if recorded else {},
        engine_version=str(engine) if engine else None,
    )


def apply(instance: dict[str, Any], resolved: Resolved) -> dict[str, Any]:
    """Merge the restore into a rendered rds Instance (returns it, changed in place).

    The restore fields go to ``initProvider``; when restoring, ``CREATION_ONLY_FIELDS`` move
    from ``forProvider`` to ``initProvider``.
    """
    if resolved.annotations:
        meta = instance.setdefault("metadata", {})
        meta.setdefault("annotations", {}).update(resolved.annotations)
    if not resolved.init_provider:
        return instance
    spec = instance.setdefault("spec", {})
    for_provider = spec.setdefault("forProvider", {})
    init = spec.setdefault("initProvider", {})
    for key in CREATION_ONLY_FIELDS:
        if key in for_provider:
            init[key] = for_provider.pop(key)
    init.update(resolved.init_provider)
    return instance


__all__ = [
    "CREATION_ONLY_FIELDS",
    "RESTORE_ANNOTATION",
    "PointInTime",
    "Resolved",
    "Restore",
    "apply",
    "parse_time",
    "raw_sources_allowed",
    "resolve",
    "source_engine_version",
]
