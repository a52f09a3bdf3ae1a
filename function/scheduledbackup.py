"""ScheduledBackup -> an AWS Backup Vault, Plan and Selection for one PostgresqlInstance.

The ScheduledBackup finds its PostgresqlInstance through a required resource (``refs.depend``):
the XR of the claim ``spec.instanceRef`` in the claim's namespace. Until that instance is ready
it keeps what exists and says what it waits for.

Where each claim field becomes an AWS field:
- ``spec.instanceRef``         -> Selection ``resources`` (the instance ARN), ``region`` of all
- ``spec.schedule``            -> Plan ``rule[0].schedule`` (``SCHEDULES`` or a checked cron)
- ``spec.retentionDays``       -> Plan ``rule[0].lifecycle.deleteAfter``
- ``spec.pointInTimeRecovery`` -> Plan ``rule[0].enableContinuousBackup``
- environment ``backup.serviceRoleArn`` -> Selection ``iamRoleArn``; without it an iam Role
  (``backup-role``, trusting ``backup.amazonaws.com``) with AWS's managed backup and restore
  policies attached (``backup-role-policy-*``), selected by ``iamRoleArnSelector``
- environment ``limits`` -> ``retentionDays`` and ``schedule`` within them

The Selection follows its role: AWS Backup has no UpdateBackupSelection, Terraform's
``aws_backup_selection`` marks ``iam_role_arn`` (and every other argument) ForceNew, and
upjet refuses to change a ForceNew argument (``assertNoForceNew``: "cannot change the value
of the argument"). So the Selection's composed-resource name and AWS name carry a hash of the
role (``selection_key``): another role is another Selection; Crossplane creates it and deletes
the old one, and the plan, vault and recovery points stay as they are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator, model_validator

from function import names
from function.claims import (
    CONTINUOUS_BACKUP_MAX_DAYS,
    POSTGRESQL_INSTANCE,
    SCHEDULED_BACKUP,
    ClaimName,
    ClaimSpec,
    PostgresqlInstanceStatus,
    resource_tags,
)
from function.core import InputError, Rendered, Request, parse, short_hash
from function.environment import Environment
from function.refs import depend, keep_while_waiting, used_by, xr_name
from function.regions import partition
from function.resources import (
    BACKUP_PLAN,
    BACKUP_SELECTION,
    BACKUP_VAULT,
    IAM_ROLE,
    IAM_ROLE_POLICY_ATTACHMENT,
    Kind,
    controller_ref_selector,
    managed,
)

INSTANCE_REQUIREMENT = "postgresql-instance"

# ``hourly`` at minute 0; ``daily`` at 05:00 UTC, the time of AWS Backup's own default plans.
SCHEDULES: dict[str, str] = {
    "hourly": "cron(0 * ? * * *)",
    "daily": "cron(0 5 ? * * *)",
}
# AWS Backup: continuous backups (point-in-time recovery) are kept 1-35 days.
CONTINUOUS_MAX_DAYS = CONTINUOUS_BACKUP_MAX_DAYS
# AWS Backup: recovery points may be kept up to 100 years.
RETENTION_MAX_DAYS = 36500
# Minutes after the scheduled time in which a job must start (AWS minimum is 60).
START_WINDOW_MINUTES = 60

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


class Spec(ClaimSpec):
    """A ScheduledBackup claim's spec."""

    instanceRef: ClaimName
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
    def _continuous_retention(self) -> Spec:
        if self.pointInTimeRecovery and self.retentionDays > CONTINUOUS_MAX_DAYS:
            raise ValueError(
                f"retentionDays must be at most {CONTINUOUS_MAX_DAYS} with pointInTimeRecovery "
                f"(continuous backup), got {self.retentionDays}"
            )
        return self

    @property
    def cron(self) -> str:
        """The schedule as a cron expression (a named schedule resolved)."""
        return SCHEDULES.get(self.schedule, self.schedule)


def plan_rule(spec: Spec, name: str, tags: dict[str, str]) -> dict[str, Any]:
    """The one rule of the plan (backup Plan v1beta2: ``lifecycle`` is an object).

    The vault is named directly (the vault's external name is ``name``, ours), never by
    ``targetVaultNameSelector``: ``rule`` is an atomic list in the v2.6.0 CRD, and the
    generated resolver (provider-upjet-aws v2.6.0 apis/cluster/backup/v1beta2/
    zz_generated.resolvers.go, ``Plan.ResolveReferences``, ``reference.ExternalName()``)
    writes the value back through crossplane-runtime v2.2.0 pkg/reconciler/managed/api.go
    ``APISimpleReferenceResolver`` (a force-owned apply of the whole list), which Crossplane's
    apply of the list without it undoes on every reconcile.
    """
    return {
        "ruleName": name,
        "targetVaultName": name,
        "schedule": spec.cron,
        "startWindow": START_WINDOW_MINUTES,
        "lifecycle": {"deleteAfter": spec.retentionDays},
        "enableContinuousBackup": spec.pointInTimeRecovery,
        "recoveryPointTags": tags,
    }


# AWS managed policies of AWS Backup's service role (account "aws": no account of ours).
BACKUP_MANAGED_POLICIES = {
    "backup": "service-role/AWSBackupServiceRolePolicyForBackup",
    "restores": "service-role/AWSBackupServiceRolePolicyForRestores",
}
BACKUP_SERVICE = "backup.amazonaws.com"


def assume_role_policy() -> str:
    """The trust policy of a rendered backup role: AWS Backup may assume it (compact JSON)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": BACKUP_SERVICE},
                    "Action": "sts:AssumeRole",
                }
            ],
        },
        separators=(",", ":"),
    )


def check_limits(spec: Spec, env: Environment) -> None:
    """The environment's limits on schedules and retention, or InputError naming the field."""
    limits = env.limits
    kind = spec.schedule if spec.schedule in SCHEDULES else "cron"
    if kind not in limits.allowedSchedules:
        allowed = ", ".join(
            "an AWS cron expression" if s == "cron" else repr(s) for s in limits.allowedSchedules
        )
        raise InputError(f"spec.schedule: not allowed on this platform; allowed: {allowed}")
    if spec.retentionDays > limits.scheduledBackupMaxRetentionDays:
        raise InputError(
            f"spec.retentionDays: at most {limits.scheduledBackupMaxRetentionDays} days on this "
            f"platform (got {spec.retentionDays})"
        )


def selection_key(role: str) -> str:
    """The composed-resource name of the Selection for the role ``role`` identifies."""
    return f"selection-{short_hash(role)}"


def role_resources(
    provider_config: str, name: str, region: str, tags: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The IAM role AWS Backup assumes, with AWS's managed backup and restore policies."""
    res = {
        "backup-role": managed(
            IAM_ROLE,
            provider_config,
            {
                "assumeRolePolicy": assume_role_policy(),
                "description": "AWS Backup service role of a Klutch ScheduledBackup",
                "tags": tags,
            },
            external_name=name,
        )
    }
    for key, policy in BACKUP_MANAGED_POLICIES.items():
        res[f"backup-role-policy-{key}"] = managed(
            IAM_ROLE_POLICY_ATTACHMENT,
            provider_config,
            {
                "policyArn": f"arn:{partition(region)}:iam::aws:policy/{policy}",
                "roleSelector": controller_ref_selector(),
            },
        )
    return res


def render(req: Request) -> Rendered:
    """Render a ScheduledBackup (see the module docstring for the field map): wait for the
    instance, then the vault, the plan, the role AWS Backup assumes, the selection of the
    instance (kept by a Usage) and the status."""
    spec = parse(Spec, req.xr.get("spec") or {}, "spec")
    out = Rendered()
    check_limits(spec, req.environment)
    found = depend(
        req,
        out,
        POSTGRESQL_INSTANCE,
        spec.instanceRef,
        PostgresqlInstanceStatus,
        field="spec.instanceRef",
        key=INSTANCE_REQUIREMENT,
    )
    if found is None:
        # Keep what exists (and its recovery points) while the instance is unavailable.
        return keep_while_waiting(req, out)
    inst = found.status
    who = names.identity(req)
    name = names.backup_name(who)
    tags = resource_tags(req, SCHEDULED_BACKUP, None, "spec")
    res = out.resources
    # The vault holds the recovery points: deleting the claim keeps it (Orphan) so the
    # backups taken stay restorable until their lifecycle expires them.
    res["vault"] = _part(
        req,
        inst.region,
        BACKUP_VAULT,
        {"forceDestroy": False, "tags": tags},
        deletion_policy="Orphan",
        external_name=name,
    )
    res["plan"] = _part(
        req,
        inst.region,
        BACKUP_PLAN,
        {"name": name, "rule": [plan_rule(spec, name, tags)], "tags": tags},
    )
    role, identity = _role(req, who, inst.region, tags, res)
    selection = selection_key(identity)
    res[selection] = _part(
        req,
        inst.region,
        BACKUP_SELECTION,
        {
            "name": names.backup_selection_name(who, identity),
            **role,
            "planIdSelector": controller_ref_selector(),
            "resources": [inst.arn],
        },
    )
    # No backup job may start on an instance being deleted: the schedule goes first.
    used_by(out, POSTGRESQL_INSTANCE, xr_name(found), selection)
    out.status = _status(req, spec, name, inst)
    return out


def _part(
    req: Request, region: str, kind: Kind, for_provider: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    """A managed resource of the instance's region."""
    return managed(kind, req.provider_config, {"region": region, **for_provider}, **kw)


def _role(
    req: Request,
    who: names.Identity,
    region: str,
    tags: dict[str, str],
    res: dict[str, dict[str, Any]],
) -> tuple[dict[str, Any], str]:
    """The selection's role fields and the role's identity: the environment's backup role,
    else a rendered one (its resources go to ``res``)."""
    role_arn = req.environment.backup.serviceRoleArn
    if role_arn:
        return {"iamRoleArn": role_arn}, role_arn
    role_name = names.backup_role_name(who)
    res.update(role_resources(req.provider_config, role_name, region, tags))
    return {"iamRoleArnSelector": controller_ref_selector()}, f"role/{role_name}"


def _status(req: Request, spec: Spec, name: str, inst: PostgresqlInstanceStatus) -> dict[str, Any]:
    """What the ScheduledBackup publishes: its plan and vault, schedule and retention."""
    status: dict[str, Any] = {
        "planName": name,
        "vaultName": name,
        "schedule": spec.cron,
        "retentionDays": spec.retentionDays,
        "pointInTimeRecovery": spec.pointInTimeRecovery,
        "instanceIdentifier": inst.identifier,
        "region": inst.region,
    }
    for key, field in (("plan", "planArn"), ("vault", "vaultArn")):
        arn = req.observed_field(key, "status.atProvider.arn")
        if arn:
            status[field] = arn
    return status
