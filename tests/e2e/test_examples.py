"""Every example claim, applied with ``kubectl apply -f`` as the examples' READMEs and the user
guide say, reaches SYNCED True and READY True in ``kubectl get`` (issue 23 item 4): object
storage (AES-256, managed KMS key, your KMS key; plain and scoped bindings) and PostgreSQL
(basic, clustered, HA with a managed key, orphaned with your key, ``pg-db``; its ServiceBinding,
Backup, both ScheduledBackups and a restore from the Backup), in three namespaces: ``default``
and the examples' own ``team-a`` and ``team-b``.

The two Klutch examples named ``example-instance`` (no namespace in their files) cannot both
exist in one namespace (the user guide says so): the basic one goes to ``default``, the
clustered one to ``e2e-examples-b`` with ``kubectl apply -n``, as a user picks a namespace.

Not applied: ``pg-instance-restore-pitr.yaml`` names the time ``2025-06-10T08:30:00Z``, before
``pg-db`` exists, which the function refuses as outside the source's retention (as RDS would);
it is applied with ``latest: true`` instead, the other form its comment offers.
"""

from __future__ import annotations

import base64
import copy
import ssl
import time
import urllib.parse

import botocore.config
import botocore.exceptions
import pg8000.exceptions
import pg8000.native
import pytest

from tests.e2e import claims, writes
from tests.e2e.controlplane import condition_line
from tests.e2e.processes import wait_for

pytestmark = pytest.mark.e2e

# Bounds (seconds). S3 and IAM answer at once; an rds Instance starts a PostgreSQL server, a
# read replica waits for its primary, a restore for its Backup's snapshot.
READY_TIMEOUT = 900  # PostgreSQL instances took about 6 min at load 10 (docs/e2e.md)
SECRET_TIMEOUT = 60
ROLE_TIMEOUT = 90  # provider-sql polls every 30 s (controlplane.py --poll=30s)
CLUSTER_NS = "e2e-examples-b"
NAMESPACES = ("team-a", "team-b", CLUSTER_NS)

S3 = [
    ("objectstorageinstance", "s3-instance-example.yaml"),
    ("objectstorageinstance", "s3-instance-kms-managed.yaml"),
    ("objectstorageinstance", "s3-instance-kms-existing.yaml"),
    ("objectstoragebinding", "s3-binding-example.yaml"),
    ("objectstoragebinding", "s3-binding-scoped.yaml"),
]
PG_INSTANCES = [
    ("postgresqlinstance", "pg-instance-example.yaml"),
    ("postgresqlinstance", "basic-instance-example.yaml"),
    ("postgresqlinstance", "pg-instance-ha-kms.yaml"),
    ("postgresqlinstance", "pg-instance-orphan-existing-key.yaml"),
]
PG_USERS = [
    ("servicebinding", "pg-binding-example.yaml"),
    ("backup", "backup-example.yaml"),
    ("scheduledbackup", "scheduledbackup-daily.yaml"),
    ("scheduledbackup", "scheduledbackup-cron.yaml"),
]
RESTORES = [("postgresqlinstance", "pg-instance-restore-backup.yaml")]


def _file(folder: str, name: str):
    return claims.EXAMPLES / folder / name


def _claim(folder: str, name: str, namespace: str | None = None) -> dict:
    doc = copy.deepcopy(claims.load(_file(folder, name)))
    doc["metadata"].setdefault("namespace", namespace or "default")
    return doc


def _ready(obj: dict) -> bool:
    return claims.has_condition(obj, "Synced", "True") and claims.has_condition(
        obj, "Ready", "True"
    )


def _wait_all_ready(plane, docs: list[dict], what: str) -> None:
    """Every claim of ``docs`` SYNCED True and READY True, in one bounded wait."""
    seen: dict[str, str] = {}

    def probe() -> bool:
        plane.check_alive()
        pending = []
        for doc in docs:
            obj = claims.get_claim(plane, doc)
            key = f"{doc['kind']} {doc['metadata']['namespace']}/{doc['metadata']['name']}"
            if not _ready(obj):
                pending.append(key)
                seen[key] = condition_line(obj)
        seen["pending"] = ", ".join(pending)
        return not pending

    wait_for(
        what,
        probe,
        READY_TIMEOUT,
        interval=3.0,
        last=lambda: (
            "not ready: "
            + "; ".join(f"{k}: {seen.get(k, '')}" for k in seen["pending"].split(", ") if k)
        ),
    )


def _kubectl_get_columns(plane, doc: dict) -> dict[str, str]:
    """SYNCED and READY as ``kubectl get <kind> <name> -n <ns>`` prints them: the XRD's claim
    printer columns read these conditions (crossplane internal/xcrd/crd.go
    CompositeResourceClaimPrinterColumns), given here as custom columns because other columns
    (a SCHEDULE such as ``cron(0 5 ? * * *)``) hold spaces."""
    meta = doc["metadata"]
    columns = (
        "SYNCED:.status.conditions[?(@.type=='Synced')].status,"
        "READY:.status.conditions[?(@.type=='Ready')].status"
    )
    out = plane.kubectl(
        "get",
        claims.resource(doc),
        meta["name"],
        "-n",
        meta["namespace"],
        "-o",
        f"custom-columns={columns}",
    ).stdout
    header, row = out.splitlines()[:2]
    return dict(zip(header.split(), row.split(), strict=True))


@pytest.fixture(scope="module")
def applied(plane):
    if not plane.fake_aws:
        pytest.skip("tests/e2e/fakeaws is not there: the AWS side cannot become Ready")
    for ns in NAMESPACES:
        plane.kubectl("create", "namespace", ns)
    docs: list[dict] = []
    try:
        yield docs
    finally:
        # Users first, then instances; not waited for (test_deletion checks deletion).
        for doc in reversed(docs):
            claims.delete(plane, doc)
        for ns in NAMESPACES:
            plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_every_example_claim_reaches_synced_and_ready(plane, applied):
    # As the READMEs say: `kubectl apply -f examples/<folder>/<file>`; users of an instance
    # after it (they wait for it; applying them at once works too, but a user goes in order).
    s3 = [_claim(*f) for f in S3]
    for f in S3:
        plane.kubectl("apply", "-f", str(_file(*f)))
    applied.extend(s3)
    pg = [_claim(*f) for f in PG_INSTANCES]
    for f in PG_INSTANCES:
        plane.kubectl("apply", "-f", str(_file(*f)))
    cluster = _claim("postgresqlinstance-cluster", "clustered-instance-example.yaml", CLUSTER_NS)
    plane.kubectl(
        "apply",
        "-n",
        CLUSTER_NS,
        "-f",
        str(_file("postgresqlinstance-cluster", "clustered-instance-example.yaml")),
    )
    applied.extend([*pg, cluster])
    users = [_claim(*f) for f in PG_USERS]
    for f in PG_USERS:
        plane.kubectl("apply", "-f", str(_file(*f)))
    applied.extend(users)

    _wait_all_ready(plane, s3, "every object storage example SYNCED True and READY True")
    _wait_all_ready(
        plane, [*pg, cluster, *users], "every PostgreSQL example SYNCED True and READY True"
    )

    # A restore from the Backup (it waits for the Backup's snapshot), and to a point in time.
    restores = [_claim(*f) for f in RESTORES]
    for f in RESTORES:
        plane.kubectl("apply", "-f", str(_file(*f)))
    pitr = _claim("postgresqlinstance", "pg-instance-restore-pitr.yaml")
    pitr["spec"]["restore"]["pointInTime"] = {"sourceInstanceRef": "pg-db", "latest": True}
    plane.apply(pitr)
    applied.extend([*restores, pitr])
    _wait_all_ready(plane, [*restores, pitr], "the restores SYNCED True and READY True")

    # What `kubectl get` prints: SYNCED and READY columns True for every claim.
    for doc in applied:
        row = _kubectl_get_columns(plane, doc)
        assert (row.get("SYNCED"), row.get("READY")) == ("True", "True"), (doc, row)


# ----- the Secrets work (issue 23 item 4): what an app does with them, from this process ---------


def _secret(plane, namespace: str, name: str) -> dict[str, str]:
    data = plane.get("secret", name, "-n", namespace).get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def _wait_secret(plane, namespace: str, name: str, keys: set[str]) -> dict[str, str]:
    return wait_for(
        f"Secret {namespace}/{name} with keys {sorted(keys)}",
        lambda: (s := _secret(plane, namespace, name)) and keys <= set(s) and s,
        SECRET_TIMEOUT,
    )


def _refused(call, *args, **kwargs) -> str:
    """The AWS error code of a call that must be refused (AccessDenied with IAM enforcement)."""
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        call(*args, **kwargs)
    return exc.value.response["Error"]["Code"]


S3_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "BUCKET_NAME"}


def test_object_storage_binding_secrets_allow_their_level_and_refuse_the_rest(plane, applied):
    # moto runs with IAM enforcement (controlplane.py _aws, INITIAL_NO_AUTH_ACTION_COUNT): every
    # call below is signed with the binding's key and checked against its IAM policy.
    base = claims.example("objectstoragebinding", "s3-binding-example.yaml")
    bindings = {}
    for level in ("readOnly", "writeOnly"):
        doc = copy.deepcopy(base)
        doc["metadata"]["name"] = f"e2e-{level.lower()}"
        doc["spec"]["permissions"] = level
        doc["spec"]["writeConnectionSecretToRef"] = {"name": f"e2e-{level.lower()}-creds"}
        bindings[level] = doc
    plane.apply(*bindings.values())
    applied.extend(bindings.values())
    _wait_all_ready(plane, list(bindings.values()), "the readOnly and writeOnly bindings Ready")

    rw = plane.binding_s3(_wait_secret(plane, "default", "my-s3-binding-creds", S3_KEYS))
    bucket = _secret(plane, "default", "my-s3-binding-creds")["BUCKET_NAME"]
    print("bucket policy:", plane.aws_client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    # readWrite (the example): put, get, list, delete.
    rw.put_object(Bucket=bucket, Key="seed.txt", Body=b"seed")
    rw.put_object(Bucket=bucket, Key="gone.txt", Body=b"x")
    assert rw.get_object(Bucket=bucket, Key="seed.txt")["Body"].read() == b"seed"
    assert {"seed.txt", "gone.txt"} <= _keys(rw, bucket)
    rw.delete_object(Bucket=bucket, Key="gone.txt")
    assert "gone.txt" not in _keys(rw, bucket)

    ro_secret = _wait_secret(plane, "default", "e2e-readonly-creds", S3_KEYS)
    assert ro_secret["BUCKET_NAME"] == bucket
    ro = plane.binding_s3(ro_secret)
    assert ro.get_object(Bucket=bucket, Key="seed.txt")["Body"].read() == b"seed"
    assert "seed.txt" in _keys(ro, bucket)
    assert _refused(ro.put_object, Bucket=bucket, Key="ro.txt", Body=b"x") == "AccessDenied"
    assert _refused(ro.delete_object, Bucket=bucket, Key="seed.txt") == "AccessDenied"
    assert "seed.txt" in _keys(rw, bucket)

    wo = plane.binding_s3(_wait_secret(plane, "default", "e2e-writeonly-creds", S3_KEYS))
    wo.put_object(Bucket=bucket, Key="wo.txt", Body=b"written")
    assert _refused(wo.get_object, Bucket=bucket, Key="wo.txt") == "AccessDenied"
    assert _refused(wo.list_objects_v2, Bucket=bucket) == "AccessDenied"
    assert rw.get_object(Bucket=bucket, Key="wo.txt")["Body"].read() == b"written"

    # The scoped example: readOnly bucket-wide, readWrite under uploads/, listOnly under audit/.
    scoped = plane.binding_s3(_wait_secret(plane, "default", "my-s3-binding-scoped-creds", S3_KEYS))
    scoped.put_object(Bucket=bucket, Key="uploads/a.txt", Body=b"up")
    assert scoped.get_object(Bucket=bucket, Key="uploads/a.txt")["Body"].read() == b"up"
    scoped.delete_object(Bucket=bucket, Key="uploads/a.txt")
    assert _refused(scoped.put_object, Bucket=bucket, Key="other/a.txt", Body=b"x") == (
        "AccessDenied"
    )
    assert _refused(scoped.delete_object, Bucket=bucket, Key="seed.txt") == "AccessDenied"
    rw.put_object(Bucket=bucket, Key="audit/log.txt", Body=b"audit")
    assert _refused(scoped.get_object, Bucket=bucket, Key="audit/log.txt") == "AccessDenied"
    assert "audit/log.txt" in _keys(scoped, bucket, "audit/")  # listOnly lists
    assert scoped.get_object(Bucket=bucket, Key="seed.txt")["Body"].read() == b"seed"


def _keys(s3, bucket: str, prefix: str = "") -> set[str]:
    got = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for o in got.get("Contents") or []}


PG_KEYS = {"DATABASE_URL", "uri", "username", "password", "host", "port", "dbname"}


def _connect(url: str) -> pg8000.native.Connection:
    """Connect as an app does with DATABASE_URL (``sslmode=require``: TLS, not verified, as
    libpq's require does; the fake's TLS proxy has a self-signed certificate)."""
    u = urllib.parse.urlsplit(url)
    assert urllib.parse.parse_qs(u.query).get("sslmode") == ["require"], url
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return pg8000.native.Connection(
        urllib.parse.unquote(u.username or ""),
        password=urllib.parse.unquote(u.password or ""),
        host=u.hostname,
        port=u.port or 5432,
        database=urllib.parse.unquote(u.path.lstrip("/")),
        ssl_context=ctx,
        timeout=30,
    )


def test_service_binding_secrets_connect_share_tables_and_drop_the_role(plane, applied):
    first = _wait_secret(plane, "default", "pg-binding-credentials", PG_KEYS)
    assert first["DATABASE_URL"] == first["uri"]
    assert first["dbname"] == "hospital"
    db = _connect(first["DATABASE_URL"])
    try:
        db.run("CREATE TABLE patients (id int PRIMARY KEY, name text)")
        db.run("INSERT INTO patients VALUES (1, 'first')")
    finally:
        db.close()

    second_claim = claims.example(
        "servicebinding",
        "pg-binding-example.yaml",
        name="e2e-pg-binding-2",
        writeConnectionSecretToRef={"name": "e2e-pg-binding-2-credentials"},
    )
    plane.apply(second_claim)
    applied.append(second_claim)
    _wait_all_ready(plane, [second_claim], "the second ServiceBinding Ready")
    second = _wait_secret(plane, "default", "e2e-pg-binding-2-credentials", PG_KEYS)
    assert second["username"] != first["username"]
    db = _connect(second["uri"])
    try:
        assert db.run("SELECT name FROM patients WHERE id = 1") == [["first"]]
        db.run("INSERT INTO patients VALUES (2, 'second')")
    finally:
        db.close()

    claims.delete(plane, second_claim, wait=True)
    applied.remove(second_claim)
    db = _connect(first["uri"])
    try:
        wait_for(
            f"the login role {second['username']} dropped",
            lambda: (
                db.run("SELECT count(*) FROM pg_roles WHERE rolname = :r", r=second["username"])
                == [[0]]
            ),
            ROLE_TIMEOUT,
            interval=2.0,
        )
        assert db.run("SELECT id, name FROM patients ORDER BY id") == [[1, "first"], [2, "second"]]
    finally:
        db.close()
    with pytest.raises(pg8000.exceptions.DatabaseError):
        _connect(second["uri"]).close()


# ----- at rest no write loop (issue 23 item 4) -----------------------------------------------

REST_SECONDS = 60
# One poll of the fake provider (its --poll default, 60 s: crossplane-runtime's) and a margin.
# A field that reports another MR's change in AWS shows at the MR's first observation after it,
# up to one poll later: an iam Policy's atProvider.attachmentCount after its
# UserPolicyAttachment is created (terraform-provider-aws internal/service/iam/policy.go
# resourcePolicyRead). A fresh-clone .ci/run saw two such writes when the window began sooner.
# A write loop writes again and again, so it still shows in the window that follows.
SETTLE_SECONDS = 75
LATEST_RESTORABLE = "status.atProvider.latestRestorableTime"


def _managed(plane) -> dict[str, dict]:
    """Every managed resource (the category provider-upjet-aws's and provider-sql's CRDs carry),
    by ``kind/name``."""
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in plane.get("managed")["items"]}


def _aws_moved(write: writes.Write) -> bool:
    """A write that reports a change on the AWS side, not a loop: the provider's status write
    of an rds Instance whose only change is ``latestRestorableTime``. RDS moves it once per
    5-minute transaction-log upload; Terraform reads it on every observe (terraform-provider-aws
    internal/service/rds/instance.go resourceInstanceRead), and crossplane-runtime writes the
    status of an up-to-date MR at every poll (pkg/reconciler/managed/reconciler.go,
    ``Status().Update``), so the real provider writes an rds Instance once per poll after each
    upload (fakeaws/aws.py latest_restorable_time)."""
    group = write.ref[0].split("/")[0]
    return (group, write.ref[1]) == ("rds.aws.upbound.io", "Instance") and write.changed == [
        LATEST_RESTORABLE
    ]


def test_at_rest_no_composed_resource_is_written(plane, applied):
    _wait_all_ready(plane, list(applied), "every claim of this module Ready before the rest")
    wait_for(
        "every managed resource Ready and none being deleted",
        lambda: all(
            claims.has_condition(o, "Ready", "True") and not o["metadata"].get("deletionTimestamp")
            for o in _managed(plane).values()
        ),
        READY_TIMEOUT,
        interval=3.0,
        last=lambda: (
            "not ready: "
            + ", ".join(
                k
                for k, o in _managed(plane).items()
                if not claims.has_condition(o, "Ready", "True")
            )
        ),
    )
    time.sleep(SETTLE_SECONDS)  # every MR observed once since the last one became Ready
    xrs = [xr for doc in applied if (xr := claims.get_xr(plane, doc))]
    refs = writes.composed_refs(xrs)
    assert len(xrs) == len(applied) and refs, (len(xrs), len(applied), len(refs))
    seen = writes.watch_writes(plane.api_client(), refs, REST_SECONDS)
    counts = seen.per_object()
    print(
        f"\n{len(refs)} composed resources of {len(xrs)} XRs watched {REST_SECONDS} s: "
        f"{len(seen.writes)} writes to {len(counts)} objects"
    )
    for key, n in sorted(counts.items()):
        print(f"  {n:3d}  {key}")
    for w in seen.writes:
        print(f"  {'AWS moved' if _aws_moved(w) else 'WRITE'}: {w.line()}")
    assert not seen.errors, seen.errors
    assert seen.watched == len(refs), (seen.watched, len(refs), "composed resources not found")
    loops = [w.line() for w in seen.writes if not _aws_moved(w)]
    assert not loops, f"{len(loops)} writes at rest:\n" + "\n".join(loops)
    # RDS moves latestRestorableTime once per 5 min: at most once per instance in 60 s.
    moved = [w.key for w in seen.writes if _aws_moved(w)]
    assert all(moved.count(k) == 1 for k in moved), moved
