"""A PostgresqlInstance's major version upgrade in place (issue 25): the steps and what each
renders. ``function/postgresql.py`` calls these; every function here is pure.

The steps, one render each until the next one's condition holds:
1. **Asked**: ``spec.serviceVersion`` names the next major. The instance keeps its version and
   parameter group; the pre-upgrade snapshot (an rds Snapshot of the instance, ``snapshot``)
   and the parameter group of the new family (``target_group``) are rendered.
2. **Started** once both are Ready: the primary gets the new ``engineVersion``,
   ``allowMajorVersionUpgrade: true`` and the new group's name, in one ModifyDBInstance
   (terraform-provider-aws internal/service/rds/instance.go ``resourceInstanceUpdate``: a
   changed ``engine_version`` sends ``EngineVersion`` with ``AllowMajorVersionUpgrade``, and a
   changed ``parameter_group_name`` ``DBParameterGroupName``, in the same input). RDS refuses a
   major upgrade that keeps a custom group of the old family ("Have a version-compatible
   parameter group ready", RDS User Guide, USER_UpgradeDBInstance.PostgreSQL.MajorVersion.Process).
3. **Replicas**: RDS upgrades the in-Region read replicas with the primary ("any read replicas
   associated with the database are also upgraded to that next major version", RDS User Guide,
   USER_UpgradeDBInstance.PostgreSQL.MajorVersion). A replica therefore never gets an
   ``engineVersion`` (Terraform's ``engine_version`` ``ConflictsWith: replicate_source_db``);
   it moves to the new group once the primary runs the new major.
4. **Done** once the primary and every replica report the new group
   (``status.atProvider.parameterGroupName``): the old group is no longer rendered, so
   Crossplane deletes it. Until then it is kept: RDS refuses to delete a group an instance is
   a member of, and deleting it while the instance still names it would leave the provider
   failing on it.

Why our own snapshot and not RDS's automatic pre-upgrade one: RDS takes one only when
backups are on, names it itself and reports it nowhere the provider publishes (rds Instance
v1beta3 ``status.atProvider`` has no field for it), so the function could neither wait for it
nor tell the user its name. An rds Snapshot composed by the XR (as a Backup composes one,
``function/backup.py``) is named here, reports ``Ready`` and ``dbSnapshotArn`` (rds Snapshot
v1beta1), and the upgrade waits for it.

Upgrade paths: one major at a time, to the next major the catalogue offers. RDS lists the
next major among the upgrade targets of every supported minor ("When you upgrade ... to its
next major version, any read replicas ... are also upgraded", same page); skipping majors is
offered only from some minors (``ValidUpgradeTarget`` of DescribeDBEngineVersions), which the
catalogue (``settings.PostgresqlVersion``) does not hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from function.core import Condition, ObservedResource, dig
from function.names import EXTERNAL_NAME

GROUP_KEY = "parameter-group"
SNAPSHOT_KEY = "pre-upgrade-snapshot"


def major(version: str) -> int:
    """``"16.4"`` -> 16, ``"16"`` -> 16."""
    return int(version.split(".", maxsplit=1)[0])


def snapshot_key(target_major: str) -> str:
    """The composed-resource name of the snapshot taken before the upgrade to ``target_major``
    (one per target: a second upgrade takes a new one and never renames the first)."""
    return f"{SNAPSHOT_KEY}-{target_major}"


def refused(
    current: str,
    new: str,
    offered: Iterable[str],
    *,
    ready: bool,
    restored: bool,
    pending: str | None,
) -> str | None:
    """Why ``spec.serviceVersion`` may not move from ``current`` (what the instance runs) to
    ``new``, a newer major; None when the upgrade may start. ``offered`` are the catalogue's
    majors, ``ready`` whether the instance is Ready, ``pending`` what RDS has not applied yet."""
    cur, want = major(current), major(new)
    field = "spec.serviceVersion"
    keep = f"keeping {current!r}"
    if restored and not ready:
        return (
            f"{field}: the instance is still being restored; a major upgrade to {new!r} can "
            f"start once the restore has finished (the claim is Ready): {keep}"
        )
    if not ready:
        return (
            f"{field}: the instance is not available yet; a major upgrade to {new!r} can "
            f"start once it is Ready: {keep}"
        )
    offered_majors = sorted({major(v) for v in offered if v.split(".")[0].isdigit()})
    following = [m for m in offered_majors if m > cur]
    if following and want > following[0]:
        return (
            f"{field}: PostgreSQL is upgraded one major version at a time: from {current} the "
            f"next is {str(following[0])!r}; set serviceVersion to {str(following[0])!r} first "
            f"(it asks for {new!r}): {keep}"
        )
    if pending:
        return (
            f"{field}: another change is still pending ({pending}); the upgrade to {new!r} "
            f"waits until RDS has applied it: {keep}"
        )
    return None


@dataclass(frozen=True)
class Group:
    """A parameter group of the XR: its composed-resource name, family and AWS name."""

    key: str
    family: str
    name: str


def observed_groups(observed: Mapping[str, ObservedResource]) -> list[Group]:
    """The XR's parameter groups as Crossplane observed them."""
    groups = []
    for key in sorted(observed):
        if key == GROUP_KEY or key.startswith(f"{GROUP_KEY}-"):
            body = observed[key].resource
            family = dig(body, "spec.forProvider.family")
            name = (dig(body, "metadata.annotations") or {}).get(EXTERNAL_NAME)
            if isinstance(family, str) and isinstance(name, str):
                groups.append(Group(key, family, name))
    return groups


def target_group(groups: list[Group], family: str, first: str, new_name: str) -> Group:
    """The group of ``family``: the one observed, else the XR's first group (``first``: a new
    instance), else a new one under its own key (``new_name``: a major upgrade)."""
    for group in groups:
        if group.family == family:
            return group
    if not groups:
        return Group(GROUP_KEY, family, first)
    return Group(f"{GROUP_KEY}-{family}", family, new_name)


def groups_in_use(instances: Iterable[Mapping[str, Any]]) -> set[str]:
    """The groups the observed instances name (asked, ``spec.forProvider``) or are members of
    (``status.atProvider``, terraform-provider-aws ``resourceInstanceRead``:
    ``DBParameterGroups[0]``)."""
    used = set()
    for body in instances:
        for path in ("spec.forProvider.parameterGroupName", "status.atProvider.parameterGroupName"):
            if isinstance(name := dig(body, path), str) and name:
                used.add(name)
    return used


def kept_groups(groups: list[Group], target: Group, in_use: set[str]) -> list[Group]:
    """The groups to render: the target and every observed one still in use."""
    return [target, *(g for g in groups if g.key != target.key and g.name in in_use)]


def holding(
    target: str,
    running: str,
    snapshot_id: str,
    group: Group,
    *,
    snapshot: bool,
    group_ready: bool,
    pending: str | None = None,
) -> Condition:
    """``ChangePending`` while the upgrade waits for its snapshot, its parameter group and
    RDS to apply what is pending (RDS refuses a version change while another is pending:
    hashicorp/terraform-provider-aws#15146)."""
    waits = []
    if not snapshot:
        waits.append(f"the snapshot {snapshot_id} (status.preUpgradeSnapshot)")
    if not group_ready:
        waits.append(f"the parameter group {group.name} (family {group.family})")
    if pending:
        waits.append(f"RDS to apply {pending}")
    return Condition(
        "ChangePending",
        True,
        "PreparingUpgrade",
        f"Preparing the upgrade from PostgreSQL {running} to {target}: waiting for "
        f"{' and '.join(waits)}; the instance keeps running {running} until then. A restore "
        f"from the snapshot gives back the database as it was before the upgrade.",
    )


def snapshot_status(
    snapshot_id: str,
    running: str,
    target: str,
    observed: ObservedResource | None,
    published: Any = None,
) -> dict[str, Any]:
    """``status.preUpgradeSnapshot``: the snapshot taken before the upgrade, what it holds and
    whether RDS has finished it (rds Snapshot v1beta1 ``status.atProvider``). What it holds:
    as the provider reports it, else as published before (``published``: the XR's
    ``status.preUpgradeSnapshot``), else what the instance runs now (before the upgrade)."""
    at = dig(observed.resource, "status.atProvider") if observed else None
    at = at if isinstance(at, Mapping) else {}
    before = published if isinstance(published, Mapping) else {}
    if before.get("identifier") != snapshot_id:
        before = {}
    status: dict[str, Any] = {
        "identifier": snapshot_id,
        "engineVersion": str(at.get("engineVersion") or before.get("engineVersion") or running),
        "upgradeTo": target,
        "ready": bool(observed and observed.ready),
    }
    if at.get("dbSnapshotArn"):
        status["arn"] = str(at["dbSnapshotArn"])
    if at.get("status"):
        status["status"] = str(at["status"])
    return status
