"""Backup -> one rds Snapshot of a PostgresqlInstance, taken now.

The Backup finds its PostgresqlInstance through a required resource (``refs.depend``): the XR of
the claim ``spec.instanceRef`` in the claim's namespace. Until that instance is ready it renders
nothing and says what it waits for. Once the snapshot exists it no longer needs the instance;
while it is being taken, a ClusterUsage keeps the instance from being deleted.

Where each claim field becomes an AWS field:
- ``spec.instanceRef``           -> Snapshot ``forProvider.dbInstanceIdentifier`` and ``region``
                                    (from the instance's status)
- ``spec.config.deletionPolicy`` -> Snapshot ``deletionPolicy`` (Retain -> Orphan)
- (generated)                    -> Snapshot identifier (``crossplane.io/external-name``)

Status: ``snapshotIdentifier``, ``snapshotArn`` (what a restore names), ``engineVersion`` and
``kmsKeyArn`` of the snapshot, and the instance it was taken of (``instanceIdentifier``,
``instanceResourceId``): a Backup vouches for that instance after its claim is deleted.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from function import names
from function.claims import (
    BACKUP,
    POSTGRESQL_INSTANCE,
    BackupDeletion,
    ClaimName,
    ClaimSpec,
    PostgresqlInstanceStatus,
    Strict,
    resource_tags,
)
from function.core import InputError, Rendered, Request, dig, parse
from function.refs import depend, namespace_claims, usage, usage_key, xr_name
from function.resources import RDS_SNAPSHOT, DeletionPolicy, managed

INSTANCE_REQUIREMENT = "postgresql-instance"
BACKUPS_REQUIREMENT = "namespace-backups"
SNAPSHOT_USAGE = usage_key("snapshot")


class Config(Strict):
    """What happens to the snapshot when the claim is deleted."""

    deletionPolicy: BackupDeletion = "Retain"


class Spec(ClaimSpec):
    """A Backup claim's spec."""

    instanceRef: ClaimName
    config: Config = Field(default_factory=Config)


def render(req: Request) -> Rendered:
    """Render a Backup (see the module docstring for the field map): what the snapshot is
    taken of, the Snapshot, the Usage that keeps the instance while it is taken, the status."""
    spec = parse(Spec, req.xr.get("spec") or {}, "spec")
    out = Rendered()
    snapshot_id = names.snapshot_identifier(names.identity(req))
    found = _taken(req) or _source(req, out, spec)
    if found is None:
        return out  # waiting for the instance or the namespace's Backups; nothing to keep
    instance_xr, source = found
    policy: DeletionPolicy = "Orphan" if spec.config.deletionPolicy == "Retain" else "Delete"
    out.resources["snapshot"] = managed(
        RDS_SNAPSHOT,
        req.provider_config,
        {
            "region": source["region"],
            "dbInstanceIdentifier": source["instanceIdentifier"],
            "tags": resource_tags(req, BACKUP, None, "spec"),
        },
        deletion_policy=policy,
        external_name=snapshot_id,
    )
    snapshot = req.observed.get("snapshot")
    if isinstance(instance_xr, str) and instance_xr and not (snapshot and snapshot.ready):
        # RDS cannot delete an instance while a snapshot of it is being taken. Once the
        # snapshot exists the Backup no longer needs the instance: the Usage has no ``by``, so
        # it goes as soon as it is no longer rendered (refs.usage).
        out.resources[SNAPSHOT_USAGE] = usage(
            POSTGRESQL_INSTANCE,
            instance_xr,
            reason=f"Backup {req.claim_namespace}/{req.claim_name} is taking a snapshot of it",
        )
    out.status = _status(req, snapshot_id, source)
    return out


# What a snapshot is taken of: the instance's XR name (for the Usage, when known) and what the
# status publishes of the instance.
Source = tuple[Any, dict[str, Any]]


def _taken(req: Request) -> Source | None:
    """What an existing snapshot was taken of, or None before it exists.

    A snapshot never changes once taken: when it exists it no longer needs the instance
    (which may be gone by now), so it is rendered from what was created."""
    observed_source = req.observed_field("snapshot", "spec.forProvider.dbInstanceIdentifier")
    if not observed_source:
        return None
    previous = req.xr.get("status") or {}
    # The XR of the instance, for the Usage that lasts while the snapshot is being taken.
    instance_xr = req.observed_field(SNAPSHOT_USAGE, "spec.of.resourceRef.name")
    return instance_xr, {
        "instanceIdentifier": str(observed_source),
        "region": str(req.observed_field("snapshot", "spec.forProvider.region")),
        "databaseName": previous.get("databaseName"),
        "engineVersion": previous.get("engineVersion"),
        "instanceResourceId": previous.get("instanceResourceId"),
    }


def _source(req: Request, out: Rendered, spec: Spec) -> Source | None:
    """The instance a new snapshot is taken of, once it is ready and within the namespace's
    limit; None while waiting for either."""
    found = depend(
        req,
        out,
        POSTGRESQL_INSTANCE,
        spec.instanceRef,
        PostgresqlInstanceStatus,
        field="spec.instanceRef",
        key=INSTANCE_REQUIREMENT,
    )
    if found is None or not within_limit(req, out, spec):
        return None
    inst = found.status
    return xr_name(found), {
        "instanceIdentifier": inst.identifier,
        "region": inst.region,
        "databaseName": inst.databaseName,
        "engineVersion": inst.engineVersion,
        # Vouches for the instance after it is deleted: a point-in-time restore reaches
        # its retained automated backups by this ID (function/restore.py).
        "instanceResourceId": inst.resourceId,
    }


def _status(req: Request, snapshot_id: str, source: dict[str, Any]) -> dict[str, Any]:
    """The snapshot's identifier, what it was taken of, and what the provider observed."""
    status = {"snapshotIdentifier": snapshot_id, **{k: v for k, v in source.items() if v}}
    at = req.observed_field("snapshot", "status.atProvider") or {}
    if at.get("dbSnapshotArn"):
        status["snapshotArn"] = at["dbSnapshotArn"]
    if at.get("status"):
        status["snapshotStatus"] = at["status"]
    # What the snapshot really holds (rds Snapshot v1beta1 atProvider): the version a restore
    # starts at, and the key that must outlive it.
    if at.get("engineVersion"):
        status["engineVersion"] = at["engineVersion"]
    if at.get("kmsKeyId"):
        status["kmsKeyArn"] = at["kmsKeyId"]
    if isinstance(size := at.get("allocatedStorage"), int | float) and size >= 1:
        status["allocatedStorage"] = int(size)  # a restore starts at least this large
    return status


def within_limit(req: Request, out: Rendered, spec: Spec) -> bool:
    """A new snapshot only while the instance has fewer Backups in the namespace than the
    EnvironmentConfig's ``limits.maxManualBackupsPerInstance`` (this one not counted). False
    while Crossplane has not resolved the namespace's Backups; an InputError at the limit.

    Only a Backup whose snapshot does not exist yet is checked: one already taken is never
    refused. Two Backups created in the same instant may both pass (each counts the other
    only once it exists); the limit bounds cost, it is not a lock.
    """
    limit = req.environment.limits.maxManualBackupsPerInstance
    others = namespace_claims(req, out, BACKUP, field="spec.instanceRef", key=BACKUPS_REQUIREMENT)
    if others is None:
        return False
    me = req.metadata.get("name")
    count = sum(
        1
        for xr in others
        if dig(xr, "spec.instanceRef") == spec.instanceRef and dig(xr, "metadata.name") != me
    )
    if count >= limit:
        raise InputError(
            f"spec.instanceRef: PostgresqlInstance {spec.instanceRef} already has {count} "
            f"Backups in namespace {req.claim_namespace}, the most this platform allows "
            f"(EnvironmentConfig limits.maxManualBackupsPerInstance: {limit}); delete one first"
        )
    return True
