"""The requests ``make bench`` sends, built the way Crossplane builds them.

Pure (no server, no timing): shared by ``tools/bench.py`` and ``tests/test_bench_flow.py``.

Every request comes out of Crossplane's request flow for one pipeline step
(``tools/xfn.py``, crossplane v2.3.4): the step request (observed state, empty desired state,
the Composition step's input), its bootstrap requirements fetched (the EnvironmentConfig),
the tag computed once, then one call per required-resources round, with the same tag, until
the function's requirements settle (``xfn.run_step``). The function in-process
(``function.fn.run``) answers the rounds here, so the sequence of requests is exactly the one
Crossplane sends that function; ``tools/bench.py`` then replays the recorded bytes to the real
server and to the no-op over gRPC (the no-op gets the same requests, so it answers the same
number of calls) and checks the server's answers against the ones recorded here.

What the required-resource selectors find is a model of the cluster (``Subject.cluster``):
the examples' ``required.yaml``, the operator's EnvironmentConfig, and the XR itself, as
Crossplane's fetcher finds it (``ExistingRequiredResourcesFetcher.Fetch``: a label selector on
the claim namespace lists every XR of the kind there, this one included).

- ``settle``: a claim at rest: every composed resource the function asks for observed as its
  provider publishes it once made (``observe``: server metadata, ``status.atProvider``,
  ``Ready``/``Synced``, connection details), the XR with the status and conditions Crossplane
  wrote from the last answer, repeated until nothing new appears.
- ``changed``: that claim after a status update: the XR and one composed resource (in turn)
  have a new ``resourceVersion``, so every reconcile is a request the function never saw.
- ``new_claim``: a claim just created (nothing observed), its own name and uid each time:
  its first reconcile.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, master_secret
from function.cache import DEFAULT_MAX_BYTES, entry_cost
from function.resources import READY_WHEN_EXISTS, Kind, readiness
from tools import xfn, xrender

# One example per XR kind, its richest (docs/benchmarks.md says why each).
EXAMPLES = {
    "XObjectStorageInstance": "examples/objectstorageinstance/xr-kms-managed.yaml",
    "XObjectStorageBinding": "examples/objectstoragebinding/xr-scoped.yaml",
    "XPostgresqlInstance": "examples/postgresqlinstance/xr-ha-kms.yaml",
    "XServiceBinding": "examples/servicebinding/xr.yaml",
    "XBackup": "examples/backup/xr.yaml",
    "XScheduledBackup": "examples/scheduledbackup/xr-daily.yaml",
}
BINDING_KIND = "XObjectStorageBinding"
MAX_PREFIXES = 10  # the most spec.scopedAccess allows
KMS_KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
COMPOSITE_FINALIZER = "composite.apiextensions.crossplane.io"
CREATED = "2025-01-01T00:00:00Z"
SETTLED = "2025-01-01T00:10:00Z"
# resourceVersions of changed requests start here (the settled state's are below).
CHANGED_VERSION = 100_000

CONNECTION_DETAILS = {
    # Composed kinds whose provider writes a connection Secret, with realistic keys.
    "AccessKey": {
        "username": "AKIAIOSFODNN7EXAMPLE",
        "password": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "attribute.ses_smtp_password_v4": "BExampleSmtpPasswordxxxxxxxxxxxxxxxxxxxxxx",
    },
    "Instance": {
        "username": "klutchadmin",
        "password": "bench-master-password-0123456789",
        "endpoint": "klutch-db.abcdefghijkl.eu-central-1.rds.amazonaws.com:5432",
        "address": "klutch-db.abcdefghijkl.eu-central-1.rds.amazonaws.com",
        "port": "5432",
    },
    "Role": {"username": "app_user", "password": "bench-role-password-0123456789"},
}


# --------------------------------------------------------------------------- subjects


@dataclass
class Subject:
    """One claim to measure: its XR as Crossplane creates it, its Composition, and what the
    cluster holds for its requirements besides the XR itself."""

    label: str
    kind: str
    xr: dict
    composition: dict
    cluster: list[dict]
    observed: list[dict] = field(default_factory=list)  # the example's, if any
    prefixes: int | None = None

    @property
    def function_input(self) -> dict:
        return xrender.function_input(self.composition)


def scoped(n: int) -> list[dict]:
    """``n`` disjoint scoped prefixes with a mix of levels."""
    levels = ("readOnly", "writeOnly", "admin", "listOnly", "readWrite")
    return [
        {"prefix": f"tenants/team-{i:02d}/", "permissions": levels[i % len(levels)]}
        for i in range(n)
    ]


def _kms_bucket(docs: list[dict]) -> list[dict]:
    """The binding's instance encrypted with a managed KMS key (so the policy carries the KMS
    statements), Ready with its ``kmsKeyArn``."""
    out = copy.deepcopy(docs)
    for doc in out:
        if doc.get("kind") == "XObjectStorageInstance":
            params = doc.setdefault("spec", {}).setdefault("parameters", {})
            params["encryption"] = {"type": "kms", "key": {"managed": {}}}
            doc.setdefault("status", {})["kmsKeyArn"] = KMS_KEY_ARN
    return out


def _with_replicas(docs: list[dict]) -> list[dict]:
    """The ServiceBinding's instance with 2 read replicas (the Secret gets the read-only
    endpoints too)."""
    out = copy.deepcopy(docs)
    for doc in out:
        if doc.get("kind") == "XPostgresqlInstance":
            status = doc.setdefault("status", {})
            address = str(status.get("address") or "pg.example.internal")
            host, _, rest = address.partition(".")
            status["replicas"] = 2
            status["readerEndpoints"] = [f"{host}-replica-{i}.{rest}:5432" for i in (1, 2)]
    return out


def _pitr_schedule(xr: dict) -> dict:
    """A ScheduledBackup with continuous backup of this PostgresqlInstance, in its namespace
    (the instance then leaves its automated-backup retention to AWS Backup)."""
    labels = xr["metadata"]["labels"]
    ns, name = labels["crossplane.io/claim-namespace"], labels["crossplane.io/claim-name"]
    doc = xrender.load_all(xrender.ROOT / EXAMPLES["XScheduledBackup"])[0]
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"klutch-bench/{ns}/{name}-pitr"))
    doc["metadata"] = {
        "name": f"{name}-pitr-{uid[:5]}",
        "uid": uid,
        "labels": {
            "crossplane.io/claim-name": f"{name}-pitr",
            "crossplane.io/claim-namespace": ns,
        },
    }
    doc["spec"]["instanceRef"] = name
    doc["spec"]["claimRef"] = {**doc["spec"]["claimRef"], "name": f"{name}-pitr", "namespace": ns}
    return doc


def subjects(prefixes: tuple[int, ...] = ()) -> tuple[list[Subject], list[Subject]]:
    """(one Subject per XR kind, at its largest; the ObjectStorageBinding with each of
    ``prefixes`` scoped prefixes, for the prefix series)."""
    by_path = {ex.name: ex for ex in xrender.examples()}
    main: list[Subject] = []
    series: list[Subject] = []
    for kind, path in EXAMPLES.items():
        ex = by_path[path]
        xr = copy.deepcopy(ex.xr)
        cluster = copy.deepcopy(ex.required)
        claim = kind.removeprefix("X")
        label = claim
        if kind == BINDING_KIND:
            cluster = _kms_bucket(cluster)
            for n in prefixes:
                sxr = copy.deepcopy(xr)
                sxr["spec"]["scopedAccess"] = scoped(n)
                series.append(
                    Subject(f"{claim} {n} prefixes", kind, sxr, ex.composition, cluster, [], n)
                )
            xr["spec"]["scopedAccess"] = scoped(MAX_PREFIXES)
            label = f"{claim} {MAX_PREFIXES} prefixes, KMS bucket"
        elif kind == "XObjectStorageInstance":
            label = f"{claim} managed KMS"
        elif kind == "XPostgresqlInstance":
            cluster.append(_pitr_schedule(xr))
            label = f"{claim} cluster, 2 replicas, managed KMS"
        elif kind == "XServiceBinding":
            cluster = _with_replicas(cluster)
            label = f"{claim} (instance with 2 replicas)"
        elif kind == "XScheduledBackup":
            label = f"{claim} daily + PITR"
        main.append(Subject(label, kind, xr, ex.composition, cluster, copy.deepcopy(ex.observed)))
    return main, series


# --------------------------------------------------------------------------- one step


Exchange = tuple[fnv1.RunFunctionRequest, fnv1.RunFunctionResponse]


def step(call: xfn.Call, subject: Subject, xr: dict, state: fnv1.State) -> list[Exchange]:
    """Every call of one pipeline step for ``state`` (whose composite is ``xr``), as
    Crossplane makes them (``xfn.run_step``): each call's request and response."""
    cluster = [*subject.cluster, xr]

    def fetch(selector: fnv1.ResourceSelector) -> list[dict]:
        return xfn.select(selector, cluster)

    req = xfn.step_request(state, subject.function_input)
    xfn.bootstrap(req, xrender.bootstrap_selectors(subject.composition), fetch)
    calls: list[Exchange] = []
    xfn.run_step(call, req, fetch, on_call=lambda q, r: calls.append((q, r)))
    return calls


def fatal(rsp: fnv1.RunFunctionResponse) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]


def state_of(xr: dict, xr_details: dict[str, bytes], observed: dict[str, dict]) -> fnv1.State:
    """The observed state Crossplane sends: the XR with its connection details, each
    composed resource with the connection details its provider wrote (``observe`` keeps them
    in ``xrender.CONNECTION_ANNOTATION``, as the examples' ``observed.yaml`` do)."""
    state = fnv1.State()
    state.composite.resource.update(xr)
    for k, v in xr_details.items():
        state.composite.connection_details[k] = v
    for name, doc in sorted(observed.items()):
        meta = doc.get("metadata") or {}
        annotations = dict(meta.get("annotations") or {})
        details = annotations.pop(xrender.CONNECTION_ANNOTATION, None)
        target = state.resources[name]
        target.resource.update({**doc, "metadata": {**meta, "annotations": annotations}})
        for k, v in (yaml.safe_load(details) if details else {}).items():
            target.connection_details[k] = str(v).encode()
    return state


def _arn(body: dict, ident: str, region: str) -> str | None:
    group = str(body.get("apiVersion", "")).split("/")[0]
    if not group.endswith(".aws.upbound.io"):
        return None
    service = group.split(".")[0]
    kind = str(body.get("kind", "")).lower()
    if service == "s3":
        return f"arn:aws:s3:::{ident}"
    if service == "iam":
        return f"arn:aws:iam::123456789012:{kind}/{ident}"
    return f"arn:aws:{service}:{region}:123456789012:{kind}/{ident}"


# base64 of a made-up password, as the provider's generator would write one.
_BENCH_PASSWORD = "YmVuY2gtb25seS1wYXNzd29yZC0wMTIzNDU2Nzg5"


def observe(name: str, body: dict, xr: dict) -> dict:
    """The composed resource as Crossplane would observe it once the provider made it."""
    doc = copy.deepcopy(body)
    xr_meta = xr.get("metadata") or {}
    xr_name = str(xr_meta.get("name", "xr"))
    seed = f"klutch-bench/{xr_meta.get('uid', xr_name)}/{name}"
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, seed))
    meta = doc.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    obj_name = f"{xr_name}-{uid[:5]}"
    owner = {
        "apiVersion": xr.get("apiVersion"),
        "kind": xr.get("kind"),
        "name": xr_name,
        "uid": xr_meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    if readiness(Kind(str(doc.get("apiVersion")), str(doc.get("kind")))) == READY_WHEN_EXISTS:
        # Not a managed resource, and no Ready condition (a core Secret has no status at all,
        # a provider-sql ProviderConfig no Ready): only what the API server and Crossplane add.
        # The master Secret holds the password the provider wrote (upjet PasswordGenerator).
        annotations[xrender.NAME_ANNOTATION] = name
        meta.update(
            name=meta.get("name") or obj_name,
            uid=uid,
            resourceVersion="4711",
            creationTimestamp=CREATED,
            annotations=annotations,
            labels={**(meta.get("labels") or {}), **_composite_labels(xr)},
            ownerReferences=[*(meta.get("ownerReferences") or []), owner],
        )
        if name == master_secret.KEY:
            doc.setdefault("data", {})[master_secret.PASSWORD_KEY] = _BENCH_PASSWORD
        return doc
    ident = annotations.get("crossplane.io/external-name") or obj_name
    annotations.setdefault("crossplane.io/external-name", ident)
    annotations[xrender.NAME_ANNOTATION] = name
    annotations["crossplane.io/external-create-succeeded"] = "2025-01-01T00:00:05Z"
    meta.update(
        name=obj_name,
        uid=uid,
        generation=1,
        resourceVersion="4711",
        creationTimestamp=CREATED,
        annotations=annotations,
        labels={**(meta.get("labels") or {}), **_composite_labels(xr)},
        finalizers=["finalizer.managedresource.crossplane.io"],
        ownerReferences=[owner],
    )
    spec = doc.get("spec") or {}
    for_provider = dict(spec.get("forProvider") or {})
    region = str(for_provider.get("region") or "eu-central-1")
    at_provider = {
        k: v for k, v in for_provider.items() if not k.endswith(("Selector", "Ref", "Refs"))
    }
    at_provider["id"] = ident
    arn = _arn(doc, ident, region)
    if arn:
        at_provider["arn"] = arn
    if "tags" in for_provider:
        at_provider["tagsAll"] = for_provider["tags"]
    now = "2025-01-01T00:01:00Z"
    doc["status"] = {
        "atProvider": at_provider,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": now},
            {
                "type": "Synced",
                "status": "True",
                "reason": "ReconcileSuccess",
                "lastTransitionTime": now,
            },
        ],
    }
    details = CONNECTION_DETAILS.get(str(doc.get("kind")))
    if details and "writeConnectionSecretToRef" in spec:
        annotations[xrender.CONNECTION_ANNOTATION] = json.dumps(details)
    return doc


def _overlay(doc: dict, reported: dict | None) -> dict:
    """``doc`` (from ``observe``) with what the example's ``observed.yaml`` says its provider
    reports: annotations (external name, connection details), ``status.atProvider`` fields
    and conditions."""
    if not reported:
        return doc
    out = copy.deepcopy(doc)
    annotations = (reported.get("metadata") or {}).get("annotations") or {}
    out["metadata"]["annotations"].update(annotations)
    status = reported.get("status") or {}
    out["status"]["atProvider"].update(status.get("atProvider") or {})
    conditions = {c["type"]: c for c in out["status"]["conditions"]}
    conditions.update({c["type"]: c for c in status.get("conditions") or []})
    out["status"]["conditions"] = sorted(conditions.values(), key=lambda c: c["type"])
    return out


def _composite_labels(xr: dict) -> dict[str, str]:
    """The labels Crossplane puts on every composed resource
    (``RenderComposedResourceMetadata``)."""
    labels = (xr.get("metadata") or {}).get("labels") or {}
    out = {"crossplane.io/composite": str(xr["metadata"]["name"])}
    for key in ("crossplane.io/claim-name", "crossplane.io/claim-namespace"):
        if key in labels:
            out[key] = labels[key]
    return out


def created(xr: dict) -> dict:
    """The XR as the composite reconciler has it when it first calls the pipeline: claim
    labels, its finalizer and the Composition revision it selected; no status yet."""
    out = copy.deepcopy(xr)
    meta = out["metadata"]
    meta.setdefault("resourceVersion", "1")
    meta.setdefault("generation", 1)
    meta.setdefault("creationTimestamp", CREATED)
    meta["finalizers"] = [COMPOSITE_FINALIZER]
    spec = out["spec"]
    comp = spec["compositionRef"]["name"]
    spec.setdefault("compositionRevisionRef", {"name": f"{comp}-4f2a7c1"})
    spec.setdefault("compositionUpdatePolicy", "Automatic")
    return out


def _condition(typ: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    c = {"type": typ, "status": status, "reason": reason, "lastTransitionTime": SETTLED}
    if message:
        c["message"] = message
    return c


def _after(xr: dict, rsp: fnv1.RunFunctionResponse, observed: dict[str, dict]) -> dict:
    """The XR after Crossplane applied ``rsp``: ``spec.resourceRefs`` (legacy XRs), the
    desired composite status, ``Synced``, ``Ready`` and the function's conditions."""
    out = copy.deepcopy(xr)
    out["spec"]["resourceRefs"] = [
        {"apiVersion": d["apiVersion"], "kind": d["kind"], "name": d["metadata"]["name"]}
        for _, d in sorted(observed.items())
    ]
    status = resource.struct_to_dict(rsp.desired.composite.resource).get("status") or {}
    unready = sorted(n for n, r in rsp.desired.resources.items() if r.ready != fnv1.READY_TRUE)
    conditions = [_condition("Synced", "True", "ReconcileSuccess")]
    if unready:
        msg = "Unready resources: " + ", ".join(unready)
        conditions.append(_condition("Ready", "False", "Creating", msg))
    else:
        conditions.append(_condition("Ready", "True", "Available"))
    names = {fnv1.STATUS_CONDITION_TRUE: "True", fnv1.STATUS_CONDITION_FALSE: "False"}
    for c in rsp.conditions:
        conditions.append(_condition(c.type, names.get(c.status, "Unknown"), c.reason, c.message))
    out["status"] = {**status, "conditions": sorted(conditions, key=lambda c: c["type"])}
    return out


@dataclass
class Settled:
    """A claim at rest: its XR (as in the cluster) and the observed state Crossplane sends."""

    xr: dict
    state: fnv1.State
    calls: int  # per reconcile (required-resources rounds)
    resources: int  # desired composed resources


def settle(subject: Subject, call: xfn.Call = fn.run, rounds: int = 10) -> Settled:
    """Reconcile a new claim until it is at rest: every composed resource the function asks
    for observed Ready (``observe``), the XR's status what the last answer said."""
    xr = created(subject.xr)
    reported = {
        ((d.get("metadata") or {}).get("annotations") or {})[xrender.NAME_ANNOTATION]: d
        for d in subject.observed
    }
    observed: dict[str, dict] = {}
    details: dict[str, bytes] = {}
    for _ in range(rounds):
        state = state_of(xr, details, observed)
        calls = step(call, subject, xr, state)
        rsp = calls[-1][1]
        if fatal(rsp):
            raise RuntimeError(f"{subject.label}: fatal result: {fatal(rsp)}")
        desired = rsp.desired.resources
        new = {
            name: _overlay(
                observe(name, resource.struct_to_dict(r.resource), xr), reported.get(name)
            )
            for name, r in sorted(desired.items())
            if name not in observed
        }
        kept = {n: d for n, d in observed.items() if n in desired}
        nxt = _after(xr, rsp, {**kept, **new})
        nxt_details = dict(rsp.desired.composite.connection_details)
        if not new and len(kept) == len(observed) and nxt == xr and nxt_details == details:
            meta = xr["metadata"]
            meta["resourceVersion"] = str(CHANGED_VERSION - 1)
            return Settled(xr, state_of(xr, details, observed), len(calls), len(desired))
        xr, details, observed = nxt, nxt_details, {**kept, **new}
        xr["metadata"]["resourceVersion"] = str(int(xr["metadata"]["resourceVersion"]) + 1)
    raise RuntimeError(f"{subject.label}: not at rest after {rounds} reconciles")


# --------------------------------------------------------------------------- call pools


@dataclass
class Call:
    """One call of a recorded step: the request's bytes and the function's answer to it."""

    request: bytes
    answer: bytes


@dataclass
class Pool:
    """Recorded reconciles, each the calls of one step, in order."""

    reconciles: list[list[Call]] = field(default_factory=list)

    @property
    def calls(self) -> list[Call]:
        """Every call, as Crossplane makes them."""
        return [c for r in self.reconciles for c in r]

    @property
    def fresh(self) -> list[Call]:
        """The calls whose request the function has not answered before: a round that
        resolves to the very same required resources sends the same request again (same tag,
        same content), which the answer cache answers; those are left out."""
        return [c for r in self.reconciles for c in _fresh(r)]

    def answer_bytes(self) -> int:
        """What the function's answer cache accounts for keeping every distinct answer."""
        return sum(entry_cost(c.answer) for c in self.fresh)


def _fresh(calls: list[Call]) -> list[Call]:
    out: list[Call] = []
    seen: set[bytes] = set()
    for c in calls:
        key = _content(c.request)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _content(data: bytes) -> bytes:
    """The request's deterministic serialization: equal for equal requests."""
    return fnv1.RunFunctionRequest.FromString(data).SerializeToString(deterministic=True)


def record(calls: list[Exchange], label: str) -> list[Call]:
    out = []
    for req, rsp in calls:
        if fatal(rsp):
            raise RuntimeError(f"{label}: fatal result: {fatal(rsp)}")
        out.append(Call(req.SerializeToString(), rsp.SerializeToString()))
    return out


def _meta(obj: Any) -> Any:
    return obj.fields["metadata"].struct_value.fields


def changed(settled: Settled, i: int) -> tuple[dict, fnv1.State]:
    """The settled claim after its ``i``-th status update: the XR and one composed resource
    (in turn) have a new ``resourceVersion`` (unique per ``i``)."""
    version = str(CHANGED_VERSION + i)
    state = fnv1.State()
    state.CopyFrom(settled.state)
    _meta(state.composite.resource)["resourceVersion"].string_value = version
    names = sorted(state.resources)
    if names:
        _meta(state.resources[names[i % len(names)]].resource)[
            "resourceVersion"
        ].string_value = version
    xr = {**settled.xr, "metadata": {**settled.xr["metadata"], "resourceVersion": version}}
    return xr, state


def repeating(call: xfn.Call) -> xfn.Call:
    """``call``, answering a request equal to the previous one with the previous answer (a
    round that resolves to the same required resources repeats its request): only to record
    faster, the function's answer being a function of the request."""
    last: list[tuple[bytes, fnv1.RunFunctionResponse]] = []

    def answer(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        key = req.SerializeToString(deterministic=True)
        if not last or last[0][0] != key:
            last[:] = [(key, call(req))]
        return last[0][1]

    return answer


def changed_pool(
    subject: Subject,
    settled: Settled,
    *,
    start: int = 0,
    min_calls: int = 0,
    min_answer_bytes: int = 0,
    call: xfn.Call = fn.run,
) -> Pool:
    """Changed reconciles from the ``start``-th on, until the pool has ``min_calls`` fresh
    calls and their answers fill ``min_answer_bytes`` of the answer cache."""
    pool = Pool()
    i = start
    n = size = 0
    while n < min_calls or size < min_answer_bytes or not pool.reconciles:
        xr, state = changed(settled, i)
        calls = record(step(repeating(call), subject, xr, state), subject.label)
        pool.reconciles.append(calls)
        fresh = _fresh(calls)
        n += len(fresh)
        size += sum(entry_cost(c.answer) for c in fresh)
        i += 1
    return pool


def cache_pool_bytes(margin: float = 0.15) -> int:
    """Answers enough to overflow the function's default answer cache by ``margin``."""
    return int(DEFAULT_MAX_BYTES * (1 + margin))


def new_claim(subject: Subject, i: int) -> tuple[dict, fnv1.State]:
    """The ``i``-th new claim of this shape (its own name and uid): nothing observed yet."""
    xr = copy.deepcopy(subject.xr)
    meta = xr["metadata"]
    labels = meta["labels"]
    claim = f"{labels['crossplane.io/claim-name']}-n{i}"
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"klutch-bench/new/{subject.label}/{i}"))
    labels["crossplane.io/claim-name"] = claim
    meta["name"] = f"{claim}-{uid[:5]}"
    meta["uid"] = uid
    spec = xr["spec"]
    spec["claimRef"] = {**spec["claimRef"], "name": claim}
    if "writeConnectionSecretToRef" in spec:
        spec["writeConnectionSecretToRef"] = {**spec["writeConnectionSecretToRef"], "name": uid}
    xr = created(xr)
    return xr, state_of(xr, {}, {})


def first_reconciles(subject: Subject, n: int, *, start: int = 0, call: xfn.Call = fn.run) -> Pool:
    """The first reconcile of ``n`` new claims: every call of each."""
    pool = Pool()
    for i in range(start, start + n):
        xr, state = new_claim(subject, i)
        pool.reconciles.append(record(step(call, subject, xr, state), subject.label))
    return pool


def distinct(requests: Iterable[bytes]) -> bool:
    """True when no two requests have the same content (parsed, so byte order of maps
    does not matter)."""
    seen = set()
    for data in requests:
        key = _content(data)
        if key in seen:
            return False
        seen.add(key)
    return True
