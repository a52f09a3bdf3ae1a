"""Backup -> one rds Snapshot of a PostgresqlInstance, taken now.

The Backup finds its PostgresqlInstance through a required resource (``refs.depend``): the XR of
the claim ``spec.instanceRef`` in the claim's namespace. Until that instance is ready it renders
nothing and says what it waits for. Once the snapshot exists it no longer needs the instance.

Where each claim field becomes an AWS field:
- ``spec.instanceRef``           -> Snapshot ``forProvider.dbInstanceIdentifier`` and ``region``
                                    (from the instance's status)
- ``spec.config.deletionPolicy`` -> Snapshot ``deletionPolicy`` (Retain -> Orphan)
- (generated)                    -> Snapshot identifier (``crossplane.io/external-name``)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from function import names
from function.claims import (
    POSTGRESQL_INSTANCE,
    BackupDeletion,
    ClaimName,
    ClaimSpec,
    PostgresqlInstanceStatus,
    Strict,
    merge_tags,
)
from function.core import Rendered, Request, parse
from function.refs import depend
from function.resources import RDS_SNAPSHOT, managed

INSTANCE_REQUIREMENT = "postgresql-instance"


class Config(Strict):
    """What happens to the snapshot when the claim is deleted."""

    deletionPolicy: BackupDeletion = "Retain"


class Spec(ClaimSpec):
    """A Backup claim's spec."""

    instanceRef: ClaimName
    config: Config = Field(default_factory=Config)


def render(req: Request) -> Rendered:
    """Render a Backup (see the module docstring for the field map)."""
    spec = parse(Spec, req.xr.get("spec") or {}, "spec")
    out = Rendered()
    s = req.settings
    snapshot_id = names.snapshot_identifier(s.namingPrefix, req.claim_name, req.uid)
    policy = "Orphan" if spec.config.deletionPolicy == "Retain" else "Delete"
    previous = req.xr.get("status") or {}

    # A snapshot never changes once taken: when it exists it no longer needs the
    # instance (which may be gone by now), so render it from what was created.
    observed_source = req.observed_field("snapshot", "spec.forProvider.dbInstanceIdentifier")
    source: dict[str, Any]
    if observed_source:
        source = {
            "instanceIdentifier": str(observed_source),
            "region": str(req.observed_field("snapshot", "spec.forProvider.region")),
            "databaseName": previous.get("databaseName"),
            "engineVersion": previous.get("engineVersion"),
        }
    else:
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
            return out  # waiting; nothing to keep
        inst = found.status
        source = {
            "instanceIdentifier": inst.identifier,
            "region": inst.region,
            "databaseName": inst.databaseName,
            "engineVersion": inst.engineVersion,
        }

    out.resources["snapshot"] = managed(
        RDS_SNAPSHOT,
        req.provider_config,
        {
            "region": source["region"],
            "dbInstanceIdentifier": source["instanceIdentifier"],
            "tags": merge_tags(s, None, "spec"),
        },
        deletion_policy=policy,
        external_name=snapshot_id,
    )
    out.status = {"snapshotIdentifier": snapshot_id, **{k: v for k, v in source.items() if v}}
    at = req.observed_field("snapshot", "status.atProvider") or {}
    if at.get("dbSnapshotArn"):
        out.status["snapshotArn"] = at["dbSnapshotArn"]
    if at.get("status"):
        out.status["snapshotStatus"] = at["status"]
    return out
