"""Deleting every claim, in both orders (issue 23 item 4), on the real control plane.

Two namespaces, each with an S3 instance and its binding, a PostgreSQL instance with its
ServiceBinding and a Backup:

- ``e2e-del-bindings-first``: the users go first (bindings, Backup), then the instances; the
  instances keep what their deletionPolicy keeps: the bucket (``DeleteInstanceKeepBucket``, the
  default), the database and its master password Secret (``Orphan``), and the Backup's
  snapshot and its snapshot record Secret (``Retain``, the default);
- ``e2e-del-instance-first``: the instances go first. Their bindings' ClusterUsages hold them:
  Crossplane's Usage webhook refuses to delete an XR a Usage names (crossplane v2.3.4
  ``internal/webhook/protection/usage/handler.go``: "This resource is in-use by ..."), and the
  claim controller reports that (``internal/controller/apiextensions/claim/reconciler.go``
  ``errDeleteComposite``); once the bindings are deleted, the instances go too (the Usages'
  ``replayDeletion``). Here the bucket goes with its objects (``EmptyBucketAndDelete``) and the
  database leaves a final snapshot (``SnapshotAndDelete``, the default); the Backup's snapshot
  stays (``Retain``).

Every deletion must end within ``GONE_TIMEOUT``; a timeout prints what remains, with its
finalizers and conditions.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e import claims
from tests.e2e.controlplane import condition_line
from tests.e2e.processes import wait_for

pytestmark = pytest.mark.e2e

READY_TIMEOUT = 900  # PostgreSQL instances took about 6 min at load 10 (docs/e2e.md)
GONE_TIMEOUT = 600  # the rds Instance's deletion takes a final snapshot; provider-sql polls 30 s
REFUSED_TIMEOUT = 180
BINDINGS_FIRST, INSTANCE_FIRST = "e2e-del-bindings-first", "e2e-del-instance-first"
USAGES = "clusterusages.protection.crossplane.io"


@dataclass
class World:
    """One namespace's claims, and what their XRs published before deletion."""

    namespace: str
    instances: list[dict[str, Any]]
    users: list[dict[str, Any]]
    xrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # claim name -> XR

    @property
    def all(self) -> list[dict[str, Any]]:
        return [*self.users, *self.instances]


def _claims(namespace: str, *, bucket_policy: str, db_policy: str) -> World:
    store = claims.example(
        "objectstorageinstance", "s3-instance-example.yaml", name="store", namespace=namespace
    )
    store["spec"]["parameters"]["deletionPolicy"] = bucket_policy
    db = claims.example(
        "postgresqlinstance", "basic-instance-example.yaml", name="db", namespace=namespace
    )
    db["spec"]["config"] = {"deletionPolicy": db_policy}
    binding = claims.example(
        "objectstoragebinding",
        "s3-binding-example.yaml",
        name="store-binding",
        namespace=namespace,
        instanceRef="store",
        writeConnectionSecretToRef={"name": "store-binding-creds"},
    )
    pg_binding = claims.example(
        "servicebinding",
        "pg-binding-example.yaml",
        name="db-binding",
        namespace=namespace,
        instanceRef="db",
        writeConnectionSecretToRef={"name": "db-binding-creds"},
    )
    backup = claims.example(
        "backup", "backup-example.yaml", name="db-backup", namespace=namespace, instanceRef="db"
    )
    return World(namespace, [store, db], [binding, pg_binding, backup])


@pytest.fixture(scope="module")
def worlds(plane):
    if not plane.fake_aws:
        pytest.skip("tests/e2e/fakeaws is not there: the AWS side cannot become Ready")
    made = [
        _claims(BINDINGS_FIRST, bucket_policy="DeleteInstanceKeepBucket", db_policy="Orphan"),
        _claims(
            INSTANCE_FIRST, bucket_policy="EmptyBucketAndDelete", db_policy="SnapshotAndDelete"
        ),
    ]
    for w in made:
        plane.kubectl("create", "namespace", w.namespace)
        plane.apply(*w.all)
    try:
        _wait_ready(plane, [c for w in made for c in w.all])
        for w in made:
            w.xrs = {c["metadata"]["name"]: copy.deepcopy(claims.get_xr(plane, c)) for c in w.all}
        yield {w.namespace: w for w in made}
    finally:
        for w in made:
            for c in w.all:
                claims.delete(plane, c)
            plane.kubectl("delete", "namespace", w.namespace, "--wait=false", check=False)


def _key(c: dict[str, Any]) -> str:
    return f"{c['kind']} {c['metadata']['namespace']}/{c['metadata']['name']}"


def _wait_ready(plane, docs: list[dict[str, Any]]) -> None:
    seen: dict[str, str] = {}

    def probe() -> bool:
        plane.check_alive()
        for c in docs:
            o = claims.get_claim(plane, c)
            if claims.has_condition(o, "Synced", "True") and claims.has_condition(
                o, "Ready", "True"
            ):
                seen.pop(_key(c), None)
            else:
                seen[_key(c)] = condition_line(o)
        return not seen

    wait_for(
        "every claim of the deletion test SYNCED and READY True",
        probe,
        READY_TIMEOUT,
        interval=3.0,
        last=lambda: "; ".join(f"{k}: {v}" for k, v in seen.items()),
    )


def _exists(plane, resource: str, name: str, namespace: str = "") -> dict[str, Any] | None:
    args = [resource, name, "--ignore-not-found", "-o", "json"]
    if namespace:
        args += ["-n", namespace]
    out = plane.kubectl("get", *args).stdout.strip()
    return json.loads(out) if out else None


def _ref_resource(ref: dict[str, Any]) -> str:
    """kubectl's name for a composed resource's kind: ``<kind>.<version>.<group>``."""
    group, _, version = ref["apiVersion"].rpartition("/")
    return f"{ref['kind']}.{version}.{group}" if group else ref["kind"]


def _remaining(plane, world: World, keep: set[str]) -> list[str]:
    """What of ``world`` still exists: claims, XRs and composed resources (except the keys
    of ``keep``: ``Kind/name``), each with its finalizers and conditions; one kubectl call."""
    wanted: dict[tuple[str, str, str], str] = {}  # (kind, namespace, name) -> what
    resources = {claims.resource(c) for c in world.all}
    for c in world.all:
        wanted[(c["kind"], world.namespace, c["metadata"]["name"])] = f"claim {_key(c)}"
    for xr in world.xrs.values():
        resources.add(_ref_resource({"apiVersion": xr["apiVersion"], "kind": xr["kind"]}))
        wanted[(xr["kind"], "", xr["metadata"]["name"])] = f"XR {xr['kind']}"
        for ref in xr["spec"].get("resourceRefs") or []:
            if f"{ref['kind']}/{ref['name']}" in keep:
                continue
            resources.add(_ref_resource(ref))
            wanted[(ref["kind"], ref.get("namespace") or "", ref["name"])] = "composed"
    items = plane.get(",".join(sorted(resources)), "-A").get("items") or []
    out = []
    for o in items:
        meta = o["metadata"]
        what = wanted.get((o["kind"], meta.get("namespace") or "", meta["name"]))
        if what:
            out.append(_line(f"{what} {o['kind']}/{meta['name']}", o))
    return out


def _line(what: str, o: dict[str, Any]) -> str:
    meta = o["metadata"]
    return (
        f"{what}: finalizers {meta.get('finalizers') or []}, deleting "
        f"{bool(meta.get('deletionTimestamp'))}, {condition_line(o)}"
    )


def _wait_gone(plane, world: World, keep: set[str]) -> None:
    left: list[str] = []

    def probe() -> bool:
        plane.check_alive()
        left[:] = _remaining(plane, world, keep)
        return not left

    wait_for(
        f"every claim of {world.namespace} and what it composed gone",
        probe,
        GONE_TIMEOUT,
        interval=5.0,
        last=lambda: "still there:\n" + "\n".join(left),
    )


def _composed(xr: dict[str, Any], kind: str) -> dict[str, Any]:
    (ref,) = [r for r in xr["spec"].get("resourceRefs") or [] if r["kind"] == kind]
    return ref


def _rds_instance(plane, xr: dict[str, Any]) -> dict[str, Any]:
    ref = _composed(xr, "Instance")
    return plane.get(_ref_resource(ref), ref["name"])


def _snapshots(plane, identifier: str) -> set[str]:
    rds = plane.aws_client("rds")
    got = rds.describe_db_snapshots(DBInstanceIdentifier=identifier)["DBSnapshots"]
    return {s["DBSnapshotIdentifier"] for s in got}


def _instance_exists(plane, identifier: str) -> bool:
    rds = plane.aws_client("rds")
    found = rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [identifier]}])
    return bool(found["DBInstances"])


def _bucket_exists(plane, name: str) -> bool:
    return name in {b["Name"] for b in plane.aws_client("s3").list_buckets()["Buckets"]}


def _usages_of(plane, xr_name: str) -> list[str]:
    return [
        u["metadata"]["name"]
        for u in plane.get(USAGES)["items"]
        if ((u["spec"].get("of") or {}).get("resourceRef") or {}).get("name") == xr_name
    ]


def test_bindings_first_then_instances_keep_what_their_policies_keep(plane, worlds):
    w = worlds[BINDINGS_FIRST]
    store, db = w.xrs["store"], w.xrs["db"]
    bucket = store["status"]["bucketName"]
    identifier = db["status"]["identifier"]
    snapshot = w.xrs["db-backup"]["status"]["snapshotIdentifier"]
    secret_ref = _composed(db, "Secret")
    record = _composed(w.xrs["db-backup"], "Secret")  # the snapshot record Retain keeps
    plane.aws_client("s3").put_object(Bucket=bucket, Key="kept.txt", Body=b"kept")
    assert _usages_of(plane, store["metadata"]["name"]), "the binding's ClusterUsage"
    assert _usages_of(plane, db["metadata"]["name"]), "the ServiceBinding's ClusterUsages"

    for c in w.users:
        claims.delete(plane, c)
    for c in w.instances:
        claims.delete(plane, c)
    # Orphan keeps the master password Secret (a second owner, its Namespace).
    _wait_gone(plane, w, keep={f"Secret/{secret_ref['name']}", f"Secret/{record['name']}"})
    assert _exists(plane, "secret", record["name"], record.get("namespace") or "")

    assert _bucket_exists(plane, bucket), f"DeleteInstanceKeepBucket kept no bucket {bucket}"
    got = plane.aws_client("s3").get_object(Bucket=bucket, Key="kept.txt")["Body"].read()
    assert got == b"kept"
    assert _instance_exists(plane, identifier), f"Orphan kept no instance {identifier}"
    assert snapshot in _snapshots(plane, identifier), f"Retain kept no snapshot {snapshot}"
    secret = _exists(plane, "secret", secret_ref["name"], secret_ref.get("namespace") or "")
    assert secret and "password" in (secret.get("data") or {}), (
        f"Orphan kept no master password Secret {secret_ref}"
    )


def test_instances_first_wait_for_their_bindings(plane, worlds):
    w = worlds[INSTANCE_FIRST]
    store, db = w.xrs["store"], w.xrs["db"]
    bucket = store["status"]["bucketName"]
    identifier = db["status"]["identifier"]
    snapshot = w.xrs["db-backup"]["status"]["snapshotIdentifier"]
    final = _rds_instance(plane, db)["spec"]["forProvider"].get("finalSnapshotIdentifier")
    assert final, "SnapshotAndDelete renders a finalSnapshotIdentifier"
    plane.aws_client("s3").put_object(Bucket=bucket, Key="emptied.txt", Body=b"x")

    for c in w.instances:
        claims.delete(plane, c)
    # Crossplane tried to delete each instance's XR and the Usage webhook refused.
    for c in w.instances:
        claims.wait_claim(
            plane,
            c,
            "its XR's deletion refused while in use",
            lambda o: "in-use by" in condition_line(o),
            REFUSED_TIMEOUT,
        )
    for name in ("store", "db"):
        xr = w.xrs[name]
        res = _ref_resource({"apiVersion": xr["apiVersion"], "kind": xr["kind"]})
        live = _exists(plane, res, xr["metadata"]["name"])
        assert live and not live["metadata"].get("deletionTimestamp"), (
            f"the XR of {name} must stay while its bindings exist"
        )
        assert _usages_of(plane, xr["metadata"]["name"]), f"no ClusterUsage holds {name}"
    assert _bucket_exists(plane, bucket) and _instance_exists(plane, identifier)

    for c in w.users:
        claims.delete(plane, c)
    record = _composed(w.xrs["db-backup"], "Secret")  # the snapshot record Retain keeps
    _wait_gone(plane, w, keep={f"Secret/{record['name']}"})

    assert not _bucket_exists(plane, bucket), f"EmptyBucketAndDelete left the bucket {bucket}"
    assert not _instance_exists(plane, identifier), f"SnapshotAndDelete left {identifier}"
    snaps = _snapshots(plane, identifier)
    assert final in snaps, f"no final snapshot {final} of {identifier}: {sorted(snaps)}"
    assert snapshot in snaps, f"Retain kept no snapshot {snapshot}"
