"""What the e2e tests do with claims, the way a user does it with kubectl."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.controlplane import ROOT, ControlPlane, condition_line, conditions
from tests.e2e.processes import wait_for

EXAMPLES = ROOT / "examples"

# Claim kind -> the resource name kubectl knows it by (the XRDs' claimNames).
RESOURCES = {
    "ObjectStorageInstance": "objectstorageinstances.anynines.com",
    "ObjectStorageBinding": "objectstoragebindings.anynines.com",
    "PostgresqlInstance": "postgresqlinstances.rds.aws.anynines.com",
    "ServiceBinding": "servicebindings.rds.aws.anynines.com",
    "Backup": "backups.rds.aws.anynines.com",
    "ScheduledBackup": "scheduledbackups.rds.aws.anynines.com",
}


def load(path: Path) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return doc


def example(folder: str, file: str, **changes: Any) -> dict[str, Any]:
    """An example claim, with ``name``/``namespace`` and ``spec`` keys changed when given."""
    doc = copy.deepcopy(load(EXAMPLES / folder / file))
    meta = doc["metadata"]
    for key in ("name", "namespace"):
        if key in changes:
            meta[key] = changes.pop(key)
    doc["spec"].update(changes)
    return doc


def resource(claim: dict[str, Any]) -> str:
    return RESOURCES[claim["kind"]]


def get_claim(plane: ControlPlane, claim: dict[str, Any]) -> dict[str, Any]:
    meta = claim["metadata"]
    return plane.get(resource(claim), meta["name"], "-n", meta.get("namespace", "default"))


def get_xr(plane: ControlPlane, claim: dict[str, Any]) -> dict[str, Any] | None:
    ref = (get_claim(plane, claim).get("spec") or {}).get("resourceRef")
    if not ref:
        return None
    group = ref["apiVersion"].split("/")[0]
    return plane.get(f"{ref['kind'].lower()}s.{group}", ref["name"])


def wait_claim(
    plane: ControlPlane,
    claim: dict[str, Any],
    what: str,
    check: Any,
    timeout: float,
) -> dict[str, Any]:
    """Wait until ``check(claim object)`` holds; the timeout message shows its conditions."""
    seen: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        seen["obj"] = obj = get_claim(plane, claim)
        plane.check_alive()
        return obj if check(obj) else None

    meta = claim["metadata"]
    name = f"{claim['kind']} {meta.get('namespace', 'default')}/{meta['name']}"
    return wait_for(
        f"{name}: {what}",
        probe,
        timeout,
        interval=1.0,
        last=lambda: f"its conditions: {condition_line(seen.get('obj') or {})}",
    )


def has_condition(obj: dict[str, Any], kind: str, status: str | None = None) -> bool:
    c = conditions(obj).get(kind)
    return bool(c) and (status is None or c.get("status") == status)


def delete(plane: ControlPlane, claim: dict[str, Any], wait: bool = False) -> None:
    meta = claim["metadata"]
    plane.kubectl(
        "delete",
        resource(claim),
        meta["name"],
        "-n",
        meta.get("namespace", "default"),
        "--ignore-not-found",
        f"--wait={str(wait).lower()}",
        timeout=180,
    )


def dump(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False)
