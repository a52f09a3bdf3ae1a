"""PostgresqlInstance -> PostgreSQL on RDS (a primary and, on cluster plans, read replicas), and
the provider-sql wiring bindings use.

Where each claim field becomes an AWS field (all in ``instance_parameters`` unless noted):
- ``spec.serviceVersion``                 -> Instance ``engineVersion``: a major (``"17"``) follows
                                             the newest minor (``autoMinorVersionUpgrade``); a
                                             minor (``"17.4"``) is pinned. ParameterGroup
                                             ``family`` (``settings.postgresql.versions``). A
                                             newer major: ``allowMajorVersionUpgrade``, a group
                                             of the new family and a Snapshot first
                                             (``function/upgrade.py``, ``_versions``)
- ``spec.plan``                           -> ``instanceClass``, ``allocatedStorage``,
                                             ``maxAllocatedStorage``, ``storageType``, ``multiAz``,
                                             replicas allowed (``settings.postgresql.plans``)
- ``spec.config.region``                  -> ``forProvider.region`` of every resource
                                             (default: the environment's ``defaultRegion``),
                                             and that region's network (``network_resources``)
- ``spec.config.publiclyAccessible``      -> ``publiclyAccessible``, and the region's
                                             ``publicNetwork
- ``spec.config.multiAZ``                 -> ``multiAz`` (plan default)
- ``spec.config.tags``                    -> ``tags`` (plus operator defaults and ownership tags)
- ``spec.config.database.name``           -> ``initProvider.dbName`` (also provider-sql's database)
- ``spec.config.compute.replicas.count``  -> read-replica Instances (``replica_parameters``)
- ``spec.config.compute.allocatedStorage`` -> ``allocatedStorage`` (may only grow)
- ``spec.config.compute.encryptedStorage`` -> ``storageEncrypted``
- ``spec.config.encryption.key``          -> ``kmsKeyId`` / ``kmsKeyIdSelector``, kms Key + Alias
- ``spec.config.backup``                  -> ``backupRetentionPeriod`` (at most the
                                             environment's ``limits``), ``backupWindow
- ``spec.config.maintenanceWindow``       -> ``maintenanceWindow``
- ``spec.config.applyChanges``            -> ``applyImmediately`` (primary and replicas); what
                                             is pending: ``pending_changes``, ``day2_conditions``
- ``spec.config.deletionPolicy``          -> ``deletionPolicy``, ``skipFinalSnapshot``,
                                             ``finalSnapshotIdentifier``, ``deleteAutomatedBackups``
                                             (``DELETION``), and the KMS key's deletion policy
- ``spec.restore``                        -> ``initProvider.snapshotIdentifier`` /
                                             ``initProvider.restoreToPointInTime``: see
                                             ``function/restore.py`` (``resolve``, ``apply``)

Besides the rds Instances this renders an rds ParameterGroup (``rds.force_ssl=1``; every
Instance selects it, ``parameterGroupNameSelector``), a
provider-sql ProviderConfig that logs in as the master user, and the group role that owns
every binding's tables (``function/pg_grants.py``, docs/postgresql-grants.md).

The network comes from the EnvironmentConfig, per region (``environment.Network``): an
existing DB subnet group and security groups are named on the instances; otherwise this
renders them, one set per instance: an rds SubnetGroup of the region's ``subnetIds``, an ec2
SecurityGroup in its ``vpcId`` and one SecurityGroupIngressRule per ``allowedCidrs`` entry
(TCP 5432), wired to the primary and its replicas by ``matchControllerRef`` selectors. Per
instance rather than shared: a composed resource belongs to exactly one XR (its controller
reference), so a shared one would need an owner whose deletion breaks every other instance;
per instance, each is deterministic, deleted with its instance, and tagged with its claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from function import master_secret, names, pg_grants, restore, upgrade
from function.claims import (
    POSTGRESQL_INSTANCE,
    SCHEDULED_BACKUP,
    ClaimSpec,
    DatabaseDeletion,
    EncryptionKey,
    ExistingKey,
    Region,
    ScheduledBackupStatus,
    Strict,
    Tags,
    resource_tags,
)
from function.core import (
    Condition,
    InputError,
    Rendered,
    Request,
    Result,
    Severity,
    parse,
    short_hash,
)
from function.environment import Network
from function.kms import check_existing_keys, managed_key_resources, observed_managed_key
from function.pgsql import PORT, provider_config
from function.refs import namespace_claims, unresolved
from function.resources import (
    EC2_SECURITY_GROUP,
    EC2_SECURITY_GROUP_INGRESS_RULE,
    RDS_INSTANCE,
    RDS_PARAMETER_GROUP,
    RDS_SNAPSHOT,
    RDS_SUBNET_GROUP,
    DeletionPolicy,
    controller_ref_selector,
    managed,
    parent_ref,
)
from function.settings import PostgresqlPlan, PostgresqlVersion, Settings

ENGINE = "postgres"
# The management policies of an Instance whose retention AWS Backup owns (no LateInitialize;
# Delete added when its deletion policy deletes): ``_hand_retention_to_aws_backup``.
WITHOUT_LATE_INIT = ("Observe", "Create", "Update")
# RDS master user: letter first, letters/digits/underscore, <= 16 for PostgreSQL, not reserved.
MASTER_USERNAME = "klutch_admin"
DEFAULT_DATABASE = "app"
DEFAULT_RETENTION_DAYS = 7
# Every connection must use TLS (also the default from PostgreSQL 15 on RDS; set explicitly).
FORCE_SSL = {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"}

ENCRYPTION_ANNOTATION = "klutch.anynines.com/encryption"
# A restored instance is encrypted as its source is (with the source's key, if any).
RESTORED_ENCRYPTION = "source"
# A managed key is never scheduled for deletion by deleting the claim, whatever its
# deletionPolicy: Backup snapshots (Retain), AWS Backup recovery points (kept in an orphaned
# vault), retained automated backups and instances restored from any of them are encrypted
# with it, and none of them is visible from here. The operator removes it (docs/operator-guide.md).
MANAGED_KEY_DELETION: Literal["Orphan"] = "Orphan"
# Tells the primary apart from its replicas (all are rds Instances of one XR).
ROLE_LABEL = "klutch.anynines.com/db-role"
PRIMARY = "primary"
# The ScheduledBackups of the namespace: one with pointInTimeRecovery owns the retention.
SCHEDULED_BACKUPS_REQUIREMENT = "scheduled-backups"


@dataclass(frozen=True)
class DeletionRules:
    """What deleting the claim does to the instance, its snapshots and backups."""

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
BACKUP_WINDOW = re.compile(rf"{_HHMM}-{_HHMM}")
MAINTENANCE_WINDOW = re.compile(rf"{_DAY}:{_HHMM}-{_DAY}:{_HHMM}", re.IGNORECASE)
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
    """A ``ddd:hh24:mi-ddd:hh24:mi`` window as (start, end) minutes of the week."""
    a, b = window.lower().split("-")
    start = _DAYS.index(a[:3]) * 1440 + _minutes(a[4:])
    end = _DAYS.index(b[:3]) * 1440 + _minutes(b[4:])
    return start, start + _length(start, end, 7 * 1440)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    week = 7 * 1440
    # Compare in the same week and shifted by one week, so windows across Sunday midnight count.
    return any(a[0] < b[1] + s and b[0] + s < a[1] for s in (-week, 0, week))


class Backup(Strict):
    """The automated backups: the point-in-time window and when they are taken."""

    retentionDays: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1, le=35)
    window: str | None = Field(default=None, description="hh24:mi-hh24:mi, UTC")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not BACKUP_WINDOW.fullmatch(value):
            raise ValueError("must be 'hh24:mi-hh24:mi' in UTC, e.g. '03:00-03:30'")
        start, end = (_minutes(t) for t in value.split("-"))
        if _length(start, end, 1440) < MIN_WINDOW_MINUTES:
            raise ValueError(f"must be at least {MIN_WINDOW_MINUTES} minutes long")
        return value


DatabaseName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class Database(Strict):
    """The database created in the instance (the one bindings use)."""

    name: DatabaseName = DEFAULT_DATABASE

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in PG_RESERVED:
            raise ValueError(f"{value!r} is a PostgreSQL reserved word")
        if value in EXISTING_DATABASES:
            raise ValueError(f"{value!r} already exists on every RDS PostgreSQL instance")
        return value


class Replicas(Strict):
    """Read replicas of the primary (cluster plans only)."""

    # Optional, as in the XRD and the Klutch docs ("if replica count is not set then it
    # defaults to 1"): without it, the plan's default.
    count: int | None = Field(default=None, ge=0, le=15)


class Compute(Strict):
    """Replicas and storage."""

    replicas: Replicas | None = None
    allocatedStorage: int | None = Field(default=None, ge=20, le=65536, description="GiB")
    encryptedStorage: bool = True


class DatabaseEncryption(Strict):
    """A customer-managed KMS key for the storage; without it RDS's default key."""

    key: EncryptionKey | None = None


class Config(Strict):
    """Everything optional of a PostgresqlInstance, as in the Klutch docs, plus our extras."""

    region: Region | None = None
    publiclyAccessible: bool = False
    multiAZ: bool | None = None
    tags: Tags = Field(default_factory=dict)
    database: Database = Field(default_factory=Database)
    compute: Compute = Field(default_factory=Compute)
    encryption: DatabaseEncryption = Field(default_factory=DatabaseEncryption)
    backup: Backup = Field(default_factory=Backup)
    maintenanceWindow: str | None = Field(default=None, description="ddd:hh24:mi-ddd:hh24:mi")
    deletionPolicy: DatabaseDeletion = "SnapshotAndDelete"
    # When RDS applies a version or plan change: now, or in the maintenance window.
    applyChanges: Literal["immediately", "maintenanceWindow"] = "maintenanceWindow"

    @field_validator("maintenanceWindow")
    @classmethod
    def _maintenance(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not MAINTENANCE_WINDOW.fullmatch(value):
            raise ValueError("must be 'ddd:hh24:mi-ddd:hh24:mi' in UTC, e.g. 'sun:04:00-sun:05:00'")
        start, end = maintenance_interval(value)
        if end - start < MIN_WINDOW_MINUTES:
            raise ValueError(f"must be at least {MIN_WINDOW_MINUTES} minutes long")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.backup.window and self.maintenanceWindow:
            m = maintenance_interval(self.maintenanceWindow)
            if any(_overlap(b, m) for b in backup_intervals(self.backup.window)):
                raise ValueError("backup.window must not overlap maintenanceWindow")
        if self.encryption.key is not None and not self.compute.encryptedStorage:
            raise ValueError("encryption.key needs compute.encryptedStorage: true")
        return self


ServiceVersion = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}(\.[0-9]{1,3})?$")]


class Spec(ClaimSpec):
    """A PostgresqlInstance claim's spec."""

    serviceVersion: ServiceVersion
    plan: str
    config: Config = Field(default_factory=Config)
    # Validated and resolved by function/restore.py (restore.Restore).
    restore: dict[str, Any] | None = None

    @property
    def major(self) -> str:
        """The major version: ``"17"`` of ``"17"`` and of ``"17.4"``."""
        return self.serviceVersion.split(".")[0]

    @property
    def pinned(self) -> bool:
        """A minor version is pinned: no automatic minor upgrades."""
        return "." in self.serviceVersion


@dataclass(frozen=True)
class Context:
    """What the parts need besides the claim: resolved names and settings."""

    settings: Settings
    region: str
    network: Network
    plan: PostgresqlPlan
    version: PostgresqlVersion
    identifier: str
    parameter_group: str
    final_snapshot: str
    master_secret: str
    tags: dict[str, str]
    allocated_storage: int
    replicas: int
    # ``spec.serviceVersion``; for a restore the source's exact version, or None (not sent).
    engine_version: str | None
    connection_secret: str
    sql_provider_config: str
    subnet_group: str
    security_group: str


def catalogue_entry(spec: Spec, settings: Settings) -> tuple[PostgresqlPlan, PostgresqlVersion]:
    """The operator's plan and version for the claim, or InputError listing what is offered."""
    pg = settings.postgresql
    if spec.plan not in pg.plans:
        offered = ", ".join(repr(p) for p in pg.plans)
        raise InputError(f"spec.plan: unknown plan {spec.plan!r}; offered plans: {offered}")
    version = pg.versions.get(spec.major)
    if version is None or (spec.pinned and spec.serviceVersion not in version.minors):
        offered = ", ".join(
            repr(v) for major, ver in pg.versions.items() for v in (major, *ver.minors)
        )
        raise InputError(
            f"spec.serviceVersion: unknown version {spec.serviceVersion!r}; "
            f"offered versions (a major follows its newest minor): {offered}"
        )
    return pg.plans[spec.plan], version


def check_plan(spec: Spec, plan: PostgresqlPlan, settings: Settings) -> int:
    """Claim settings the plan and the operator must allow; the number of read replicas."""
    c = spec.config
    if plan.cluster and c.multiAZ is False:
        raise InputError(
            f"spec.config.multiAZ: plan {spec.plan!r} is a cluster plan, always Multi-AZ; "
            "remove multiAZ or choose a single-* plan"
        )
    replicas = c.compute.replicas
    count = plan.defaultReplicas if replicas is None or replicas.count is None else replicas.count
    if count > plan.maxReplicas:
        allowed = (
            f"at most {plan.maxReplicas}"
            if plan.cluster
            else "none: read replicas need a cluster-* plan (to move a cluster to a single-* "
            "plan, set spec.config.compute.replicas.count to 0 first)"
        )
        raise InputError(
            f"spec.config.compute.replicas.count: plan {spec.plan!r} allows {allowed} (got {count})"
        )
    if not c.compute.encryptedStorage and not settings.postgresql.allowUnencryptedStorage:
        raise InputError(
            "spec.config.compute.encryptedStorage: the platform requires encrypted storage; "
            "allowed values: true"
        )
    return count


def check_plan_change(req: Request, spec: Spec, plan: PostgresqlPlan) -> None:
    """A cluster moves to a single-instance plan only once it asks for no replicas: a plan
    without replicas while replicas exist and ``replicas.count`` is not set would delete them
    unasked. InputError (nothing changes) saying to set the count to 0 first."""
    replicas = spec.config.compute.replicas
    if plan.maxReplicas > 0 or (replicas is not None and replicas.count is not None):
        return
    existing = sorted(k for k in req.observed if k.startswith(replica_key(0)[:-1]))
    if existing:
        raise InputError(
            f"spec.plan: plan {spec.plan!r} has no read replicas and this instance has "
            f"{len(existing)}; set spec.config.compute.replicas.count to 0 first (the "
            "replicas are removed), then change the plan"
        )


def security_groups(network: Network) -> dict[str, Any]:
    """The instance fields naming its security groups: the existing ones, or the rendered one."""
    if network.rendered:
        return {"vpcSecurityGroupIdSelector": controller_ref_selector()}
    return {"vpcSecurityGroupIds": list(network.vpcSecurityGroupIds)}


def subnet_group(network: Network) -> dict[str, Any]:
    """The instance field naming its DB subnet group: the existing one, or the rendered one."""
    if network.rendered:
        return {"dbSubnetGroupNameSelector": controller_ref_selector()}
    return {"dbSubnetGroupName": network.dbSubnetGroupName}


def ingress_key(cidr: str) -> str:
    """The composed-resource name of the ingress rule for ``cidr``: one per CIDR, so adding or
    removing a CIDR leaves the other rules as they are."""
    return f"security-group-ingress-{short_hash(cidr)}"


def network_resources(
    network: Network,
    provider_config: str,
    *,
    region: str,
    subnet_group_name: str,
    security_group_name: str,
    description: str,
    tags: dict[str, str],
    deletion_policy: DeletionPolicy,
) -> dict[str, dict[str, Any]]:
    """The DB subnet group, security group and its PostgreSQL ingress rules of a rendered
    network (nothing for an existing one)."""
    if not network.rendered:
        return {}
    res = {
        "subnet-group": managed(
            RDS_SUBNET_GROUP,
            provider_config,
            {
                "region": region,
                "subnetIds": list(network.subnetIds),
                "description": description,
                "tags": tags,
            },
            deletion_policy=deletion_policy,
            external_name=subnet_group_name,
        ),
        "security-group": managed(
            EC2_SECURITY_GROUP,
            provider_config,
            {
                "region": region,
                "name": security_group_name,
                "vpcId": network.vpcId,
                "description": description,
                "revokeRulesOnDelete": True,
                "tags": tags,
            },
            deletion_policy=deletion_policy,
        ),
    }
    for cidr in network.allowedCidrs:
        family = "cidrIpv6" if ":" in cidr else "cidrIpv4"
        res[ingress_key(cidr)] = managed(
            EC2_SECURITY_GROUP_INGRESS_RULE,
            provider_config,
            {
                "region": region,
                "securityGroupIdSelector": controller_ref_selector(),
                "ipProtocol": "tcp",
                "fromPort": PORT,
                "toPort": PORT,
                family: cidr,
                "description": f"PostgreSQL from {cidr}",
                "tags": tags,
            },
            deletion_policy=deletion_policy,
        )
    return res


def instance_parameters(spec: Spec, ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(forProvider, initProvider)`` of the primary rds Instance: every claim-to-AWS mapping.

    ``initProvider`` holds what only matters at creation (and is taken from a snapshot on
    restore): the database name and the master user name.
    """
    c = spec.config
    rules = DELETION[c.deletionPolicy]
    for_provider: dict[str, Any] = {
        "region": ctx.region,
        "identifier": ctx.identifier,
        "engine": ENGINE,
        "autoMinorVersionUpgrade": not spec.pinned,
        "instanceClass": ctx.plan.instanceClass,
        "allocatedStorage": ctx.allocated_storage,
        "maxAllocatedStorage": max(ctx.plan.maxAllocatedStorage, ctx.allocated_storage),
        "storageType": ctx.plan.storageType,
        "multiAz": ctx.plan.multiAz if c.multiAZ is None else c.multiAZ,
        "port": PORT,
        "storageEncrypted": c.compute.encryptedStorage,
        "publiclyAccessible": c.publiclyAccessible,
        **subnet_group(ctx.network),
        **security_groups(ctx.network),
        # The provider generates the password into the Secret the function composed
        # (function/master_secret.py), never into one it would own.
        "autoGeneratePassword": True,
        "passwordSecretRef": master_secret.password_secret_ref(
            ctx.master_secret, ctx.settings.internalSecretNamespace
        ),
        "backupRetentionPeriod": c.backup.retentionDays,
        "applyImmediately": c.applyChanges == "immediately",
        "copyTagsToSnapshot": True,
        "deleteAutomatedBackups": rules.delete_automated_backups,
        "skipFinalSnapshot": not rules.final_snapshot,
        "tags": ctx.tags,
    }
    if ctx.engine_version:
        for_provider["engineVersion"] = ctx.engine_version
    if rules.final_snapshot:
        for_provider["finalSnapshotIdentifier"] = ctx.final_snapshot
    if c.backup.window:
        for_provider["backupWindow"] = c.backup.window
    if c.maintenanceWindow:
        for_provider["maintenanceWindow"] = c.maintenanceWindow.lower()
    key = c.encryption.key
    if key and key.existing:
        for_provider["kmsKeyId"] = key.existing.id
    elif key and key.managed:
        for_provider["kmsKeyIdSelector"] = controller_ref_selector()
    init_provider = {"dbName": c.database.name, "username": MASTER_USERNAME}
    return for_provider, init_provider


def replica_parameters(spec: Spec, ctx: Context, index: int) -> dict[str, Any]:
    """``forProvider`` of read replica ``index`` (1-based) of the primary.

    A replica in the primary's region takes the primary's storage encryption and key, its
    database and master user; it keeps no backups and takes no final snapshot of its own.
    """
    c = spec.config
    fp: dict[str, Any] = {
        "region": ctx.region,
        "identifier": names.rds_replica_identifier(ctx.identifier, index),
        "replicateSourceDbSelector": {
            **controller_ref_selector(),
            "matchLabels": {ROLE_LABEL: PRIMARY},
        },
        "instanceClass": ctx.plan.instanceClass,
        "storageType": ctx.plan.storageType,
        "maxAllocatedStorage": max(ctx.plan.maxAllocatedStorage, ctx.allocated_storage),
        "autoMinorVersionUpgrade": not spec.pinned,
        "multiAz": False,
        "port": PORT,
        "publiclyAccessible": c.publiclyAccessible,
        "backupRetentionPeriod": 0,
        "applyImmediately": c.applyChanges == "immediately",
        "skipFinalSnapshot": True,
        "deleteAutomatedBackups": True,
        "copyTagsToSnapshot": True,
        "tags": ctx.tags,
    }
    fp.update(security_groups(ctx.network))
    if c.maintenanceWindow:
        fp["maintenanceWindow"] = c.maintenanceWindow.lower()
    return fp


def render(req: Request) -> Rendered:
    """Render a PostgresqlInstance (see the module docstring for the field map): check the
    claim, wait for a restore source (and an orphaned master Secret's owner), then each part."""
    out = Rendered()
    asked = parse(Spec, (req.xr.get("spec") or {}), "spec")
    spec = _keep_immutable(req, asked, out)
    plan, version = catalogue_entry(spec, req.settings)
    replicas = check_plan(spec, plan, req.settings)
    check_plan_change(req, spec, plan)
    region, network = _placement(req, asked, spec)
    # Every requirement is asked before anything is rendered, so one call brings them all.
    restored = _restore_source(req, out, spec, region)
    continuous = continuous_backup_days(req, out)
    secrets_ns = req.settings.internalSecretNamespace
    kept_by: dict[str, str] | None = None
    if DELETION[spec.config.deletionPolicy].deletion_policy == "Orphan":
        # The master Secret outlives the claim: the Namespace owns it too.
        kept_by = master_secret.namespace_owner(req, out, secrets_ns)
        if kept_by is None:
            return master_secret.waiting(req, out, secrets_ns)
    if restored is None or unresolved(req.required, out):
        # Waiting for the restore source (create nothing yet), or for a requirement Crossplane
        # fetches before it calls again: that answer is thrown away (fn.py answers only it).
        return out
    ctx = _context(
        req,
        spec,
        out,
        catalogue=(plan, version),
        region=region,
        network=network,
        replicas=replicas,
        restored=restored,
    )
    res = out.resources
    res[master_secret.KEY] = _master_secret(req, spec, ctx, kept_by)
    versions = _versions(req, spec, ctx)
    # The first reconcile composes only the Secret's peers: the Instance comes once the Secret
    # exists, else the provider's initializer would create the Secret itself and own it.
    if master_secret.instance_may_render(req, "instance"):
        res["instance"] = _primary(req, spec, ctx, restored, versions, continuous=continuous)
        hold_while_pending(
            req.observed_field("instance", "spec.forProvider") or {},
            req.observed_field("instance", "status.atProvider") or {},
            res["instance"]["spec"]["forProvider"],
            out,
        )
    else:
        out.waiting = True  # for the Secret: the XR is not ready without its Instance
    res.update(_replicas(req, spec, ctx, out, versions))
    for group in versions.groups:
        res[group.key] = _parameter_group_resource(req, spec, ctx, group)
    if versions.snapshot is not None:
        key, snapshot_id = versions.snapshot
        res[key] = _pre_upgrade_snapshot(req, ctx, snapshot_id)
    res.update(_network(req, spec, ctx))
    kms_resources, kms_arn = _encryption_key(req, spec, ctx)
    res.update(kms_resources)
    res["provider-config"] = provider_config(
        ctx.sql_provider_config, ctx.connection_secret, secrets_ns, spec.config.database.name
    )
    res.update(
        pg_grants.group_resources(ctx.sql_provider_config, spec.config.database.name, req.observed)
    )
    out.status = _status(req, spec, ctx, ctx.sql_provider_config, kms_arn)
    if versions.snapshot_status is not None:
        out.status["preUpgradeSnapshot"] = versions.snapshot_status
    at = req.observed_field("instance", "status.atProvider") or {}
    if at:
        pending = out.status.get("pendingChanges") or []
        conditions = day2_conditions(pending, at.get("status"), spec, at)
        if versions.holding is not None:
            conditions = [c for c in conditions if c.type != "ChangePending"]
            conditions.append(versions.holding)
        out.conditions.extend(conditions)
    if isinstance(continuous, int) and continuous > 0:
        out.status["backupRetentionDays"] = continuous  # the window AWS Backup keeps
    return out


def _placement(req: Request, asked: Spec, spec: Spec) -> tuple[str, Network]:
    """The claim's region and its network, once the region, the keys and the retention are
    allowed on this platform (else InputError naming the field)."""
    env = req.environment
    c = spec.config
    region = c.region or env.defaultRegion
    network = env.network(
        region, c.publiclyAccessible, "spec.config.region", exists="instance" in req.observed
    )
    keys = (asked.config.encryption.key, spec.config.encryption.key)
    check_existing_keys(req, keys, region, KEY_FIELD)
    limit = env.limits.automatedBackupMaxRetentionDays
    if c.backup.retentionDays > limit:
        raise InputError(
            f"spec.config.backup.retentionDays: at most {limit} days on this platform "
            f"(got {c.backup.retentionDays})"
        )
    return region, network


def _restore_source(
    req: Request, out: Rendered, spec: Spec, region: str
) -> restore.Resolved | None:
    """What ``spec.restore`` restores from (``restore.resolve``); None while waiting for it."""
    c = spec.config
    return restore.resolve(
        req,
        out,
        spec.restore,
        region=region,
        database=c.database.name,
        service_version=spec.serviceVersion,
        key_requested=c.encryption.key is not None,
        instance_key="instance",
    )


def _context(
    req: Request,
    spec: Spec,
    out: Rendered,
    *,
    catalogue: tuple[PostgresqlPlan, PostgresqlVersion],
    region: str,
    network: Network,
    replicas: int,
    restored: restore.Resolved,
) -> Context:
    """Every name, tag and size the parts share (``names.identity``: one per claim)."""
    plan, version = catalogue
    who = names.identity(req)
    return Context(
        settings=req.settings,
        region=region,
        network=network,
        plan=plan,
        version=version,
        identifier=names.rds_identifier(who),
        parameter_group=names.rds_parameter_group_name(who),
        final_snapshot=names.final_snapshot_identifier(who),
        master_secret=names.internal_secret_name("postgresql-master", who),
        tags=resource_tags(req, POSTGRESQL_INSTANCE, spec.config.tags, "spec.config.tags"),
        allocated_storage=_allocated_storage(req, spec, plan, out, restored),
        replicas=replicas,
        engine_version=_engine_version(spec, restored),
        connection_secret=names.internal_secret_name("postgresql-connection", who),
        sql_provider_config=names.sql_provider_config_name(who),
        subnet_group=names.db_subnet_group_name(who),
        security_group=names.db_security_group_name(who),
    )


def _engine_version(spec: Spec, restored: restore.Resolved) -> str | None:
    """The ``engineVersion`` rendered: the claim's; a restore's source version (exact, so the
    restore's first ModifyDBInstance does not move it) until the claim pins a newer minor or
    asks for a newer major (``_keep_immutable`` refused any other move)."""
    source = restored.engine_version
    if not restored.restoring or source is None:
        return spec.serviceVersion if not restored.restoring else None
    moved = upgrade.major(spec.serviceVersion) > upgrade.major(source) or (
        spec.pinned and spec.serviceVersion != source
    )
    return spec.serviceVersion if moved else source


def _master_secret(
    req: Request, spec: Spec, ctx: Context, kept_by: dict[str, str] | None
) -> dict[str, Any]:
    """The master password's Secret (``master_secret.secret``), owned by the Namespace too
    when ``kept_by`` says so."""
    return master_secret.secret(
        ctx.master_secret,
        ctx.settings.internalSecretNamespace,
        username=MASTER_USERNAME,
        database=spec.config.database.name,
        identifier=ctx.identifier,
        region=ctx.region,
        claim=f"{req.claim_namespace or ''}/{req.claim_name}",
        owner=kept_by,
    )


def _replicas(
    req: Request, spec: Spec, ctx: Context, out: Rendered, versions: Versions
) -> dict[str, dict[str, Any]]:
    """The read replicas by key, once the primary is observed Ready (a replica that exists is
    always kept); until then the claim waits (``Rendered.waiting``).

    Each names the primary by its replicateSourceDbSelector, which resolves the primary's
    ``spec.forProvider.identifier`` as soon as the primary's MR exists (provider-upjet-aws
    v2.6.0 apis/cluster/rds/v1beta3/zz_generated.resolvers.go, ``Instance.ResolveReferences``:
    ``resource.ExtractParamPath("identifier", false)``), long before the database does: a
    replica rendered earlier calls CreateDBInstanceReadReplica and fails for the primary's
    whole creation. Replicas take no password (no autoGeneratePassword: PasswordGenerator
    returns before touching a Secret)."""
    primary = req.observed.get("instance")
    primary_ready = primary is not None and primary.ready
    replicas = {
        replica_key(i): managed(
            RDS_INSTANCE,
            req.provider_config,
            replica_parameters(spec, ctx, i)
            | _parameter_group(req, replica_key(i), versions.replica_group, versions),
        )
        for i in range(1, ctx.replicas + 1)
        if primary_ready or replica_key(i) in req.observed
    }
    if len(replicas) < ctx.replicas:
        out.waiting = True
    return replicas


def _parameter_group_resource(
    req: Request, spec: Spec, ctx: Context, group: upgrade.Group
) -> dict[str, Any]:
    """An rds ParameterGroup of the primary and its replicas: TLS only (``FORCE_SSL``). One,
    but for a major upgrade: then the new family's too until the old one is unused."""
    return managed(
        RDS_PARAMETER_GROUP,
        req.provider_config,
        {
            "region": ctx.region,
            "family": group.family,
            "description": f"PostgreSQL {group.family.removeprefix('postgres')} of "
            f"{req.claim_namespace}/{req.claim_name}: TLS only",
            "parameter": [FORCE_SSL],
            "tags": ctx.tags,
        },
        deletion_policy=DELETION[spec.config.deletionPolicy].deletion_policy,
        external_name=group.name,
    )


def _network(req: Request, spec: Spec, ctx: Context) -> dict[str, dict[str, Any]]:
    """The rendered SubnetGroup and SecurityGroup of the region's network, when the
    environment names none to reuse (``network_resources``)."""
    return network_resources(
        ctx.network,
        req.provider_config,
        region=ctx.region,
        subnet_group_name=ctx.subnet_group,
        security_group_name=ctx.security_group,
        # EC2 allows 255 characters; the claim's namespace and name are in its tags.
        description=f"PostgreSQL {ctx.identifier}",
        tags=ctx.tags,
        deletion_policy=DELETION[spec.config.deletionPolicy].deletion_policy,
    )


def _encryption_key(
    req: Request, spec: Spec, ctx: Context
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The managed KMS Key and Alias when asked, and the key's ARN as far as it is known (an
    existing key's id, a managed key's observed ARN)."""
    key = spec.config.encryption.key
    if not (key and key.managed):
        return {}, key.existing.id if key and key.existing else None
    resources = managed_key_resources(
        req,
        ctx.settings,
        region=ctx.region,
        alias=key.managed.alias,
        description=f"RDS PostgreSQL {ctx.identifier} of {req.claim_namespace}/{req.claim_name}",
        tags=ctx.tags,
        deletion_policy=MANAGED_KEY_DELETION,
    )
    return resources, req.observed_field("kms-key", "status.atProvider.arn")


def _primary(
    req: Request,
    spec: Spec,
    ctx: Context,
    restored: restore.Resolved,
    versions: Versions,
    *,
    continuous: int | None,
) -> dict[str, Any]:
    """The primary rds Instance (a restore's too)."""
    c = spec.config
    for_provider, init_provider = instance_parameters(spec, ctx)
    for_provider.update(versions.primary)
    body = managed(
        RDS_INSTANCE,
        req.provider_config,
        for_provider | _parameter_group(req, "instance", versions.primary_group, versions),
        init_provider=init_provider,
        deletion_policy=DELETION[c.deletionPolicy].deletion_policy,
        connection_secret=(ctx.connection_secret, ctx.settings.internalSecretNamespace),
    )
    # Records the encryption choice: the provider late-initializes kmsKeyId even without one.
    kind = RESTORED_ENCRYPTION if restored.restoring else _encryption_kind(c.encryption)
    body["metadata"] = {
        "annotations": {ENCRYPTION_ANNOTATION: kind},
        "labels": {ROLE_LABEL: PRIMARY},
    }
    restore.apply(body, restored)
    if continuous is not None:
        _hand_retention_to_aws_backup(body["spec"])
    return body


def _hand_retention_to_aws_backup(spec: dict[str, Any]) -> None:
    """AWS Backup continuous backup owns the retention ("you must use your backup plan to
    change the retention period", AWS Backup guide, point-in-time-recovery-retention-period).

    ``backupRetentionPeriod`` moves to ``initProvider`` and the Instance is managed without
    ``LateInitialize``. upjet ignores an ``initProvider`` key only while ``forProvider`` lacks
    it (upjet ``pkg/controller/external_tfpluginsdk.go`` ``filterInitExclusiveDiffs`` ->
    ``getTerraformIgnoreChanges(forProvider, initProvider)``), and its ``Observe`` late-
    initializes ``forProvider`` from the Terraform state, ``backupRetentionPeriod`` included,
    only when the policies hold ``LateInitialize`` or ``*`` (``policyHasLateInit``): with the
    default ``*`` the field came back into ``forProvider`` after creation and the provider
    reverted what AWS Backup set. Without it the Instance is managed as a Terraform
    configuration is (Terraform never late-initializes). ``Delete`` only when the instance's
    deletion policy deletes: with custom policies crossplane-runtime v2.2.0
    ``pkg/reconciler/managed/policies.go`` ``LegacyManagementPoliciesResolver.ShouldDelete``
    deletes whenever they hold ``Delete``, whatever ``deletionPolicy`` says. Both sets are
    among its ``defaultSupportedManagementPolicies``; they need the provider's management
    policies feature (on by default in provider-upjet-aws v2).
    """
    spec.setdefault("initProvider", {})["backupRetentionPeriod"] = spec["forProvider"].pop(
        "backupRetentionPeriod"
    )
    deletes = spec.get("deletionPolicy", "Delete") == "Delete"
    spec["managementPolicies"] = [*WITHOUT_LATE_INIT, *(["Delete"] if deletes else [])]


def continuous_backup_days(req: Request, out: Rendered) -> int | None:
    """The retention of the AWS Backup continuous backup of this instance, or None.

    A ScheduledBackup with ``pointInTimeRecovery: true`` for this instance makes AWS Backup
    manage the instance's automated-backup retention; the instance then leaves
    ``backupRetentionPeriod`` alone (one owner) and its point-in-time window is the
    ScheduledBackup's ``retentionDays``. Only what a ScheduledBackup published counts
    (``claims.ScheduledBackupStatus``: the function accepted and rendered it for this
    instance's identifier); its spec may hold what the platform refused (a schedule or a
    retention it does not allow), which AWS Backup never got. The ScheduledBackups of the
    namespace are a requirement; until Crossplane resolved it, None.
    """
    if not req.claim_namespace:
        return None
    found = namespace_claims(
        req,
        out,
        SCHEDULED_BACKUP,
        field="spec.instanceRef of the namespace's ScheduledBackups",
        key=SCHEDULED_BACKUPS_REQUIREMENT,
        quiet=True,
    )
    identifier = names.rds_identifier(names.identity(req))
    days = [
        s.retentionDays
        for x in found or []
        if (s := ScheduledBackupStatus.read(x)) is not None
        and s.instanceIdentifier == identifier
        and s.pointInTimeRecovery
    ]
    return max(days) if days else None


def _parameter_group(req: Request, key: str, name: str, versions: Versions) -> dict[str, Any]:
    """Instance ``key`` names the XR's ParameterGroup by selector (``resources.parent_ref``);
    by name while a major upgrade renders two (a selector picks the first it finds)."""
    if len(versions.groups) > 1:
        return {"parameterGroupName": name}
    observed = req.observed_field(key, "spec.forProvider.parameterGroupName")
    return parent_ref("parameterGroupName", name, observed)


@dataclass(frozen=True)
class Versions:
    """What a major upgrade (``function/upgrade.py``) renders; at rest one group and nothing
    else."""

    groups: list[upgrade.Group]
    primary_group: str
    replica_group: str
    # Fields of the primary's forProvider that replace what ``instance_parameters`` gives.
    primary: dict[str, Any]
    snapshot: tuple[str, str] | None = None  # (key, identifier)
    snapshot_status: dict[str, Any] | None = None
    holding: Condition | None = None


def _versions(req: Request, spec: Spec, ctx: Context) -> Versions:
    """The parameter groups, the primary's version fields and the pre-upgrade snapshot, from
    the claim's major and what the instances run (the steps: ``function/upgrade.py``)."""
    who = names.identity(req)
    family = ctx.version.parameterGroupFamily
    groups = upgrade.observed_groups(req.observed)
    target = upgrade.target_group(
        groups, family, ctx.parameter_group, names.family_parameter_group_name(who, family)
    )
    instances = [
        o.resource for k, o in req.observed.items() if k == "instance" or k.startswith("replica-")
    ]
    in_use = upgrade.groups_in_use(instances)
    applied = req.observed_field("instance", "spec.forProvider") or {}
    at = req.observed_field("instance", "status.atProvider") or {}
    running = str(at.get("engineVersionActual") or applied.get("engineVersion") or "")
    key = upgrade.snapshot_key(spec.major)
    snapshot_id = names.pre_upgrade_snapshot_identifier(who, spec.major)
    snapshot = req.observed.get(key)
    published = (req.xr.get("status") or {}).get("preUpgradeSnapshot")
    if not running or upgrade.major(running) >= int(spec.major):
        # At rest, or the primary runs the new major: the replicas follow to its group.
        kept = upgrade.kept_groups(groups, target, in_use)
        return Versions(
            kept,
            target.name,
            target.name,
            {},
            (key, snapshot_id) if snapshot else None,
            upgrade.snapshot_status(snapshot_id, running, spec.serviceVersion, snapshot, published)
            if snapshot
            else None,
        )
    old = next(
        (g.name for g in groups if g.key != target.key),
        str(applied.get("parameterGroupName") or ctx.parameter_group),
    )
    started = upgrade.major(str(applied.get("engineVersion") or running)) == int(spec.major)
    group = req.observed.get(target.key)
    ready = (snapshot is not None and snapshot.ready, group is not None and group.ready)
    pending = _pending(req)
    go = started or (all(ready) and not pending)
    primary: dict[str, Any] = {"allowMajorVersionUpgrade": True}
    if not go:
        primary = {
            k: applied[k] for k in ("engineVersion", "autoMinorVersionUpgrade") if k in applied
        }
    return Versions(
        upgrade.kept_groups(groups, target, in_use | {old}),
        target.name if go else old,
        old,
        primary,
        (key, snapshot_id),
        upgrade.snapshot_status(snapshot_id, running, spec.serviceVersion, snapshot, published),
        None
        if go
        else upgrade.holding(
            spec.serviceVersion,
            running,
            snapshot_id,
            target,
            snapshot=ready[0],
            group_ready=ready[1],
            pending=_describe(pending) if pending else None,
        ),
    )


def _pre_upgrade_snapshot(req: Request, ctx: Context, snapshot_id: str) -> dict[str, Any]:
    """The rds Snapshot of the primary taken before a major upgrade (as a Backup's,
    ``function/backup.py``). Orphan: deleting the claim, or a later upgrade, keeps it in AWS
    (nothing lost); the user restores from it."""
    return managed(
        RDS_SNAPSHOT,
        req.provider_config,
        {"region": ctx.region, "dbInstanceIdentifier": ctx.identifier, "tags": ctx.tags},
        deletion_policy="Orphan",
        external_name=snapshot_id,
    )


def replica_key(index: int) -> str:
    """The composed-resource name of read replica ``index`` (1-based)."""
    return f"replica-{index}"


def _allocated_storage(
    req: Request, spec: Spec, plan: PostgresqlPlan, out: Rendered, restored: restore.Resolved
) -> int:
    """The claim's storage, or the plan's; storage may only grow (a shrink keeps the old).

    A restore starts at least as large as its source (``restore.Resolved.allocated_storage``;
    ``maxAllocatedStorage`` follows, ``instance_parameters``). terraform-provider-aws
    internal/service/rds/instance.go ``resourceInstanceCreate``: after
    RestoreDBInstanceFromDBSnapshot it sends ``allocated_storage`` with the master password in
    one ModifyDBInstance, which RDS refuses below the snapshot's size, so the password was
    never set; RestoreDBInstanceToPointInTime takes ``max_allocated_storage`` itself.
    """
    wanted = spec.config.compute.allocatedStorage or plan.allocatedStorage
    source = restored.allocated_storage
    if source is not None and source > wanted and "instance" not in req.observed:
        out.results.append(
            Result(
                Severity.NORMAL,
                f"spec.config.compute.allocatedStorage: the restore source holds {source} GiB;"
                f" the restored instance starts at {source} GiB, not {wanted} GiB",
                "RestoreSourceSize",
            )
        )
        wanted = source
    old = req.observed_field("instance", "spec.forProvider.allocatedStorage")
    if isinstance(old, int | float) and wanted < old:
        # A smaller plan asks for less storage too: name what asked.
        what = (
            "spec.config.compute.allocatedStorage may only grow"
            if spec.config.compute.allocatedStorage
            else f"spec.plan: plan {spec.plan!r} has {wanted} GiB and storage may only grow"
        )
        out.results.append(
            Result(
                Severity.WARNING,
                f"{what}: keeping {int(old)} GiB, ignoring {wanted} GiB",
                "StorageCannotShrink",
            )
        )
        return int(old)
    return wanted


def _status(
    req: Request, spec: Spec, ctx: Context, pc_name: str, kms_arn: str | None
) -> dict[str, Any]:
    at = req.observed_field("instance", "status.atProvider") or {}
    c = spec.config
    status: dict[str, Any] = {
        "identifier": ctx.identifier,
        "region": ctx.region,
        "plan": spec.plan,
        "serviceVersion": spec.serviceVersion,
        "databaseName": c.database.name,
        "providerConfigName": pc_name,
        "backupRetentionDays": c.backup.retentionDays,
        "replicas": ctx.replicas,
    }
    for key, value in (
        ("arn", at.get("arn")),
        ("resourceId", at.get("resourceId")),
        ("address", at.get("address")),
        ("port", at.get("port")),
        ("endpoint", at.get("endpoint")),
        ("engineVersion", at.get("engineVersionActual") or at.get("engineVersion")),
        ("latestRestorableTime", at.get("latestRestorableTime")),
        # The key the instance really has: the provider reports it (a restore's is its source's).
        ("kmsKeyArn", at.get("kmsKeyId") or kms_arn),
        ("storageEncrypted", at.get("storageEncrypted")),
        ("allocatedStorage", at.get("allocatedStorage")),
    ):
        if value not in (None, ""):
            status[key] = int(value) if key in ("port", "allocatedStorage") else value
    readers = [
        req.observed_field(replica_key(i), "status.atProvider.endpoint")
        for i in range(1, ctx.replicas + 1)
    ]
    if any(readers):
        status["readerEndpoints"] = [str(r) for r in readers if r]
    if at.get("status"):
        status["instanceStatus"] = at["status"]
    applied = req.observed_field("instance", "spec.forProvider") or {}
    pending = pending_changes(applied, at)
    if pending:
        status["pendingChanges"] = pending
    return status


KEY_FIELD = "spec.config.encryption.key.existing.id"

# What a version or plan change modifies on the primary, with the claim field that asks for
# it and how a developer reads it.
DAY2_FIELDS = {
    "engineVersion": ("spec.serviceVersion", "PostgreSQL version"),
    "instanceClass": ("spec.plan", "instance class"),
    "allocatedStorage": ("spec.config.compute.allocatedStorage", "storage (GiB)"),
    "multiAz": ("spec.config.multiAZ", "Multi-AZ"),
}


def _is_pending(field: str, applied: Any, running: Any) -> bool:
    """Whether RDS still runs something else than what was applied for ``field``."""
    if applied is None or running is None:
        return False
    if field == "engineVersion":  # a major ("16") is any of its minors
        (a_major, a_minor), (r_major, r_minor) = (
            version_key(str(applied)),
            version_key(str(running)),
        )
        return r_major != a_major or (a_minor is not None and r_minor != a_minor)
    if field == "allocatedStorage":  # storage autoscaling may have grown it further
        return float(running) < float(applied)
    return bool(running != applied)


def _text(value: Any) -> str:
    """A field's value as status shows it (protobuf Struct numbers arrive as floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def pending_changes(applied: dict[str, Any], at: dict[str, Any]) -> list[dict[str, str]]:
    """The changes applied to the primary (its ``spec.forProvider``) that RDS does not run yet.

    The provider publishes no ``pendingModifiedValues``: provider-upjet-aws v2.6.0 rds
    Instance v1beta3 ``status.atProvider`` has none (``schemas/.../rds.aws.upbound.io_
    instances.yaml``), only what RDS runs now: ``instanceClass``, ``allocatedStorage``,
    ``multiAz``, ``engineVersionActual`` ("The running version of the database") and
    ``status`` ("The RDS instance status"). What was asked and is not running is pending.
    """
    running = {**at, "engineVersion": at.get("engineVersionActual")}
    return [
        {"field": field, "current": _text(running[field]), "requested": _text(applied[field])}
        for field in DAY2_FIELDS
        if _is_pending(field, applied.get(field), running.get(field))
    ]


# A field held back keeps its companions as they were applied.
_COMPANIONS = {
    "engineVersion": ("autoMinorVersionUpgrade",),
    "allocatedStorage": ("maxAllocatedStorage",),
}


def hold_while_pending(
    applied: dict[str, Any], at: dict[str, Any], for_provider: dict[str, Any], out: Rendered
) -> None:
    """While a change is pending, a new version or plan change waits: ``for_provider`` keeps
    what was applied for it, and a warning names the claim field. RDS refuses some changes
    while others are pending ("Cannot modify engine version because there is a pending
    orderable config change", hashicorp/terraform-provider-aws#15146), and one at a time keeps
    what is pending what the status says."""
    pending = pending_changes(applied, at)
    if not pending:
        return
    for field, (claim_field, label) in DAY2_FIELDS.items():
        old, new = applied.get(field), for_provider.get(field)
        if old is None or new is None or old == new:
            continue
        for name in (field, *_COMPANIONS.get(field, ())):
            if name in applied:
                for_provider[name] = applied[name]
        out.results.append(
            Result(
                Severity.WARNING,
                f"{claim_field}: another change is still pending ({_describe(pending)}); "
                f"this one ({label} {_text(old)} -> {_text(new)}) waits until RDS has applied "
                f"it: keeping {_text(old)}",
                "ChangeWaits",
            )
        )


def _describe(changes: list[dict[str, str]]) -> str:
    return ", ".join(
        f"{DAY2_FIELDS[c['field']][1]} {c['current']} -> {c['requested']}" for c in changes
    )


def day2_conditions(
    changes: list[dict[str, str]], rds_status: str | None, spec: Spec, at: dict[str, Any]
) -> list[Condition]:
    """``Upgrading`` while RDS upgrades the engine, ``ChangePending`` while a version or plan
    change waits or is being applied; each False otherwise (so an old one does not linger)."""
    upgrading = rds_status == "upgrading"
    version = next((c for c in changes if c["field"] == "engineVersion"), None)
    conditions = [
        Condition(
            "Upgrading",
            True,
            "Upgrading",
            "RDS is upgrading PostgreSQL"
            + (f" from {version['current']} to {version['requested']}" if version else "")
            + ": the database restarts and is unavailable for a few minutes",
        )
        if upgrading
        else Condition("Upgrading", False, "NotUpgrading")
    ]
    if not changes and rds_status != "modifying":
        conditions.append(Condition("ChangePending", False, "NoChangePending"))
    elif spec.config.applyChanges == "maintenanceWindow" and rds_status == "available":
        window = spec.config.maintenanceWindow or at.get("maintenanceWindow")
        conditions.append(
            Condition(
                "ChangePending",
                True,
                "WaitingForMaintenanceWindow",
                f"Waiting for the maintenance window ({window or 'chosen by AWS'}, UTC) to "
                f"apply: {_describe(changes)}. Set spec.config.applyChanges: immediately to "
                "apply it now.",
            )
        )
    else:
        what = _describe(changes) or "a change"
        conditions.append(
            Condition(
                "ChangePending",
                True,
                "Applying",
                f"RDS is applying {what} (instance status {rds_status or 'unknown'})",
            )
        )
    return conditions


def version_key(version: str) -> tuple[int, int | None]:
    """``"16.4"`` -> ``(16, 4)``; a bare major ``"16"`` -> ``(16, None)`` (its newest minor)."""
    major, _, minor = version.partition(".")
    return int(major), int(minor) if minor else None


def version_move_refused(old: str, running: str | None, new: str) -> str | None:
    """Why ``spec.serviceVersion`` may not move from ``old`` (what the instance was rendered
    with) to ``new``, or None when it may: minors only move forward.

    ``running`` is the version RDS reports (``status.atProvider.engineVersionActual``, "The
    running version of the database", provider-upjet-aws v2.6.0 rds Instance v1beta3): a
    major that follows its minors may already run a newer minor than the one a claim pins.
    A pinned minor may move to a newer one or to its major (then it follows the minors).
    A newer major is not refused here: ``function/upgrade.py`` (``upgrade.refused``) decides it.
    """
    current = running or old
    cur_major, cur_minor = version_key(current)
    new_major, new_minor = version_key(new)
    if (
        new == old
        or new_major > cur_major
        or (
            new_major == cur_major
            and (new_minor is None or cur_minor is None or new_minor >= cur_minor)
        )
    ):
        return None
    where = f"the instance runs PostgreSQL {current}" + (
        f" (serviceVersion {old!r})" if current != old else ""
    )
    return (
        f"spec.serviceVersion: PostgreSQL cannot be downgraded: {where}, the claim asks for "
        f"{new!r}; keeping {old!r} (set serviceVersion to {old!r} or a newer version)"
    )


def _keep_immutable(req: Request, spec: Spec, out: Rendered) -> Spec:
    """Keep what the existing instance was created with; warn about the edit."""
    observed = req.observed.get("instance")
    if observed is None:
        return spec
    fp = (observed.resource.get("spec") or {}).get("forProvider") or {}
    ip = (observed.resource.get("spec") or {}).get("initProvider") or {}
    top: dict[str, Any] = {}
    config: dict[str, Any] = {}

    def changed(field: str, old: Any, new: Any) -> bool:
        if old is None or old == new:
            return False
        out.results.append(
            Result(
                Severity.WARNING,
                f"{field} is immutable: keeping {old!r}, ignoring {new!r}",
                "ImmutableField",
            )
        )
        return True

    region = spec.config.region or req.environment.defaultRegion
    if changed("spec.config.region", fp.get("region"), region):
        config["region"] = fp["region"]
    restored = restore.RESTORE_ANNOTATION in (
        req.observed_field("instance", "metadata.annotations") or {}
    )
    old_version = fp.get("engineVersion")
    if old_version is not None:
        # A restore started at its source's exact version ("16.4"): the claim may name its
        # major ("16") or move forward from it as any instance does.
        refused = _version_refused(req, spec, str(old_version), restored=restored)
        if refused:
            out.results.append(Result(Severity.WARNING, refused, "VersionChangeRefused"))
            top["serviceVersion"] = _kept_version(req, str(old_version), restored=restored)
    if changed("spec.config.database.name", ip.get("dbName"), spec.config.database.name):
        config["database"] = Database.model_construct(name=ip["dbName"])
    old_enc = _observed_encryption(req, fp)
    if old_enc is not None and old_enc != spec.config.encryption:
        out.results.append(
            Result(
                Severity.WARNING,
                "spec.config.encryption is immutable: keeping the encryption the instance "
                "was created with",
                "ImmutableField",
            )
        )
        config["encryption"] = old_enc
    if config:
        top["config"] = spec.config.model_copy(update=config)
    return spec.model_copy(update=top) if top else spec


def _version_refused(req: Request, spec: Spec, old: str, *, restored: bool) -> str | None:
    """Why ``spec.serviceVersion`` may not move from ``old`` (the applied ``engineVersion``):
    a downgrade (``version_move_refused``), or a major upgrade that may not start
    (``upgrade.refused``); None when it may."""
    running = req.observed_field("instance", "status.atProvider.engineVersionActual")
    refused = version_move_refused(old, running, spec.serviceVersion)
    current = str(running or old)
    if refused or upgrade.major(spec.serviceVersion) <= upgrade.major(current):
        return refused
    if upgrade.major(old) == upgrade.major(spec.serviceVersion):
        return None  # started: the new version is applied, RDS is upgrading
    # Once its snapshot exists the upgrade is under way: it is not refused again for what
    # comes and goes meanwhile (a pending change holds it in ``_versions`` instead).
    under_way = upgrade.snapshot_key(spec.major) in req.observed
    instance = req.observed["instance"]
    pending = _pending(req)
    return upgrade.refused(
        current,
        spec.serviceVersion,
        req.settings.postgresql.versions,
        ready=instance.ready or under_way,
        restored=restored,
        pending=_describe(pending) if pending and not under_way else None,
    )


def _pending(req: Request) -> list[dict[str, str]]:
    """What the primary was asked and RDS does not run yet (``pending_changes``)."""
    applied = req.observed_field("instance", "spec.forProvider") or {}
    at = req.observed_field("instance", "status.atProvider") or {}
    return pending_changes(applied, at)


def _kept_version(req: Request, old: str, *, restored: bool) -> str:
    """The ``serviceVersion`` a refused move keeps: what was applied; a restore's exact
    source version as its major when the claim named the major (its minors are followed)."""
    if restored and req.observed_field("instance", "spec.forProvider.autoMinorVersionUpgrade"):
        return old.split(".", maxsplit=1)[0]
    return old


def _encryption_kind(enc: DatabaseEncryption) -> str:
    if enc.key is None:
        return "aws-managed"
    return "kms-managed" if enc.key.managed else "kms-existing"


def _observed_encryption(req: Request, fp: dict[str, Any]) -> DatabaseEncryption | None:
    annotations = req.observed_field("instance", "metadata.annotations") or {}
    kind = annotations.get(ENCRYPTION_ANNOTATION)
    if kind == "kms-managed":
        return DatabaseEncryption(key=observed_managed_key(req))
    if kind == "kms-existing" and fp.get("kmsKeyId"):
        return DatabaseEncryption(key=EncryptionKey(existing=ExistingKey(id=fp["kmsKeyId"])))
    if kind in ("aws-managed", "aes256", RESTORED_ENCRYPTION):  # "aes256": before 0.2
        return DatabaseEncryption()
    return None
