"""``make bench``: the function's cost per reconcile under Crossplane's request flow, against a
no-op function on the same SDK, in one interleaved run.

Method (docs/benchmarks.md says more):

1. Requests (``tools/bench_flow.py``). Every XR kind at its largest, each request out of
   Crossplane's request flow for one pipeline step (``tools/xfn.py``: tag once per step, one
   call per required-resources round until the requirements settle), with realistic observed
   state and the required resources a control plane fetches. *Changed*: a claim at rest after
   a status update, every reconcile a request the function never answered, more of them than
   its answer cache holds. *First reconcile*: a new claim, nothing observed, all its calls.
2. Servers. The real server (``python -m function.main``) and the no-op function
   (``python -m tools.noop_function``) as processes on 127.0.0.1, sent the same recorded
   request bytes over gRPC, call by call (or slice by slice) interleaved. Every answer of the
   function is checked against the in-process answer to the same request (no fatal result, the
   same response), and one changed and one first reconcile per kind are run live through
   ``xfn.run_step`` against the server, to check that the recorded calls are the ones Crossplane
   makes.
3. Figures per kind: p50/p99 of sequential changed calls; throughput with 8 client threads;
   the first reconcile's total; start-up (``Popen`` to the first successful call); ``VmRSS``
   after warm-up and with the answer cache filled to its bound. Each against the no-op, with
   the issue's targets checked.

Never part of ``make test``; a missed target is reported, not an error. Exit status 1 only on
errors (a fatal result or a wrong answer where the function must render, a server that fails).
Writes ``bench-results/latest.json`` and, unless ``--no-docs`` or ``--kinds``, the figures block
of ``docs/benchmarks.md`` and ``docs/bench-binding-prefixes.png``. ``--quick``: the same
measurements, fewer of them (a minute or two), for repeated runs while optimising.
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python tools/bench.py` from the Makefile
    sys.path.insert(0, str(ROOT))

import google.protobuf  # noqa: E402
import grpc  # noqa: E402
from crossplane.function.proto.v1 import run_function_pb2 as fnv1  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402

from function.cache import DEFAULT_MAX_BYTES  # noqa: E402
from tools import bench_flow as flow  # noqa: E402
from tools import xrender  # noqa: E402
from tools.proc import cpu_s, rss_mb  # noqa: E402

METHOD = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
FUNCTION_MODULE = "function.main"
NOOP_MODULE = "tools.noop_function"
MODULES = {"function": FUNCTION_MODULE, "noop": NOOP_MODULE}
SERVERS = ("function", "noop")
PREFIX_COUNTS = (0, 1, 5, 10)
CONCURRENCY = 8
THROUGHPUT_ROUNDS = 4
# The live check's claims: far from the measured ones, so the answer cache never meets them.
LIVE = 10**9
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "bench-binding-prefixes.png"
RESULTS = ROOT / "bench-results" / "latest.json"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# The issue's targets.
P99_RATIO_MAX = 1.5
THROUGHPUT_RATIO_MIN = 0.7
FIRST_RATIO_MAX = 2.0
STARTUP_MAX_S = 1.0
RSS_EXTRA_MAX_MB = 30.0
PREFIX_RATIO_MAX = 1.3

# Run sizes: (full, --quick).
SIZES = {
    "calls": (5000, 600),
    "seconds": (5.0, 1.0),
    "reconciles": (500, 100),
    "starts": (5, 1),
    "warmup": (200, 100),
}
SERIES_CALLS_MAX = 2000  # per prefix count


class BenchError(RuntimeError):
    """Something that makes the figures meaningless: not a missed target."""


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
        return cpu_s(self.proc.pid)

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def message_call(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        """A call with messages, for ``xfn.run_step``."""
        return fnv1.RunFunctionResponse.FromString(self.call(req.SerializeToString()))


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
                raise BenchError(f"server exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


@contextlib.contextmanager
def start(name: str, first: bytes) -> Iterator[Server]:
    """Start a server; start-up = Popen to the first successful call with ``first``."""
    with contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        address, proc = stack.enter_context(xrender.serve(module=MODULES[name]))
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
        if flow.fatal(rsp):
            raise BenchError(f"{name}: fatal result on first call: {flow.fatal(rsp)}")
        yield Server(name, proc, address, channel, call, startup, sink)


@contextlib.contextmanager
def pair(first: bytes) -> Iterator[dict[str, Server]]:
    with start("function", first) as f_server, start("noop", first) as n_server:
        yield {"function": f_server, "noop": n_server}


# --------------------------------------------------------------------------- answers


class Answers:
    """The function's answers as they came over gRPC, checked after the timing against the
    in-process answer to the same request: no fatal result, the same response."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.checked = 0
        self.wrong: list[str] = []
        self._pending: list[tuple[bytes, flow.Call]] = []

    def add(self, got: bytes, call: flow.Call) -> None:
        self._pending.append((got, call))

    def check(self) -> None:
        for got, call in self._pending:
            rsp = fnv1.RunFunctionResponse.FromString(got)
            if flow.fatal(rsp):
                self.wrong.append(f"fatal result: {flow.fatal(rsp)}")
            elif rsp != fnv1.RunFunctionResponse.FromString(call.answer):
                self.wrong.append("answer differs from the in-process answer to that request")
            self.checked += 1
        self._pending.clear()
        if self.wrong:
            raise BenchError(
                f"{self.label}: {len(self.wrong)} of {self.checked} answers wrong, "
                f"e.g. {self.wrong[0]}"
            )


def live_check(server: Server, subject: flow.Subject, settled: flow.Settled) -> int:
    """Run one changed and one first reconcile live through ``xfn.run_step`` against the
    server: the requests must be the ones recorded in-process (so replaying the recorded bytes
    is what Crossplane would send), and so must the answers. Returns the calls checked."""
    n = 0
    for xr, state in (flow.changed(settled, LIVE), flow.new_claim(subject, LIVE)):
        live = flow.step(server.message_call, subject, xr, state)
        recorded = flow.step(flow.fn.run, subject, xr, state)
        if len(live) != len(recorded):
            raise BenchError(f"{subject.label}: {len(live)} calls live, {len(recorded)} in-process")
        for (lq, lr), (rq, rr) in zip(live, recorded, strict=True):
            if lq != rq or lr != rr:
                raise BenchError(f"{subject.label}: a live call differs from the recorded one")
            n += 1
    return n


# --------------------------------------------------------------------------- measurements


def percentile(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def sequential(
    servers: dict[str, Server], calls: list[flow.Call], n: int, answers: Answers, offset: int = 0
) -> dict[str, dict]:
    """p50/p99 in ms per server, call by call alternating between the servers, each sent the
    calls in turn from ``offset`` (cycling)."""
    warmup = max(20, n // 20)
    order = list(servers.items())
    for i in range(offset, offset + warmup):
        for _, server in order:
            server.call(calls[i % len(calls)].request)
    times: dict[str, list[float]] = {name: [] for name in servers}
    clock = time.perf_counter
    for i in range(offset + warmup, offset + warmup + n):
        call = calls[i % len(calls)]
        for name, server in order if i % 2 else reversed(order):
            t = clock()
            got = server.call(call.request)
            times[name].append(clock() - t)
            if name == "function":
                answers.add(got, call)
    return {
        name: {"p50_ms": percentile(t, 50) * 1e3, "p99_ms": percentile(t, 99) * 1e3, "n": len(t)}
        for name, t in times.items()
    }


def _burst(
    server: Server, data: list[bytes], turn: Iterator[int], seconds: float
) -> tuple[int, float]:
    """``turn`` is shared by the threads and kept across slices: the requests in turn."""
    stop = threading.Event()
    counts = [0] * CONCURRENCY
    barrier = threading.Barrier(CONCURRENCY + 1)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            while not stop.is_set():
                server.call(data[next(turn) % len(data)])
                counts[i] += 1
        except grpc.RpcError as err:  # reported after the slice
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENCY)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    if errors:
        raise BenchError(f"{server.name}: {errors[0]}")
    return sum(counts), time.perf_counter() - t0


def throughput(
    servers: dict[str, Server], data: list[bytes], seconds: float, offset: int = 0
) -> dict[str, dict]:
    """Calls per second with CONCURRENCY client threads: ``seconds`` per server, in short
    slices A B B A A B B A, so load from other processes hits both servers alike; and the
    server's CPU time per call meanwhile (steadier than calls/s on a shared machine). Each
    server is sent ``data`` in turn from ``offset`` (cycling)."""
    done = {name: 0 for name in servers}
    spent = {name: 0.0 for name in servers}
    cpu = {name: 0.0 for name in servers}
    names = list(servers)
    turns = {name: itertools.count(offset) for name in servers}
    order = [*names, *reversed(names)] * THROUGHPUT_ROUNDS
    for name in order:
        c0 = servers[name].cpu_s()
        n, t = _burst(servers[name], data, turns[name], seconds / (2 * THROUGHPUT_ROUNDS))
        cpu[name] += servers[name].cpu_s() - c0
        done[name] += n
        spent[name] += t
    return {
        name: {
            "rps": done[name] / spent[name],
            "cpu_us": cpu[name] / done[name] * 1e6,
            "calls": done[name],
        }
        for name in servers
    }


def first_reconciles(
    servers: dict[str, Server], pool: flow.Pool, warmup: int, answers: Answers
) -> dict[str, dict]:
    """Each new claim's first reconcile (all its calls, one after the other) on both servers,
    alternating which goes first: the total per reconcile, median and p99 in ms."""
    totals: dict[str, list[float]] = {name: [] for name in servers}
    order = list(servers.items())
    clock = time.perf_counter
    for j, reconcile in enumerate(pool.reconciles):
        for name, server in order if j % 2 else reversed(order):
            got = []
            t = clock()
            for call in reconcile:
                got.append(server.call(call.request))
            dt = clock() - t
            if j >= warmup:
                totals[name].append(dt)
            if name == "function":
                for g, call in zip(got, reconcile, strict=True):
                    answers.add(g, call)
    return {
        name: {
            "p50_ms": percentile(t, 50) * 1e3,
            "p99_ms": percentile(t, 99) * 1e3,
            "n": len(t),
        }
        for name, t in totals.items()
    }


def processes(subject: flow.Subject, pool: flow.Pool, args: argparse.Namespace) -> dict:
    """Fresh servers for this kind: start-up (Popen to the first successful call, median of
    ``starts``, alternating servers); on the last pair, ``VmRSS`` after ``warmup`` changed
    calls, then after the rest of the pool (the function's answer cache then at its bound:
    the pool's answers exceed it), each server sent the same calls."""
    calls = pool.fresh
    first = pool.reconciles[0][-1].request
    startup: dict[str, list[float]] = {name: [] for name in SERVERS}
    out: dict[str, dict] = {name: {} for name in SERVERS}
    answers = Answers(f"{subject.label} (fresh server)")
    for i in range(args.starts - 1):
        for name in reversed(SERVERS) if i % 2 else SERVERS:
            with start(name, first) as server:
                startup[name].append(server.startup_s)
    with pair(first) as servers:  # the last start of each, then the memory figures
        for name in SERVERS:
            startup[name].append(servers[name].startup_s)
        phases = (("warm", calls[: args.warmup]), ("full", calls[args.warmup :]))
        for phase, part in phases if args.fill else phases[:1]:
            for j, call in enumerate(part):
                for name, server in servers.items() if j % 2 else reversed(servers.items()):
                    got = server.call(call.request)
                    if name == "function":
                        answers.add(got, call)
            for name, server in servers.items():
                out[name][f"rss_{phase}_mb"] = server.rss_mb()
    answers.check()
    for name in SERVERS:
        out[name]["startup_s"] = percentile(startup[name], 50)
    out["filled_bytes"] = pool.answer_bytes() if args.fill else 0
    out["checked"] = answers.checked
    return out


# --------------------------------------------------------------------------- report


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def changed_table(rows: list[dict]) -> str:
    lines = [
        "| kind | res | calls per reconcile (fresh) | request KB | p50 ms fn / no-op "
        "| p99 ms fn / no-op (x) | calls/s fn / no-op (x) | server CPU µs/call fn / no-op |",
        "|" + "---|" * 8,
    ]
    for r in rows:
        f, o = r["changed"]["function"], r["changed"]["noop"]
        lines.append(
            f"| {r['label']} | {r['resources']} | {r['calls']} ({r['fresh']}) "
            f"| {r['request_kb']:.1f} "
            f"| {f['p50_ms']:.2f} / {o['p50_ms']:.2f} "
            f"| {f['p99_ms']:.2f} / {o['p99_ms']:.2f} ({ratio(f['p99_ms'], o['p99_ms']):.2f}) "
            f"| {f['rps']:.0f} / {o['rps']:.0f} ({ratio(f['rps'], o['rps']):.2f}) "
            f"| {f['cpu_us']:.0f} / {o['cpu_us']:.0f} |"
        )
    return "\n".join(lines)


def first_table(rows: list[dict]) -> str:
    lines = [
        "| kind | calls | total ms, median fn / no-op (x) | total ms, p99 fn / no-op |",
        "|---|---|---|---|",
    ]
    for r in rows:
        f, o = r["first"]["function"], r["first"]["noop"]
        lines.append(
            f"| {r['label']} | {r['first_calls']} "
            f"| {f['p50_ms']:.2f} / {o['p50_ms']:.2f} ({ratio(f['p50_ms'], o['p50_ms']):.2f}) "
            f"| {f['p99_ms']:.2f} / {o['p99_ms']:.2f} |"
        )
    return "\n".join(lines)


def process_table(rows: list[dict]) -> str:
    lines = [
        "| kind | start-up s fn / no-op | RSS MB after warm-up fn / no-op (+MB) "
        "| RSS MB, answer cache full, fn / no-op (+MB) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        f, o = r["process"]["function"], r["process"]["noop"]
        full = "not measured"
        if "rss_full_mb" in f:
            full = (
                f"{f['rss_full_mb']:.1f} / {o['rss_full_mb']:.1f} "
                f"(+{f['rss_full_mb'] - o['rss_full_mb']:.1f})"
            )
        lines.append(
            f"| {r['label']} | {f['startup_s']:.2f} / {o['startup_s']:.2f} "
            f"| {f['rss_warm_mb']:.1f} / {o['rss_warm_mb']:.1f} "
            f"(+{f['rss_warm_mb'] - o['rss_warm_mb']:.1f}) | {full} |"
        )
    return "\n".join(lines)


TARGETS = (
    ("p99", f"p99 <= {P99_RATIO_MAX}x"),
    ("throughput", f"throughput >= {THROUGHPUT_RATIO_MIN}x"),
    ("first", f"first reconcile <= {FIRST_RATIO_MAX}x"),
    ("startup", f"start-up <= {STARTUP_MAX_S:.0f} s"),
    ("rss", f"RSS <= +{RSS_EXTRA_MAX_MB:.0f} MB"),
    ("rss_full", f"RSS, cache full, <= +{RSS_EXTRA_MAX_MB:.0f} MB"),
)


def verdicts(r: dict) -> dict[str, tuple[bool, str] | None]:
    """Each target of the issue for one kind: (met, the figure), or None if not measured."""
    c, p = r["changed"], r["process"]
    p99 = ratio(c["function"]["p99_ms"], c["noop"]["p99_ms"])
    rps = ratio(c["function"]["rps"], c["noop"]["rps"])
    first = ratio(r["first"]["function"]["p50_ms"], r["first"]["noop"]["p50_ms"])
    start = p["function"]["startup_s"]
    rss = p["function"]["rss_warm_mb"] - p["noop"]["rss_warm_mb"]
    out: dict[str, tuple[bool, str] | None] = {
        "p99": (p99 <= P99_RATIO_MAX, f"{p99:.2f}x"),
        "throughput": (rps >= THROUGHPUT_RATIO_MIN, f"{rps:.2f}x"),
        "first": (first <= FIRST_RATIO_MAX, f"{first:.2f}x"),
        "startup": (start <= STARTUP_MAX_S, f"{start:.2f} s"),
        "rss": (rss <= RSS_EXTRA_MAX_MB, f"+{rss:.1f} MB"),
        "rss_full": None,
    }
    if "rss_full_mb" in p["function"]:
        full = p["function"]["rss_full_mb"] - p["noop"]["rss_full_mb"]
        out["rss_full"] = (full <= RSS_EXTRA_MAX_MB, f"+{full:.1f} MB")
    return out


def target_table(rows: list[dict]) -> str:
    lines = [
        "| kind | " + " | ".join(t for _, t in TARGETS) + " |",
        "|" + "---|" * (len(TARGETS) + 1),
    ]
    for r in rows:
        cells = []
        for key, _ in TARGETS:
            v = r["verdicts"][key]
            cells.append("n/a" if v is None else f"{'PASS' if v[0] else '**FAIL**'} {v[1]}")
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def series_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    base = rows[0]["function"]["p50_ms"]
    base99 = rows[0]["function"]["p99_ms"]
    lines = [
        "| ObjectStorageBinding scoped prefixes (changed calls) | p50 ms | p99 ms "
        "| vs 0 prefixes p50 (p99) | no-op p50 / p99 ms |",
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


def other_checks(series: list[dict], forbidden: list[str]) -> list[tuple[bool, str]]:
    out = [
        (
            not forbidden,
            f"run-time import graph has none of {', '.join(NOT_AT_RUN_TIME)}"
            + (f" (found: {', '.join(forbidden)})" if forbidden else ""),
        )
    ]
    by = {r["prefixes"]: r["function"] for r in series}
    if 0 in by and 10 in by:
        x = ratio(by[10]["p50_ms"], by[0]["p50_ms"])
        x99 = ratio(by[10]["p99_ms"], by[0]["p99_ms"])
        out.append(
            (
                x <= PREFIX_RATIO_MAX,
                f"binding 10 vs 0 prefixes, changed calls: {x:.2f}x at p50 ({x99:.2f}x at p99) "
                f"(<= {PREFIX_RATIO_MAX})",
            )
        )
    return out


# Test and tool dependencies that must never be in the server's import graph.
NOT_AT_RUN_TIME = ("boto3", "botocore", "moto", "hypothesis", "yaml", "jsonschema", "matplotlib")


def runtime_imports() -> list[str]:
    """The forbidden top-level packages a fresh ``import function.main`` pulls in; fails if
    the servers would not run this tree's ``function`` package."""
    code = (
        "import sys, function.main; print(function.main.__file__); "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    where, mods = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n", 1)
    if Path(where).resolve() != ROOT / "function" / "main.py":
        raise BenchError(f"the server would run {where}, not {ROOT / 'function' / 'main.py'}")
    return [m for m in NOT_AT_RUN_TIME if m in mods.split()]


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


def plot(series: list[dict], path: Path) -> str:
    if not series:
        return "no prefix series: no plot"
    try:
        import matplotlib  # noqa: PLC0415 - optional, the bench extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return "matplotlib is not installed (make bench installs the bench extra): no plot"
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
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
    ax.set_title("ObjectStorageBinding: changed calls, latency vs scoped prefixes")
    ax.set_ylabel("ms per call (sequential, gRPC on 127.0.0.1)")
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


CHANGED_TEXT = (
    "**Changed claim, call by call**: a claim at rest after a status update (the XR and one "
    "composed resource have a new resourceVersion), reconciled through Crossplane's request "
    "flow; every call a request the function never answered (a round that repeats the "
    "previous request exactly is left out here: the answer cache answers it). *calls per "
    "reconcile (fresh)*: the calls Crossplane v2.3.4 makes (of them new requests)."
)
FIRST_TEXT = (
    "**First reconcile of a new claim**: nothing observed yet; all the calls Crossplane makes "
    "(one per required-resources round until the requirements settle), one after the other; "
    "the no-op is sent the same requests."
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer calls, one start, no prefix series")
    for name, (full, quick) in SIZES.items():
        ap.add_argument(
            f"--{name}",
            type=type(full),
            default=None,
            help=f"default {full} ({quick} with --quick)",
        )
    ap.add_argument("--kinds", default="", help="comma-separated kinds (XR or claim kind)")
    ap.add_argument("--no-fill", dest="fill", action="store_false", help="skip the cache-full RSS")
    ap.add_argument("--no-series", dest="series", action="store_false", help="no prefix series")
    ap.add_argument("--no-docs", action="store_true", help="don't update docs/ (plot, figures)")
    args = ap.parse_args(argv)
    for name, (full, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.quick:
        args.series = False
    return args


def measure_kind(
    subject: flow.Subject, servers: dict[str, Server], args: argparse.Namespace, offset: int
) -> dict:
    t0 = time.monotonic()
    settled = flow.settle(subject)
    pool = flow.changed_pool(
        subject, settled, min_calls=args.calls, min_answer_bytes=flow.cache_pool_bytes()
    )
    firsts = flow.first_reconciles(subject, args.reconciles + args.reconciles // 10)
    fresh = pool.fresh
    t_gen = time.monotonic() - t0
    answers = Answers(subject.label)
    live = live_check(servers["function"], subject, settled)
    row: dict[str, Any] = {
        "label": subject.label,
        "kind": subject.kind,
        "resources": settled.resources,
        "calls": settled.calls,
        "fresh": len(flow._fresh(pool.reconciles[0])),
        "request_kb": max(len(c.request) for c in pool.reconciles[0]) / 1024,
        "pool": {"reconciles": len(pool.reconciles), "fresh_calls": len(fresh)},
        "answer_bytes": pool.answer_bytes(),
        "cache_max_bytes": DEFAULT_MAX_BYTES,
        "first_calls": len(firsts.reconciles[0]),
    }
    seq = sequential(servers, fresh, args.calls, answers, offset)
    after = offset + args.calls + max(20, args.calls // 20)
    tput = throughput(servers, [c.request for c in fresh], args.seconds, after)
    row["changed"] = {name: {**seq[name], **tput[name]} for name in SERVERS}
    row["first"] = first_reconciles(servers, firsts, args.reconciles // 10, answers)
    answers.check()
    row["process"] = processes(subject, pool, args)
    row["checked"] = {
        "answers": answers.checked + row["process"].pop("checked"),
        "live_calls": live,
    }
    row["verdicts"] = verdicts(row)
    row["seconds"] = {"generate": t_gen, "total": time.monotonic() - t0}
    return row


def measure_series(series: list[flow.Subject], servers: dict[str, Server], n: int) -> list[dict]:
    """Every prefix count's changed calls and the no-op, interleaved call by call in one loop."""
    lanes = []
    for s in series:
        settled = flow.settle(s)
        pool = flow.changed_pool(s, settled, start=2 * LIVE, min_calls=n + max(20, n // 20))
        lanes.append((s, pool.fresh))
    answers = Answers("prefix series")
    times: dict[str, list[float]] = {str(s.prefixes): [] for s, _ in lanes}
    times["noop"] = []
    clock = time.perf_counter
    warmup = max(20, n // 20)
    for i in range(warmup + n):
        order = [(str(s.prefixes), servers["function"], c[i]) for s, c in lanes]
        order.append(("noop", servers["noop"], lanes[-1][1][i]))
        for name, server, call in order if i % 2 else reversed(order):
            t = clock()
            got = server.call(call.request)
            if i >= warmup:
                times[name].append(clock() - t)
            if name != "noop":
                answers.add(got, call)
    answers.check()

    def figures(t: list[float]) -> dict[str, float]:
        return {"p50_ms": percentile(t, 50) * 1e3, "p99_ms": percentile(t, 99) * 1e3}

    return [
        {
            "prefixes": s.prefixes,
            "function": figures(times[str(s.prefixes)]),
            "noop": figures(times["noop"]),
        }
        for s, _ in lanes
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (BenchError, RuntimeError, grpc.RpcError) as err:
        print(f"\nbench: error: {err}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    t_run = time.monotonic()
    info = machine()
    subjects, series = flow.subjects(PREFIX_COUNTS if args.series else ())
    if args.kinds:
        wanted = {k.strip().removeprefix("X") for k in args.kinds.split(",")}
        subjects = [s for s in subjects if s.kind.removeprefix("X") in wanted]
        series = [s for s in series if s.kind.removeprefix("X") in wanted]
        if not subjects:
            raise BenchError(f"no kind among {args.kinds}")
    forbidden = runtime_imports()
    print(f"machine: {info}", flush=True)
    mode = "quick" if args.quick else "full"
    print(
        f"{mode}: {args.calls} sequential calls, {args.seconds:.1f} s of throughput per server, "
        f"{args.reconciles} first reconciles, {args.starts} start(s) per kind",
        flush=True,
    )
    rows: list[dict] = []
    series_rows: list[dict] = []
    offset = 0
    first = flow.record(
        flow.step(flow.fn.run, subjects[0], *flow.new_claim(subjects[0], LIVE + 1)), "first"
    )[-1].request
    with pair(first) as servers:
        for subject in subjects:
            row = measure_kind(subject, servers, args, offset)
            rows.append(row)
            v = row["verdicts"]
            print(
                f"  {row['label']}: "
                + ", ".join(f"{k} {x[1]}{'' if x[0] else ' FAIL'}" for k, x in v.items() if x)
                + f" ({row['seconds']['total']:.0f} s)",
                flush=True,
            )
        if series:
            series_rows = measure_series(series, servers, min(args.calls, SERIES_CALLS_MAX))
            print("  binding prefix series: done", flush=True)
        long_rss = {name: s.rss_mb() for name, s in servers.items()}

    info["load_after"] = os.getloadavg()[0]
    info["seconds"] = time.monotonic() - t_run
    checks = other_checks(series_rows, forbidden)
    checked = sum(r["checked"]["answers"] for r in rows)
    head = (
        f"Measured {time.strftime('%Y-%m-%d')} ({mode} run, {info['seconds'] / 60:.1f} min) on "
        f"{info['nproc']} x {info['cpu']}, Python {info['python']}, grpcio {info['grpcio']}, "
        f"protobuf {info['protobuf']}; load average {info['load_before']:.2f} before, "
        f"{info['load_after']:.2f} after. Per kind: {args.calls} sequential changed calls per "
        f"server, {CONCURRENCY} client threads for {args.seconds:.1f} s per server, "
        f"{args.reconciles} first reconciles, start-up the median of {args.starts} fresh "
        f"start(s). {checked} answers of the function checked against in-process ones "
        "(none fatal, all equal)."
    )
    text = "\n\n".join(
        part
        for part in (
            head,
            "Targets (issue 17), changed path, every kind:",
            target_table(rows),
            CHANGED_TEXT,
            changed_table(rows),
            FIRST_TEXT,
            first_table(rows),
            process_table(rows),
            series_table(series_rows),
            f"RSS of the long-running servers after every kind: function "
            f"{long_rss['function']:.1f} MB, no-op {long_rss['noop']:.1f} MB "
            f"(+{long_rss['function'] - long_rss['noop']:.1f} MB).",
            "\n".join(f"- {'PASS' if ok else 'FAIL'} {m}" for ok, m in checks),
        )
        if part
    )
    print()
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "mode": mode,
                "args": vars(args),
                "machine": info,
                "rows": rows,
                "series": series_rows,
                "long_running_rss_mb": long_rss,
                "checks": checks,
            },
            indent=2,
        )
    )
    if not args.no_docs and not args.kinds:
        print(plot(series_rows, PLOT))
        write_docs(text)
    print(f"\nbench took {time.monotonic() - t_run:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
