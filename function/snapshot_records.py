"""What a namespace keeps of its manual snapshots, and the limits on it (issue 27 item 6).

A Backup with ``deletionPolicy: Retain`` keeps its snapshot in AWS when the claim is deleted
(the rds Snapshot MR is ``Orphan``), so counting live Backup claims let create-delete rounds
pile up snapshots without limit. Each Backup therefore composes a record: a Secret without
data in the operator's namespace (``input.internalSecretNamespace``), labelled with the
claim's namespace, the Backup and the DB instance. With Retain the record has one more owner
besides the XR (Crossplane's controller reference): the claim's Namespace, so it outlives the
claim exactly as the snapshot does, and goes with the namespace. Kubernetes garbage-collects a
dependent only once every owner is gone (kubernetes ``pkg/controller/garbagecollector/
garbagecollector.go`` ``attemptToDeleteItem``; the same mechanism keeps an orphaned
database's master Secret, ``function/master_secret.py``). With Delete the snapshot goes with
the claim and so does its record (no second owner).

A new Backup counts what its namespace keeps: the live Backup claims and the records, each
Backup once (by its XR's name): per instance (``limits.maxManualBackupsPerInstance``: live
Backups naming the instance, records of its DB identifier) and per namespace
(``limits.maxManualBackupsPerNamespace``). The operator frees a retained snapshot's place by
deleting the snapshot in AWS and then its record
(``kubectl delete secret -n crossplane-system -l klutch.anynines.com/backup=<XR name>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from function import names
from function.core import InputError, Rendered, Request, Requirement, dig
from function.environment import Limits
from function.master_secret import (
    IDENTIFIER_LABEL,
    PURPOSE_LABEL,
    namespace_reference,
    namespace_uid,
)
from function.refs import NOT_ASKED, not_asked, waiting
from function.resources import SECRET

# The composed-resource name of the record.
KEY: Final = "snapshot-record"
PURPOSE: Final = "backup-snapshot"
# The Backup XR the record belongs to (each Backup is counted once, live or not).
BACKUP_LABEL: Final = "klutch.anynines.com/backup"
# The claim's namespace: what the records of a namespace are listed by.
NAMESPACE_LABEL: Final = "klutch.anynines.com/namespace"
SNAPSHOT_ANNOTATION: Final = "klutch.anynines.com/snapshot-identifier"
RECORDS_REQUIREMENT: Final = "namespace-snapshot-records"
NAMESPACE_REQUIREMENT: Final = "claim-namespace"
WAITING_REASON: Final = "WaitingForNamespace"


def record(
    name: str,
    secrets_namespace: str,
    *,
    claim_namespace: str,
    backup: str,
    identifier: str,
    snapshot: str,
    owner: dict[str, str] | None,
) -> dict[str, Any]:
    """The record of Backup ``backup`` (its XR's name) of DB ``identifier``: a Secret without
    data. ``owner``: the claim's Namespace with Retain (``namespace_owner``), else None."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": secrets_namespace,
        "labels": {
            PURPOSE_LABEL: PURPOSE,
            NAMESPACE_LABEL: claim_namespace,
            BACKUP_LABEL: backup,
            IDENTIFIER_LABEL: identifier,
        },
        "annotations": {SNAPSHOT_ANNOTATION: snapshot},
    }
    if owner is not None:
        meta["ownerReferences"] = [owner]
    return {
        "apiVersion": SECRET.api_version,
        "kind": SECRET.kind,
        "metadata": meta,
        "type": "Opaque",
    }


def records_requirement(secrets_namespace: str, claim_namespace: str) -> Requirement:
    """The records of ``claim_namespace``'s Backups."""
    return Requirement(
        api_version=SECRET.api_version,
        kind=SECRET.kind,
        match_labels={PURPOSE_LABEL: PURPOSE, NAMESPACE_LABEL: claim_namespace},
        namespace=secrets_namespace,
    )


def namespace_owner(req: Request, out: Rendered, namespace: str) -> dict[str, str] | None:
    """The owner reference to the claim's Namespace (asked for on every call); None until
    Crossplane resolved it, or when what arrived is not that Namespace."""
    _, uid = namespace_uid(req, out, namespace, NAMESPACE_REQUIREMENT)
    return namespace_reference(namespace, uid) if uid else None


def add(
    req: Request,
    out: Rendered,
    *,
    identifier: str,
    snapshot: str,
    retain: bool,
) -> None:
    """Add the Backup's record (``KEY``). With ``retain`` it needs the claim's Namespace: until
    Crossplane brought it, the Backup says so and keeps what it has (nothing is deleted)."""
    claim_namespace = req.claim_namespace or ""
    owner = namespace_owner(req, out, claim_namespace) if retain else None
    if retain and owner is None:
        waiting(out, f"waiting for the Namespace {claim_namespace}", WAITING_REASON)
        out.keep_desired = True
        return
    out.resources[KEY] = record(
        names.internal_secret_name("backup", names.identity(req)),
        req.settings.internalSecretNamespace,
        claim_namespace=claim_namespace,
        backup=str(req.metadata.get("name") or ""),
        identifier=identifier,
        snapshot=snapshot,
        owner=owner,
    )


def kept(req: Request, out: Rendered) -> list[dict[str, Any]] | None:
    """The records of this claim's namespace (asked for on every call); None until Crossplane
    resolved them, or while what arrived is not what was asked (then it waits)."""
    ns = req.claim_namespace or ""
    asked = records_requirement(req.settings.internalSecretNamespace, ns)
    out.requirements[RECORDS_REQUIREMENT] = asked
    if RECORDS_REQUIREMENT not in req.required:
        return None
    items = req.required[RECORDS_REQUIREMENT]
    if not_asked(items, asked):
        waiting(out, f"waiting for the snapshot records of namespace {ns}: {NOT_ASKED}")
        return None
    return items


@dataclass(frozen=True)
class Count:
    """What a namespace keeps: manual snapshots of one instance, and of the whole namespace."""

    instance: int
    namespace: int


def count(
    backups: list[dict[str, Any]],
    records: list[dict[str, Any]],
    *,
    me: str,
    instance_ref: str,
    identifier: str,
) -> Count:
    """Each Backup of the namespace once (by its XR's name), this one (``me``) not: live
    claims (``backups``, their XRs) and the records of deleted ones (``records``)."""
    instance: set[str] = set()
    namespace: set[str] = set()
    for xr in backups:
        name = dig(xr, "metadata.name")
        if isinstance(name, str) and name != me:
            namespace.add(name)
            if dig(xr, "spec.instanceRef") == instance_ref:
                instance.add(name)
    for rec in records:
        labels = dig(rec, "metadata.labels") or {}
        name = labels.get(BACKUP_LABEL)
        if isinstance(name, str) and name and name != me:
            namespace.add(name)
            if labels.get(IDENTIFIER_LABEL) == identifier:
                instance.add(name)
    return Count(len(instance), len(namespace))


def check(kept: Count, limits: Limits, instance_ref: str, namespace: str) -> None:
    """InputError naming both numbers, counted and allowed, when a new snapshot would pass
    either limit."""
    per_instance = limits.maxManualBackupsPerInstance
    per_namespace = limits.maxManualBackupsPerNamespace
    if kept.instance < per_instance and kept.namespace < per_namespace:
        return
    raise InputError(
        f"spec.instanceRef: PostgresqlInstance {instance_ref} already has {kept.instance} "
        f"manual snapshots (at most {per_instance}: EnvironmentConfig "
        f"limits.maxManualBackupsPerInstance) and namespace {namespace} keeps {kept.namespace} "
        f"(at most {per_namespace}: limits.maxManualBackupsPerNamespace), counting Backups and "
        "the retained snapshots of deleted ones; delete a Backup with deletionPolicy Delete, "
        "or ask the operator to delete retained snapshots"
    )


__all__ = [
    "BACKUP_LABEL",
    "KEY",
    "NAMESPACE_LABEL",
    "NAMESPACE_REQUIREMENT",
    "PURPOSE",
    "RECORDS_REQUIREMENT",
    "Count",
    "add",
    "check",
    "count",
    "kept",
    "namespace_owner",
    "record",
    "records_requirement",
]
