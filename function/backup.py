"""Backup -> one rds Snapshot; ScheduledBackup -> an AWS Backup Vault, Plan and Selection.

Both find their PostgresqlInstance through a required resource: the XR of the claim
``spec.instanceRef.name`` in the claim's namespace (``instance_requirement``). Until that
instance exists and is ready they render nothing new and say what they wait for.

Where each claim field becomes an AWS field:

Backup
- ``spec.instanceRef``               -> Snapshot ``forProvider.dbInstanceIdentifier`` and
                                        ``region`` (from the instance's status/spec)
- ``spec.parameters.deletionPolicy`` -> Snapshot ``deletionPolicy`` (Retain -> Orphan)
- (generated)                        -> Snapshot identifier (``crossplane.io/external-name``)

ScheduledBackup
- ``spec.instanceRef``         -> Selection ``resources`` (the instance ARN), ``region`` of all
- ``spec.schedule``            -> Plan ``rule[0].schedule`` (``SCHEDULES`` or a checked cron)
- ``spec.retentionDays``       -> Plan ``rule[0].lifecycle.deleteAfter``
- ``spec.pointInTimeRecovery`` -> Plan ``rule[0].enableContinuousBackup``
- operator ``backup.serviceRoleArn`` -> Selection ``iamRoleArn``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from function import names
from function.core import (
    InputError,
    Rendered,
    Request,
    dig,
    is_ready,
    merge_tags,
    parse,
)
from function.refs import find_claim, waiting
from function.regions import REGIONS
from function.resources import (
    BACKUP_PLAN,
    BACKUP_SELECTION,
    BACKUP_VAULT,
    RDS_SNAPSHOT,
    controller_ref_selector,
    managed,
)

INSTANCE_XR_KIND = "XPostgresqlInstance"
INSTANCE_REQUIREMENT = "postgresql-instance"
# Custom condition telling whether what a claim depends on is there (never ``Ready``).

# Kubernetes object names (DNS-1123 subdomain).
K8S_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"

# ``hourly`` at minute 0; ``daily`` at 05:00 UTC, the time of AWS Backup's own default plans.
SCHEDULES: dict[str, str] = {
    "hourly": "cron(0 * ? * * *)",
    "daily": "cron(0 5 ? * * *)",
}
# AWS Backup: continuous backups (point-in-time recovery) are kept 1-35 days.
CONTINUOUS_MAX_DAYS = 35
# AWS Backup: recovery points may be kept up to 100 years.
RETENTION_MAX_DAYS = 36500
# Minutes after the scheduled time in which a job must start (AWS minimum is 60).
START_WINDOW_MINUTES = 60


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceRef(_Strict):
    name: str = Field(pattern=K8S_NAME, description="a PostgresqlInstance claim, same namespace")


# --- finding the instance ------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """What a backup or restore needs to know about a PostgresqlInstance (from its XR)."""

    xr: dict[str, Any]
    identifier: str | None
    arn: str | None
    region: str
    ready: bool
    latest_restorable_time: str | None
    retention_days: int | None
    database_name: str | None
    created: str | None

    @classmethod
    def of(cls, xr: dict[str, Any], default_region: str) -> Instance:
        st = xr.get("status") or {}
        retention = dig(xr, "spec.parameters.backup.retentionDays")
        return cls(
            xr=xr,
            identifier=st.get("identifier") or None,
            arn=st.get("arn") or None,
            region=str(st.get("region") or dig(xr, "spec.region") or default_region),
            ready=is_ready(xr),
            latest_restorable_time=st.get("latestRestorableTime") or None,
            retention_days=int(retention) if isinstance(retention, int | float) else None,
            database_name=str(st["databaseName"]) if st.get("databaseName") else None,
            created=dig(xr, "metadata.creationTimestamp") or None,
        )

    @property
    def usable(self) -> bool:
        return self.ready and bool(self.identifier) and bool(self.arn)


def find_instance(
    req: Request, out: Rendered, ref: InstanceRef, field: str, key: str = INSTANCE_REQUIREMENT
) -> Instance | None:
    """Require the referenced PostgresqlInstance; the Instance when ready, else None (waiting).

    The requirement is always added, so Crossplane keeps resolving it on every call.
    """
    where, xr = find_claim(req, out, INSTANCE_XR_KIND, ref.name, field=field, key=key)
    if xr is None:
        return None
    inst = Instance.of(xr, req.settings.defaultRegion)
    if inst.region not in REGIONS:
        raise InputError(f"{field}: {where} has an unknown region {inst.region!r}")
    if not inst.usable:
        waiting(out, f"waiting for {where} to be ready")
        return None
    return inst


# --- Backup ----------------------------------------------------------------------------


class BackupParameters(_Strict):
    deletionPolicy: Literal["Retain", "Delete"] = "Retain"


class BackupSpec(BaseModel):
    # Crossplane adds its own fields (compositionRef, claimRef, ...) to the XR spec.
    model_config = ConfigDict(extra="ignore", frozen=True)

    instanceRef: InstanceRef
    parameters: BackupParameters = Field(default_factory=BackupParameters)


def render_backup(req: Request) -> Rendered:
    spec = parse(BackupSpec, req.xr.get("spec") or {}, "spec")
    out = Rendered()
    s = req.settings
    snapshot_id = names.snapshot_identifier(s.namingPrefix, req.claim_name, req.uid)
    policy = "Orphan" if spec.parameters.deletionPolicy == "Retain" else "Delete"
    inst = find_instance(req, out, spec.instanceRef, "spec.instanceRef")

    # A snapshot never changes once taken: when it exists it no longer needs the
    # instance (which may be gone by now), so render it from what was created.
    observed_source = req.observed_field("snapshot", "spec.forProvider.dbInstanceIdentifier")
    if observed_source:
        out.results.clear()
        out.conditions.clear()
        db_identifier = str(observed_source)
        region = str(req.observed_field("snapshot", "spec.forProvider.region"))
    elif inst is not None:
        db_identifier, region = str(inst.identifier), inst.region
    else:
        return out  # waiting; nothing to keep

    out.resources["snapshot"] = managed(
        RDS_SNAPSHOT,
        s,
        {"region": region, "dbInstanceIdentifier": db_identifier, "tags": merge_tags(s, None)},
        deletion_policy=policy,
        external_name=snapshot_id,
    )
    out.status = {
        "snapshotIdentifier": snapshot_id,
        "instanceIdentifier": db_identifier,
        "region": region,
    }
    # The database a restore from this snapshot brings (kept once the instance is gone).
    database = (inst.database_name if inst else None) or dig(req.xr, "status.databaseName")
    if database:
        out.status["databaseName"] = str(database)
    at = req.observed_field("snapshot", "status.atProvider") or {}
    if at.get("dbSnapshotArn"):
        out.status["snapshotArn"] = at["dbSnapshotArn"]
    if at.get("status"):
        out.status["snapshotStatus"] = at["status"]
    return out


# --- ScheduledBackup -------------------------------------------------------------------

_NUM = r"\d{1,4}"
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    words: str = ""  # alternation of names allowed as values
    extra: str = ""  # extra token syntax (L, W, #)


_CRON_FIELDS = (
    _CronField("minutes", 0, 59),
    _CronField("hours", 0, 23),
    _CronField("day-of-month", 1, 31, extra=r"L|LW|\d{1,2}W"),
    _CronField("month", 1, 12, words=_MONTHS),
    _CronField("day-of-week", 1, 7, words=_DAYS, extra=rf"L|[1-7]L|[1-7]#[1-5]|(?:{_DAYS})#[1-5]"),
    _CronField("year", 1970, 2199),
)


def _cron_value(f: _CronField, text: str) -> bool:
    if f.words and re.fullmatch(f.words, text):
        return True
    return bool(re.fullmatch(_NUM, text)) and f.low <= int(text) <= f.high


def _cron_token(f: _CronField, token: str) -> bool:
    """One comma-separated item: ``*``, ``v``, ``a-b``, ``*/n``, ``v/n``, ``a-b/n`` or L/W/#."""
    if f.extra and re.fullmatch(f.extra, token):
        return True
    base, slash, step = token.partition("/")
    if slash and not (re.fullmatch(r"\d{1,4}", step) and 1 <= int(step) <= f.high):
        return False
    if base == "*":
        return True
    low, dash, high = base.partition("-")
    if dash:
        return _cron_value(f, low) and _cron_value(f, high)
    return _cron_value(f, base)


def cron_error(expr: str) -> str | None:
    """Why ``expr`` is not an AWS cron expression AWS Backup accepts, or None when it is.

    AWS: ``cron(minutes hours day-of-month month day-of-week year)``; exactly one of
    day-of-month and day-of-week is ``?``. AWS Backup runs a plan at most once an hour,
    so the minutes field must be a single minute.
    """
    m = re.fullmatch(r"cron\((.*)\)", expr)
    if not m:
        return "must be 'hourly', 'daily' or an AWS cron expression 'cron(...)'"
    parts = m.group(1).split()
    if len(parts) != 6:
        return (
            f"an AWS cron expression has six fields (minutes hours day-of-month month "
            f"day-of-week year), got {len(parts)}"
        )
    for f, part in zip(_CRON_FIELDS, parts, strict=True):
        if part == "?" and f.name in ("day-of-month", "day-of-week"):
            continue
        if not all(_cron_token(f, t) for t in part.split(",")):
            return f"invalid {f.name} field {part!r} (values {f.low}-{f.high})"
    if (parts[2] == "?") == (parts[4] == "?"):
        return "exactly one of day-of-month and day-of-week must be '?'"
    if not re.fullmatch(r"\d{1,2}", parts[0]):
        return "the minutes field must be one minute (0-59): AWS Backup runs at most hourly"
    return None


class ScheduledBackupSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    instanceRef: InstanceRef
    schedule: str = "daily"
    retentionDays: int = Field(default=7, ge=1, le=RETENTION_MAX_DAYS)
    pointInTimeRecovery: bool = False

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if value in SCHEDULES:
            return value
        err = cron_error(value)
        if err:
            raise ValueError(err)
        return value

    @model_validator(mode="after")
    def _continuous_retention(self) -> ScheduledBackupSpec:
        if self.pointInTimeRecovery and self.retentionDays > CONTINUOUS_MAX_DAYS:
            raise ValueError(
                f"retentionDays must be at most {CONTINUOUS_MAX_DAYS} with pointInTimeRecovery "
                f"(continuous backup), got {self.retentionDays}"
            )
        return self

    @property
    def cron(self) -> str:
        return SCHEDULES.get(self.schedule, self.schedule)


def plan_rule(spec: ScheduledBackupSpec, name: str, tags: dict[str, str]) -> dict[str, Any]:
    """The one rule of the plan (backup Plan v1beta2: ``lifecycle`` is an object)."""
    return {
        "ruleName": name,
        "targetVaultNameSelector": controller_ref_selector(),
        "schedule": spec.cron,
        "startWindow": START_WINDOW_MINUTES,
        "lifecycle": {"deleteAfter": spec.retentionDays},
        "enableContinuousBackup": spec.pointInTimeRecovery,
        "recoveryPointTags": tags,
    }


def render_scheduled_backup(req: Request) -> Rendered:
    spec = parse(ScheduledBackupSpec, req.xr.get("spec") or {}, "spec")
    out = Rendered()
    s = req.settings
    name = names.backup_name(s.namingPrefix, req.claim_name, req.uid)
    inst = find_instance(req, out, spec.instanceRef, "spec.instanceRef")
    if inst is None:
        # Keep what exists (and its recovery points) while the instance is unavailable.
        out.keep_desired = bool(req.observed)
        return out

    tags = merge_tags(s, None)
    region = inst.region

    def child(kind, for_provider: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return managed(kind, s, {"region": region, **for_provider}, **kw)

    # The vault holds the recovery points: deleting the claim keeps it (Orphan) so the
    # backups taken stay restorable until their lifecycle expires them.
    out.resources["vault"] = child(
        BACKUP_VAULT,
        {"forceDestroy": False, "tags": tags},
        deletion_policy="Orphan",
        external_name=name,
    )
    out.resources["plan"] = child(
        BACKUP_PLAN, {"name": name, "rule": [plan_rule(spec, name, tags)], "tags": tags}
    )
    out.resources["selection"] = child(
        BACKUP_SELECTION,
        {
            "name": name,
            "iamRoleArn": s.backup.serviceRoleArn,
            "planIdSelector": controller_ref_selector(),
            "resources": [inst.arn],
        },
    )
    out.status = {
        "planName": name,
        "vaultName": name,
        "schedule": spec.cron,
        "retentionDays": spec.retentionDays,
        "pointInTimeRecovery": spec.pointInTimeRecovery,
        "instanceIdentifier": inst.identifier,
        "region": region,
    }
    for key, field in (("plan", "planArn"), ("vault", "vaultArn")):
        arn = req.observed_field(key, "status.atProvider.arn")
        if arn:
            out.status[field] = arn
    return out


__all__ = [
    "SCHEDULES",
    "BackupSpec",
    "Instance",
    "InstanceRef",
    "ScheduledBackupSpec",
    "cron_error",
    "find_instance",
    "render_backup",
    "render_scheduled_backup",
]
