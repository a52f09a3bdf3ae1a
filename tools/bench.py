"""``make bench``: the function's cost per reconcile, against a no-op function on the same SDK.

Method (docs/benchmarks.md says more):

1. Requests. Every XR kind that has an example (``tools.xrender.examples()``) gets one
   representative request: the example with the most features (a managed KMS key where there
   is one), rendered in-process until its requirements are resolved (``required.yaml``), then
   given realistic observed state: every composed resource the function asked for comes back
   observed, with server metadata, ``status.atProvider`` (id, arn, the forProvider fields),
   ``Ready``/``Synced`` conditions and, where a Secret is written, connection details.
   ObjectStorageBinding is measured with 10 scoped prefixes, and also with 0, 1 and 5.
2. Servers. The real server (``python -m function.main``) and the no-op function
   (``python -m tools.noop_function``: returns the desired state unchanged, same SDK CLI and
   runtime) are started as processes on 127.0.0.1 and driven over gRPC with the same
   pre-serialized request bytes.
3. Two scenarios per kind: *unchanged* (the same request every call, a claim at rest: the
   function answers from its answer cache) and *changed* (every call a new request with its
   own tag, more of them than the cache keeps: every call is rendered).
4. Figures per kind and scenario, each for both servers, measured alternately so drift and
   noise from other processes hit both alike:
   - start-up: a fresh process per kind and server, from ``Popen`` to the first successful
     call of that kind; then a warm-up and ``VmRSS`` from ``/proc/<pid>/status``;
   - p50/p99 of sequential calls, call by call interleaved between the two servers;
   - throughput with 8 concurrent client threads, in alternating slices.

Never part of ``make test``. Writes ``bench-results/latest.json``, the figures block of
``docs/benchmarks.md`` and ``docs/bench-binding-prefixes.png`` (``--no-docs`` to skip).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import itertools
import json
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python tools/bench.py` from the Makefile
    sys.path.insert(0, str(ROOT))

import google.protobuf  # noqa: E402
import grpc  # noqa: E402
from crossplane.function import resource  # noqa: E402
from crossplane.function.proto.v1 import run_function_pb2 as fnv1  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402

from function import fn  # noqa: E402  (in-process, only to prepare the requests)
from function.cache import DEFAULT_MAX_BYTES, entry_cost  # noqa: E402
from tools import xrender  # noqa: E402
from tools.xfn import crossplane_tag  # noqa: E402

METHOD = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
FUNCTION_MODULE = "function.main"
NOOP_MODULE = "tools.noop_function"
SERVERS = ("function", "noop")
BINDING_KIND = "XObjectStorageBinding"
PREFIX_COUNTS = (0, 1, 5, 10)
# Changed requests beyond what the function's cache holds of their answers (see cache_holds).
CHANGED_MARGIN = 452
SCENARIOS = ("unchanged", "changed")
CONCURRENCY = 8
THROUGHPUT_ROUNDS = 4
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "bench-binding-prefixes.png"
RESULTS = ROOT / "bench-results" / "latest.json"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# The targets.
P99_RATIO_MAX = 1.5
THROUGHPUT_RATIO_MIN = 0.7
STARTUP_MAX_S = 1.0
RSS_EXTRA_MAX_MB = 30.0
PREFIX_RATIO_MAX = 1.3

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


# --------------------------------------------------------------------------- requests


@dataclass
class Case:
    """One request kind to measure."""

    label: str
    kind: str
    request: bytes
    resources: int
    prefixes: int | None = None


def _score(ex: xrender.Example) -> tuple:
    """Prefer the richest example: a managed KMS key, then any KMS, then scoped access."""
    text = json.dumps(ex.xr.get("spec") or {})
    return (
        '"managed"' in text and '"kms"' in text,
        '"kms"' in text,
        "scopedAccess" in text,
        bool(ex.required),
        bool(ex.observed),
        len(text),
        ex.name,
    )


def representative(examples: list[xrender.Example]) -> dict[str, xrender.Example]:
    """XR kind -> its richest example."""
    best: dict[str, xrender.Example] = {}
    for ex in examples:
        kind = str(ex.xr.get("kind"))
        if kind not in best or _score(ex) > _score(best[kind]):
            best[kind] = ex
    return dict(sorted(best.items()))


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
    ident = annotations.get("crossplane.io/external-name") or obj_name
    annotations.setdefault("crossplane.io/external-name", ident)
    annotations[xrender.NAME_ANNOTATION] = name
    annotations["crossplane.io/external-create-succeeded"] = "2025-01-01T00:00:05Z"
    meta.update(
        name=obj_name,
        uid=uid,
        generation=1,
        resourceVersion="4711",
        creationTimestamp="2025-01-01T00:00:00Z",
        annotations=annotations,
        labels={**(xr_meta.get("labels") or {}), "crossplane.io/composite": xr_name},
        finalizers=["finalizer.managedresource.crossplane.io"],
        ownerReferences=[
            {
                "apiVersion": xr.get("apiVersion"),
                "kind": xr.get("kind"),
                "name": xr_name,
                "uid": xr_meta.get("uid", ""),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
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


def _fatal(rsp: fnv1.RunFunctionResponse) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]


def prepare(ex: xrender.Example, xr: dict) -> tuple[fnv1.RunFunctionRequest, int]:
    """A request with resolved requirements and every composed resource observed Ready."""
    fn_input = xrender.function_input(ex.composition)
    observed = list(ex.observed)
    required: dict[str, list[dict]] = {}
    for _ in range(6):
        req = xrender.build_request(xr, fn_input, observed, required)
        rsp = fn.run(req)
        if _fatal(rsp):
            raise RuntimeError(f"{ex.name}: fatal result: {_fatal(rsp)}")
        wanted = {n: xrender.select(s, ex.required) for n, s in rsp.requirements.resources.items()}
        seen = {
            ((d.get("metadata") or {}).get("annotations") or {}).get(xrender.NAME_ANNOTATION)
            for d in observed
        }
        new = [
            observe(name, resource.struct_to_dict(r.resource), xr)
            for name, r in sorted(rsp.desired.resources.items())
            if name not in seen
        ]
        if wanted == required and not new:
            return req, len(rsp.desired.resources)
        required = wanted
        observed += new
    raise RuntimeError(f"{ex.name}: requirements or resources did not settle")


def changed(request: bytes, n: int) -> list[bytes]:
    """``n`` requests as Crossplane sends them after something changed: each time the XR and
    one composed resource (in turn) have a new ``resourceVersion``, as after a status update,
    so each has its own content and tag. More of them than the function keeps answers for,
    so, cycled through, every call is rendered. ``n`` 0: just enough for that."""
    base = fnv1.RunFunctionRequest.FromString(request)
    holds = cache_holds(base)
    n = n or holds + CHANGED_MARGIN
    assert n > holds, f"{n} changed requests, the cache keeps {holds} answers: calls would hit"
    names = sorted(base.observed.resources)
    out = []
    for i in range(n):
        req = fnv1.RunFunctionRequest()
        req.CopyFrom(base)
        version = str(next(_VERSIONS))  # unique in the run: no two phases share a request
        _meta(req.observed.composite.resource)["resourceVersion"].string_value = version
        if names:
            composed = req.observed.resources[names[i % len(names)]].resource
            _meta(composed)["resourceVersion"].string_value = version
        req.meta.tag = crossplane_tag(req)
        out.append(req.SerializeToString())
    return out


_VERSIONS = itertools.count(10_000)


def cache_holds(req: fnv1.RunFunctionRequest) -> int:
    """How many answers of this size the function's default cache (bounded in bytes) keeps."""
    return DEFAULT_MAX_BYTES // entry_cost(fn.run(req).SerializeToString())


def scenario_requests(request: bytes, scenario: str, n: int) -> list[bytes]:
    """What a phase sends: the request itself (unchanged), or ``n`` new changed ones."""
    return [request] if scenario == "unchanged" else changed(request, n)


def _meta(obj) -> Any:
    return obj.fields["metadata"].struct_value.fields


def scoped(n: int) -> list[dict]:
    """``n`` disjoint scoped prefixes with a mix of levels."""
    levels = ("readOnly", "writeOnly", "admin", "listOnly", "readWrite")
    return [
        {"prefix": f"tenants/team-{i:02d}/", "permissions": levels[i % len(levels)]}
        for i in range(n)
    ]


KMS_KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def with_kms_bucket(ex: xrender.Example) -> xrender.Example:
    """The binding's example with its bucket encrypted by a managed KMS key (and Ready)."""
    required = copy.deepcopy(ex.required)
    for doc in required:
        if doc.get("kind") == "XObjectStorageInstance":
            params = doc.setdefault("spec", {}).setdefault("parameters", {})
            params["encryption"] = {"type": "kms", "key": {"managed": {}}}
            doc.setdefault("status", {})["kmsKeyArn"] = KMS_KEY_ARN
    return dataclasses.replace(ex, required=required)


def label(kind: str, xr: dict) -> str:
    claim = kind.removeprefix("X")
    text = json.dumps(xr.get("spec") or {})
    if '"kms"' in text:
        claim += " +KMS" if '"managed"' not in text else " +managed KMS"
    return claim


def cases() -> tuple[list[Case], list[Case], list[str]]:
    """(main cases, binding prefix series, notes about what was skipped)."""
    main: list[Case] = []
    series: list[Case] = []
    notes: list[str] = []
    for kind, ex in representative(xrender.examples()).items():
        if kind not in fn.RENDERERS:
            notes.append(f"{kind}: example exists but no renderer; skipped")
            continue
        try:
            if kind == BINDING_KIND:
                kms_ex = with_kms_bucket(ex)
                for n in PREFIX_COUNTS:
                    xr = copy.deepcopy(kms_ex.xr)
                    xr["spec"]["scopedAccess"] = scoped(n)
                    req, count = prepare(kms_ex, xr)
                    if b"kms:Decrypt" not in fn.run(req).SerializeToString():
                        notes.append(f"{kind} {n} prefixes: the policy has no KMS statement")
                    case = Case(
                        f"{label(kind, xr)} +KMS {n} prefixes",
                        kind,
                        req.SerializeToString(),
                        count,
                        n,
                    )
                    series.append(case)
                main.append(series[-1])
            else:
                req, count = prepare(ex, ex.xr)
                main.append(Case(label(kind, ex.xr), kind, req.SerializeToString(), count))
        except Exception as err:  # noqa: BLE001 - report and measure the rest
            notes.append(f"{kind} ({ex.name}): not measured: {err}")
    return main, series, notes


# --------------------------------------------------------------------------- servers


Call = Callable[[bytes], bytes]


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    address: str
    channel: grpc.Channel
    call: Call
    startup_s: float
    stderr: list[str] = field(default_factory=list)

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = int(re.search(r"^VmRSS:\s+(\d+) kB", text, re.M).group(1))
        return kb / 1024


def _drain(proc: subprocess.Popen, sink: list[str]) -> None:
    # The server's stderr is a pipe: keep reading it so the server never blocks on logging.
    for line in iter(proc.stderr.readline, b""):
        sink.append(line.decode(errors="replace").rstrip())
        del sink[:-20]


def _wait_port(address: str, proc: subprocess.Popen, deadline: float) -> None:
    host, port = address.rsplit(":", 1)
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


@contextlib.contextmanager
def start(name: str, module: str, first: bytes) -> Iterator[Server]:
    """Start a server; start-up = Popen to the first successful call with ``first``."""
    with contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        address, proc = stack.enter_context(xrender.serve(module=module))
        sink: list[str] = []
        threading.Thread(target=_drain, args=(proc, sink), daemon=True).start()
        _wait_port(address, proc, time.monotonic() + 30)
        channel = stack.enter_context(grpc.insecure_channel(address))
        raw = channel.unary_unary(METHOD)  # bytes in, bytes out: the client does no protobuf

        def call(data: bytes, raw=raw) -> bytes:
            return raw(data, timeout=30)

        out = raw(first, timeout=30, wait_for_ready=True)
        startup = time.perf_counter() - t0
        rsp = fnv1.RunFunctionResponse.FromString(out)
        if _fatal(rsp):
            raise RuntimeError(f"{name}: fatal result on first call: {_fatal(rsp)}")
        yield Server(name, proc, address, channel, call, startup, sink)


# --------------------------------------------------------------------------- measurements


def percentile(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


# (name, server, requests): a lane sends its requests in turn, cycling.
Lane = tuple[str, Server, list[bytes]]


def sequential(lanes: list[Lane], n: int) -> dict[str, dict]:
    """p50/p99 in ms per lane, call by call alternating between lanes."""
    warmup = max(20, n // 20)
    for i in range(warmup):
        for _, server, data in lanes:
            server.call(data[i % len(data)])
    times: dict[str, list[float]] = {name: [] for name, _, _ in lanes}
    clock = time.perf_counter
    for i in range(warmup, warmup + n):
        for name, server, data in lanes if i % 2 else reversed(lanes):
            request = data[i % len(data)]
            t = clock()
            server.call(request)
            times[name].append(clock() - t)
    return {
        name: {"p50_ms": percentile(t, 50) * 1e3, "p99_ms": percentile(t, 99) * 1e3}
        for name, t in times.items()
    }


def _burst(
    server: Server, data: list[bytes], turn: Iterator[int], seconds: float
) -> tuple[int, float]:
    """``turn`` is shared by the threads and kept across slices: the requests in turn."""
    stop = threading.Event()
    counts = [0] * CONCURRENCY
    barrier = threading.Barrier(CONCURRENCY + 1)

    def worker(i: int) -> None:
        barrier.wait()
        while not stop.is_set():
            server.call(data[next(turn) % len(data)])
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENCY)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - t0


def throughput(servers: dict[str, Server], data: list[bytes], seconds: float) -> dict[str, dict]:
    """Calls per second with CONCURRENCY client threads: ``seconds`` per server, in short
    slices A B B A A B B A, so load from other processes hits both servers alike; and the
    server's CPU time per call meanwhile (steadier than calls/s on a shared machine)."""
    done = {name: 0 for name in servers}
    spent = {name: 0.0 for name in servers}
    cpu = {name: 0.0 for name in servers}
    names = list(servers)
    turns = {name: itertools.count() for name in servers}
    order = [*names, *reversed(names)] * THROUGHPUT_ROUNDS
    for name in order:
        c0 = servers[name].cpu_s()
        n, t = _burst(servers[name], data, turns[name], seconds / (2 * THROUGHPUT_ROUNDS))
        cpu[name] += servers[name].cpu_s() - c0
        done[name] += n
        spent[name] += t
    return {
        name: {"rps": done[name] / spent[name], "cpu_us": cpu[name] / done[name] * 1e6}
        for name in servers
    }


def cold(case: Case, warmup: int, starts: int) -> dict[str, dict]:
    """Fresh processes: start-up to the first call of this kind (median of ``starts``,
    alternating servers), RSS after warm-up (of the last process)."""
    startup: dict[str, list[float]] = {name: [] for name in SERVERS}
    rss: dict[str, float] = {}
    modules = {"function": FUNCTION_MODULE, "noop": NOOP_MODULE}
    for i in range(starts):
        for name in reversed(SERVERS) if i % 2 else SERVERS:
            with start(name, modules[name], case.request) as server:
                startup[name].append(server.startup_s)
                if i == starts - 1:
                    for _ in range(warmup):
                        server.call(case.request)
                    rss[name] = server.rss_mb()
    return {
        name: {"startup_s": percentile(startup[name], 50), "rss_mb": rss[name]} for name in SERVERS
    }


# --------------------------------------------------------------------------- report


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def table(rows: list[dict], scenario: str) -> str:
    head = (
        f"| kind ({scenario}) | res | p50 ms fn / noop | p99 ms fn / noop (x) "
        "| calls/s fn / noop (x) | server CPU µs/call fn / noop |"
    )
    lines = [head, "|" + "---|" * 6]
    for r in rows:
        f, o = r[scenario]["function"], r[scenario]["noop"]
        lines.append(
            f"| {r['label']} | {r['resources']} "
            f"| {f['p50_ms']:.2f} / {o['p50_ms']:.2f} "
            f"| {f['p99_ms']:.2f} / {o['p99_ms']:.2f} ({ratio(f['p99_ms'], o['p99_ms']):.2f}) "
            f"| {f['rps']:.0f} / {o['rps']:.0f} ({ratio(f['rps'], o['rps']):.2f}) "
            f"| {f['cpu_us']:.0f} / {o['cpu_us']:.0f} |"
        )
    return "\n".join(lines)


def process_table(rows: list[dict]) -> str:
    lines = [
        "| kind | request KB | start-up s fn / noop | RSS MB fn / noop (+MB) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        f, o = r["function"], r["noop"]
        lines.append(
            f"| {r['label']} | {r['bytes'] / 1024:.1f} "
            f"| {f['startup_s']:.2f} / {o['startup_s']:.2f} "
            f"| {f['rss_mb']:.1f} / {o['rss_mb']:.1f} (+{f['rss_mb'] - o['rss_mb']:.1f}) |"
        )
    return "\n".join(lines)


def series_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    base = rows[0]["function"]["p50_ms"]
    base99 = rows[0]["function"]["p99_ms"]
    lines = [
        "| ObjectStorageBinding scoped prefixes | p50 ms | p99 ms | vs 0 prefixes p50 (p99) "
        "| no-op p50 / p99 ms |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        f, o = r["function"], r["noop"]
        lines.append(
            f"| {r['prefixes']} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} "
            f"| {ratio(f['p50_ms'], base):.2f} ({ratio(f['p99_ms'], base99):.2f}) "
            f"| {o['p50_ms']:.2f} / {o['p99_ms']:.2f} |"
        )
    return "\n".join(lines)


def checks(
    rows: list[dict], series: list[dict], forbidden: list[str], warm: dict[str, float]
) -> list[tuple[bool, str]]:
    out = [
        (
            not forbidden,
            f"run-time import graph has none of {', '.join(NOT_AT_RUN_TIME)}"
            + (f" (found: {', '.join(forbidden)})" if forbidden else ""),
        )
    ]
    for r in rows:
        name = r["label"]
        for scenario in SCENARIOS:
            f, o = r[scenario]["function"], r[scenario]["noop"]
            p99, rps = ratio(f["p99_ms"], o["p99_ms"]), ratio(f["rps"], o["rps"])
            out.append(
                (
                    p99 <= P99_RATIO_MAX,
                    f"{name}, {scenario}: p99 {p99:.2f}x no-op (<= {P99_RATIO_MAX})",
                )
            )
            out.append(
                (
                    rps >= THROUGHPUT_RATIO_MIN,
                    f"{name}, {scenario}: throughput {rps:.2f}x no-op (>= {THROUGHPUT_RATIO_MIN})",
                )
            )
        f, o = r["function"], r["noop"]
        out.append(
            (
                f["startup_s"] <= STARTUP_MAX_S,
                f"{name}: start-up {f['startup_s']:.2f} s (<= {STARTUP_MAX_S})",
            )
        )
        extra = f["rss_mb"] - o["rss_mb"]
        out.append(
            (extra <= RSS_EXTRA_MAX_MB, f"{name}: RSS +{extra:.1f} MB (<= +{RSS_EXTRA_MAX_MB})")
        )
    extra = warm["function"] - warm["noop"]
    out.append(
        (
            extra <= RSS_EXTRA_MAX_MB,
            f"long-running server after every kind (answer cache full): RSS +{extra:.1f} MB "
            f"(<= +{RSS_EXTRA_MAX_MB})",
        )
    )
    by = {r["prefixes"]: r["function"] for r in series}
    if 0 in by and 10 in by:
        x = ratio(by[10]["p50_ms"], by[0]["p50_ms"])
        x99 = ratio(by[10]["p99_ms"], by[0]["p99_ms"])
        out.append(
            (
                x <= PREFIX_RATIO_MAX,
                f"binding 10 vs 0 prefixes, changed: {x:.2f}x at p50 ({x99:.2f}x at p99) "
                f"(<= {PREFIX_RATIO_MAX})",
            )
        )
    return out


# Test and tool dependencies that must never be in the server's import graph.
NOT_AT_RUN_TIME = ("boto3", "botocore", "moto", "hypothesis", "yaml", "jsonschema", "matplotlib")


def runtime_imports() -> list[str]:
    """The forbidden top-level packages a fresh ``import function.main`` pulls in."""
    code = (
        "import sys, function.main; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return [m for m in NOT_AT_RUN_TIME if m in out]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = m.group(1).strip() if m else cpu
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "protobuf": f"{google.protobuf.__version__} ({api_implementation.Type()})",
        "load_before": os.getloadavg()[0],
    }


def plot(rows: list[dict], series: list[dict], path: Path) -> str:
    try:
        import matplotlib  # noqa: PLC0415 - optional, the bench extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return "matplotlib is not installed (make bench installs the bench extra): no plot"
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if series:
        xs = [r["prefixes"] for r in series]
        p50 = [r["function"]["p50_ms"] for r in series]
        p99 = [r["function"]["p99_ms"] for r in series]
        ax.plot(xs, p50, "-o", label="function p50")
        ax.plot(xs, p99, "-o", alpha=0.6, label="function p99")
        ax.axhline(series[0]["noop"]["p50_ms"], ls="--", color="grey", label="no-op p50")
        for x, y in zip(xs, p50, strict=True):
            ax.annotate(f"{y / p50[0]:.2f}x", (x, y), textcoords="offset points", xytext=(0, 8))
        ax.set_ylim(0, max(p99) * 1.25)
        ax.set_xticks(xs)
        ax.set_xlabel("scoped prefixes in the ObjectStorageBinding (labels: p50 vs 0 prefixes)")
        ax.set_title("ObjectStorageBinding: latency per RunFunction vs scoped prefixes")
    else:
        labels = [r["label"] for r in rows]
        xs = range(len(rows))
        w = 0.2
        for i, (server, q) in enumerate(
            [("function", "p50_ms"), ("function", "p99_ms"), ("noop", "p50_ms"), ("noop", "p99_ms")]
        ):
            ax.bar(
                [x + (i - 1.5) * w for x in xs],
                [r["changed"][server][q] for r in rows],
                w,
                label=f"{server} {q.removesuffix('_ms')}",
            )
        ax.set_xticks(list(xs), labels, rotation=15, fontsize=8)
        ax.set_title("Latency per request kind (no ObjectStorageBinding yet)")
    ax.set_ylabel("ms per call (sequential, gRPC on 127.0.0.1)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return f"wrote {path.relative_to(ROOT)}"


def write_docs(text: str) -> None:
    if not DOCS.exists():
        return
    doc = DOCS.read_text()
    if BEGIN not in doc or END not in doc:
        return
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


# --------------------------------------------------------------------------- main


UNCHANGED_TEXT = (
    "**Unchanged claim**: the same request on every call, as Crossplane sends it for a claim "
    "at rest on every poll. The function answers it from its answer cache (by request content)."
)
CHANGED_TEXT = (
    "**Changed claim**: every call a new request (the XR and one composed resource have a new "
    "resourceVersion, so a new tag): decoded, validated, rendered and encoded every time."
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1500, help="sequential calls per kind/server")
    ap.add_argument("--seconds", type=float, default=2.0, help="throughput time per kind/server")
    ap.add_argument("--warmup", type=int, default=200, help="calls before reading RSS")
    ap.add_argument("--starts", type=int, default=3, help="fresh starts per kind/server")
    ap.add_argument(
        "--changed",
        type=int,
        default=0,
        help="distinct changed requests per kind (default: more than the cache holds)",
    )
    ap.add_argument("--kinds", default="", help="comma-separated XR kinds to measure (default all)")
    ap.add_argument("--no-docs", action="store_true", help="don't update docs/ (plot, figures)")
    args = ap.parse_args(argv)

    t_run = time.monotonic()
    info = machine()
    main_cases, series_cases, notes = cases()
    if args.kinds:
        wanted = set(args.kinds.split(","))
        main_cases = [c for c in main_cases if c.kind in wanted]
        series_cases = [c for c in series_cases if c.kind in wanted]
    if not main_cases:
        print("nothing to measure:", *notes, sep="\n  ")
        return 1
    print(f"machine: {info}")
    print("kinds:", ", ".join(f"{c.label} ({len(c.request)} B)" for c in main_cases))

    rows: list[dict] = []
    for case in main_cases:
        rows.append(
            {
                "label": case.label,
                "kind": case.kind,
                "resources": case.resources,
                "bytes": len(case.request),
                **cold(case, args.warmup, args.starts),
            }
        )
    series_rows: list[dict] = []
    first = main_cases[0].request
    with (
        start("function", FUNCTION_MODULE, first) as f_server,
        start("noop", NOOP_MODULE, first) as n_server,
    ):
        servers = {"function": f_server, "noop": n_server}
        for row, case in zip(rows, main_cases, strict=True):
            for scenario in SCENARIOS:
                # Both servers get the same requests, in the same order; new ones per phase.
                data = scenario_requests(case.request, scenario, args.changed)
                seq = sequential([(n, s, data) for n, s in servers.items()], args.calls)
                data = scenario_requests(case.request, scenario, args.changed)
                tput = throughput(servers, data, args.seconds)
                row[scenario] = {name: {**seq[name], **tput[name]} for name in SERVERS}
            print(f"  {case.label}: done", flush=True)
        if series_cases:  # every prefix count in one interleaved loop, so they compare
            lanes = [
                (str(c.prefixes), f_server, changed(c.request, args.changed)) for c in series_cases
            ]
            lanes.append(("noop", n_server, lanes[-1][2]))
            seq = sequential(lanes, args.calls)
            series_rows = [
                {"prefixes": c.prefixes, "function": seq[str(c.prefixes)], "noop": seq["noop"]}
                for c in series_cases
            ]
            print("  binding prefix series: done", flush=True)
        warm = {name: s.rss_mb() for name, s in servers.items()}

    info["load_after"] = os.getloadavg()[0]
    results = checks(rows, series_rows, runtime_imports(), warm)
    text = "\n\n".join(
        part
        for part in (
            f"Measured {time.strftime('%Y-%m-%d')} on {info['nproc']} x {info['cpu']}, "
            f"Python {info['python']}, grpcio {info['grpcio']}, protobuf {info['protobuf']}; "
            f"load average {info['load_before']:.2f} before, {info['load_after']:.2f} after. "
            f"{args.calls} sequential calls per kind and server, {CONCURRENCY} client threads "
            f"for {args.seconds:.1f} s per kind and server, start-up the median of "
            f"{args.starts} fresh starts.",
            UNCHANGED_TEXT,
            table(rows, "unchanged"),
            CHANGED_TEXT,
            table(rows, "changed"),
            process_table(rows),
            series_table(series_rows),
            f"RSS of the long-running servers after every kind: function {warm['function']:.1f} "
            f"MB, no-op {warm['noop']:.1f} MB (+{warm['function'] - warm['noop']:.1f} MB).",
            "Targets:\n\n" + "\n".join(f"- {'PASS' if ok else 'FAIL'} {m}" for ok, m in results),
            "\n".join(f"- {n}" for n in notes),
        )
        if part
    )
    print()
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": info, "rows": rows, "series": series_rows, "warm_rss_mb": warm}, indent=2
        )
    )
    if not args.no_docs and not args.kinds:
        print(plot(rows, series_rows, PLOT))
        write_docs(text)
    print(f"\nbench took {time.monotonic() - t_run:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
