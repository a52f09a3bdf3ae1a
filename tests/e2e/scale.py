"""``make bench-scale`` (``python -m tests.e2e.scale``): many claims on ``make e2e``'s real
control plane (docs/benchmarks.md, issue 26 items 1 and 4). Never part of ``make test`` or
``make e2e``, and not a test module: it lives beside the control plane it starts.

Starts the control plane of ``tests/e2e/controlplane.py`` (etcd, kube-apiserver, Crossplane
v2.3.4, moto, the fake AWS provider) with the function served by ``tools/counting_function.py``
(the same ``fn.FunctionRunner``, plus one log line per call naming the claim), applies N claims
of every kind in 20 namespaces, waits (bounded) until all are Ready, then leaves them at rest for
a window, and reports:

- time until all Ready; function calls per claim until its Ready was first seen (per kind);
- the function's CPU seconds (``utime + stime`` of its process, /proc) and RSS (``VmRSS``);
- at rest: calls per minute, reconciles per minute (Crossplane's own debug line "Reconciling"
  per XR), calls per reconcile per kind, CPU per call and per reconcile;
- Crossplane's own counter ``function_run_function_request_total`` (its --metrics-port) over
  the same windows, as a check of the function's count.

Mix (``--n``, env SCALE_N, default 1000): ``--pg`` PostgresqlInstances (env SCALE_PG, default 4:
each runs a real PostgreSQL server in the fake provider, the heavy part), each with one
ServiceBinding, one Backup and one ScheduledBackup; the rest S3: 2 ObjectStorageInstances for 3
ObjectStorageBindings (each binding names an instance of its namespace). ``--n 6 --pg 1`` is one
claim of each kind (item 1: calls per reconcile at rest per kind).

Bounded: ``--ready-timeout`` (SCALE_READY_TIMEOUT, default 1800 s) for all Ready, ``--rest``
(default 180 s: three of Crossplane's 1 min polls) at rest; every process is stopped at the end.
Exit 1 if the control plane fails or the claims are not all Ready in time (figures are still
printed and written to bench-results/scale.json).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import signal
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.e2e import claims as e2e_claims
from tests.e2e import controlplane
from tests.e2e.processes import Process
from tools.proc import cpu_s, rss_mb

ROOT = controlplane.ROOT

RESULTS = ROOT / "bench-results" / "scale.json"
NAMESPACES = 20
XR_KINDS = {
    "ObjectStorageInstance": "XObjectStorageInstance",
    "ObjectStorageBinding": "XObjectStorageBinding",
    "PostgresqlInstance": "XPostgresqlInstance",
    "ServiceBinding": "XServiceBinding",
    "Backup": "XBackup",
    "ScheduledBackup": "XScheduledBackup",
}


class CountingPlane(controlplane.ControlPlane):
    """The e2e control plane, the function served by tools/counting_function.py and the fake
    AWS provider reconciling ``workers`` MRs at once."""

    workers: int = 1
    provider_poll: float = 600.0
    crossplane_poll: str = "1m"

    def process(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        # The upstream defaults, not make e2e's shorter polls (which keep its tests quick):
        # Crossplane v2.3.4 cmd/crossplane/core/core.go PollInterval default "1m";
        # provider-upjet-aws cmd/provider/*/zz_main.go --poll default "10m".
        if name == "fakeaws":
            argv = [*argv, "--workers", str(self.workers), "--poll", str(self.provider_poll)]
        if name == "crossplane":
            argv = [
                f"--poll-interval={self.crossplane_poll}" if a.startswith("--poll-interval=") else a
                for a in argv
            ]
        if name == "function":
            argv = [sys.executable, "-m", "tools.counting_function", *argv[1:]]
            env = {**(env or {}), "KLUTCH_COUNT_FILE": str(self.count_file)}
            env["PYTHONPATH"] = str(ROOT)
        return super().process(name, argv, env)

    @property
    def count_file(self) -> Path:
        return self.work / "function-calls.log"

    def pid(self, name: str) -> int:
        (proc,) = [p for p in self.processes if p.name == name]
        assert proc.popen is not None
        return proc.popen.pid


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def claim_set(n: int, pg: int) -> list[dict[str, Any]]:
    """N claims: pg PostgreSQL instances with a binding, a backup and a schedule each; the rest
    S3 instances and bindings 2:3, round-robin over the namespaces."""
    ns = [f"scale-{i:02d}" for i in range(NAMESPACES)]
    out: list[dict[str, Any]] = []
    for i in range(pg):
        space = ns[i % NAMESPACES]
        name = f"pg-{i}"
        out.append(
            e2e_claims.example(
                "postgresqlinstance", "basic-instance-example.yaml", name=name, namespace=space
            )
        )
        out.append(
            e2e_claims.example(
                "servicebinding",
                "pg-binding-example.yaml",
                name=f"{name}-sb",
                namespace=space,
                instanceRef=name,
                writeConnectionSecretToRef={"name": f"{name}-sb-creds"},
            )
        )
        out.append(
            e2e_claims.example(
                "backup",
                "backup-example.yaml",
                name=f"{name}-bk",
                namespace=space,
                instanceRef=name,
            )
        )
        out.append(
            e2e_claims.example(
                "scheduledbackup",
                "scheduledbackup-cron.yaml",
                name=f"{name}-sched",
                namespace=space,
                instanceRef=name,
            )
        )
    s3 = max(0, n - len(out))
    instances = max(1, (s3 * 2 + 4) // 5) if s3 else 0
    bindings = s3 - instances
    for i in range(instances):
        out.append(
            e2e_claims.example(
                "objectstorageinstance",
                "s3-instance-example.yaml",
                name=f"s3-{i}",
                namespace=ns[i % NAMESPACES],
            )
        )
    for j in range(bindings):
        i = j % instances
        out.append(
            e2e_claims.example(
                "objectstoragebinding",
                "s3-binding-example.yaml",
                name=f"s3-{i}-b{j}",
                namespace=ns[i % NAMESPACES],
                instanceRef=f"s3-{i}",
                writeConnectionSecretToRef={"name": f"s3-{i}-b{j}-creds"},
            )
        )
    return out


def key(claim: dict[str, Any]) -> str:
    return f"{claim['metadata']['namespace']}/{claim['metadata']['name']}"


def calls(plane: CountingPlane) -> list[tuple[float, str, str]]:
    out = []
    for line in plane.count_file.read_text().splitlines():
        t, kind, who = line.split(" ", 2)
        out.append((float(t), kind, who))
    return out


# Crossplane v2.3.4 internal/controller/apiextensions/composite/reconciler.go: log.Debug
# ("Reconciling") with the controller ("composite/<XRD name>", after the XRD controller's own
# "controller" key) and the request (the XR's name), at one-second resolution.
RECONCILING = re.compile(
    r'^(\S+)\s.*Reconciling.*"controller": "composite/([^"]+)", "request": \{"name": ?"([^"]+)"'
)
XRD_KIND = {f"{x.lower()}s": x for x in XR_KINDS.values()}


def reconcile_events(work: Path) -> list[tuple[float, str]]:
    """(wall-clock second, XR kind) of every XR reconcile Crossplane logged."""
    out = []
    for line in (work / "logs" / "crossplane.log").read_text(errors="replace").splitlines():
        if "Reconciling" not in line:
            continue
        m = RECONCILING.search(line)
        if m:
            when = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
            out.append((when.timestamp(), XRD_KIND.get(m.group(2).split(".")[0], m.group(2))))
    return out


def window(work: Path, start: float, end: float) -> dict[str, Any]:
    """Calls (the function's counter) and reconciles (Crossplane's log) per XR kind between two
    wall-clock times, whole seconds (the log's resolution). The counter's monotonic times are
    put on the wall clock with this machine's offset (one boot, one offset)."""
    start, end = float(int(start)), float(int(end))
    offset = time.time() - time.monotonic()
    kind_calls: collections.Counter[str] = collections.Counter()
    for line in (work / "function-calls.log").read_text().splitlines():
        t, kind, _ = line.split(" ", 2)
        if start <= float(t) + offset < end:
            kind_calls[kind] += 1
    kind_recs = collections.Counter(k for t, k in reconcile_events(work) if start <= t < end)
    minutes = (end - start) / 60
    calls_n, recs_n = sum(kind_calls.values()), sum(kind_recs.values())
    return {
        "window_s": end - start,
        "calls": calls_n,
        "reconciles": recs_n,
        "calls_per_min": round(calls_n / minutes, 1),
        "reconciles_per_min": round(recs_n / minutes, 1),
        "calls_per_reconcile": round(calls_n / recs_n, 2) if recs_n else None,
        "calls_per_reconcile_by_kind": {
            k: round(kind_calls[k] / kind_recs[k], 2) if kind_recs[k] else None
            for k in XR_KINDS.values()
        },
        "calls_by_kind": dict(kind_calls),
        "reconciles_by_kind": dict(kind_recs),
    }


def function_requests(plane: CountingPlane) -> float:
    url = f"http://127.0.0.1:{plane.ports['crossplane-metrics']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as rsp:
        text = rsp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("function_run_function_request_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def ready_claims(plane: CountingPlane) -> set[str]:
    out = set()
    for obj in plane.get("claim", "-A").get("items", []):
        if controlplane.conditions(obj).get("Ready", {}).get("status") == "True":
            out.add(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def run(args: argparse.Namespace) -> int:
    claims = claim_set(args.n, args.pg)
    by_kind = collections.Counter(c["kind"] for c in claims)
    print(f"bench-scale: {len(claims)} claims {dict(by_kind)}, load {load()}", flush=True)
    result: dict[str, Any] = {"n": len(claims), "kinds": dict(by_kind), "load_start": load()}
    plane = CountingPlane()
    plane.workers = args.workers
    plane.provider_poll = args.provider_poll
    plane.crossplane_poll = args.crossplane_poll
    result |= {
        "fakeaws_workers": args.workers,
        "provider_poll_s": args.provider_poll,
        "crossplane_poll": args.crossplane_poll,
    }
    ok = False
    try:
        started = time.monotonic()
        plane.start()
        result["control_plane_start_s"] = round(time.monotonic() - started, 1)
        fpid = plane.pid("function")
        print(f"control plane up in {result['control_plane_start_s']} s ({plane.work})", flush=True)
        plane.apply(
            *[
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"scale-{i:02d}"}}
                for i in range(NAMESPACES)
            ]
        )
        cpu0, calls0, xp0 = cpu_s(fpid), len(calls(plane)), function_requests(plane)
        t0, t0_wall = time.monotonic(), time.time()
        # kubectl create (no GET before each object, as apply does), 50 a time: on this shared
        # machine with two API servers of other sessions, 100 applied claims took minutes.
        for i in range(0, len(claims), 50):
            plane.kubectl(
                "create",
                "-f",
                "-",
                stdin=yaml.safe_dump_all(claims[i : i + 50], sort_keys=False),
                timeout=600,
            )
            print(f"  created {min(i + 50, len(claims))} claims", flush=True)
        result["apply_s"] = round(time.monotonic() - t0, 1)
        first_ready: dict[str, float] = {}
        want = {key(c): c["kind"] for c in claims}
        deadline = t0 + args.ready_timeout
        progress = []
        while time.monotonic() < deadline:
            plane.check_alive()
            now = time.monotonic()
            for k in ready_claims(plane):
                if k in want:
                    first_ready.setdefault(k, now)
            progress.append((round(now - t0), len(first_ready)))
            print(
                f"  {now - t0:6.0f} s: {len(first_ready)}/{len(want)} Ready, "
                f"fn CPU {cpu_s(fpid) - cpu0:.1f} s, load {load()}",
                flush=True,
            )
            if len(first_ready) == len(want):
                break
            time.sleep(args.poll)
        t_ready = time.monotonic()
        all_ready = len(first_ready) == len(want)
        cpu_ready = cpu_s(fpid) - cpu0
        log_calls = calls(plane)
        ramp = log_calls[calls0:]
        per_claim: dict[str, int] = collections.Counter()
        for t, _, who in ramp:
            if who in first_ready and t <= first_ready[who]:
                per_claim[who] += 1
        ramp_w = window(plane.work, t0_wall, time.time() + 1)
        result.update(
            all_ready=all_ready,
            ready=len(first_ready),
            time_to_all_ready_s=round(t_ready - t0, 1) if all_ready else None,
            time_to_ready_by_kind_s={
                k: round(
                    max(
                        (first_ready[c] - t0 for c in first_ready if want[c] == k),
                        default=float("nan"),
                    ),
                    1,
                )
                for k in by_kind
            },
            ramp_calls=len(ramp),
            ramp_crossplane_requests=function_requests(plane) - xp0,
            ramp_reconciles=ramp_w["reconciles"],
            ramp_calls_per_reconcile=ramp_w["calls_per_reconcile"],
            ramp_cpu_s=round(cpu_ready, 2),
            ramp_cpu_us_per_call=round(cpu_ready / max(1, len(ramp)) * 1e6),
            ramp_cpu_us_per_reconcile=round(cpu_ready / max(1, ramp_w["reconciles"]) * 1e6),
            calls_until_ready_by_kind={
                k: {
                    "median": median([per_claim[c] for c in first_ready if want[c] == k]),
                    "max": max([per_claim[c] for c in first_ready if want[c] == k], default=0),
                }
                for k in by_kind
            },
            rss_mb_ready=round(rss_mb(fpid), 1),
            progress=progress,
            load_ready=load(),
        )
        print(
            json.dumps({k: v for k, v in result.items() if k != "progress"}, indent=1), flush=True
        )
        # At rest: Crossplane polls every XR (--crossplane-poll, 1m by default) and the
        # providers' status updates stop; count calls and reconciles over the window.
        time.sleep(args.settle)
        cpu1, xp1, w1 = cpu_s(fpid), function_requests(plane), time.time()
        time.sleep(args.rest)
        cpu2, xp2, w2 = cpu_s(fpid), function_requests(plane), time.time()
        time.sleep(2)  # the log's last lines written
        rest = window(plane.work, w1, w2)
        rest_cpu = cpu2 - cpu1
        result.update(
            rest_from=w1,
            rest_to=w2,
            rest={k: v for k, v in rest.items()},
            rest_crossplane_requests=xp2 - xp1,
            rest_cpu_s=round(rest_cpu, 2),
            rest_cpu_us_per_call=round(rest_cpu / max(1, rest["calls"]) * 1e6),
            rest_cpu_us_per_reconcile=round(rest_cpu / max(1, rest["reconciles"]) * 1e6),
            rss_mb_rest=round(rss_mb(fpid), 1),
            load_end=load(),
        )
        ok = all_ready
    finally:
        result.setdefault("work", str(plane.work))
        plane.stop()
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=1))
        print(json.dumps({k: v for k, v in result.items() if k != "progress"}, indent=1))
        if ok and os.environ.get("KLUTCH_E2E_KEEP") != "1":
            plane.remove()
    return 0 if ok else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=int(env("SCALE_N", "1000")), help="claims in all")
    ap.add_argument("--pg", type=int, default=int(env("SCALE_PG", "4")), help="PostgresqlInstances")
    ap.add_argument(
        "--ready-timeout", type=float, default=float(env("SCALE_READY_TIMEOUT", "1800"))
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=int(env("SCALE_WORKERS", "8")),
        help="MRs the fake AWS provider reconciles at once (make e2e: 1)",
    )
    ap.add_argument(
        "--provider-poll",
        type=float,
        default=float(env("SCALE_PROVIDER_POLL", "600")),
        help="s between observations of a resting MR (provider-upjet-aws's default: 600)",
    )
    ap.add_argument(
        "--crossplane-poll",
        default=env("SCALE_CROSSPLANE_POLL", "1m"),
        help="Crossplane's --poll-interval (its default: 1m; make e2e runs 30s)",
    )
    ap.add_argument("--settle", type=float, default=60, help="s after all Ready before the window")
    ap.add_argument("--rest", type=float, default=180, help="s of the at-rest window")
    ap.add_argument("--poll", type=float, default=10, help="s between Ready checks")
    ap.add_argument(
        "--analyze",
        type=Path,
        help="only count calls and reconciles per kind in a kept work dir (KLUTCH_E2E_KEEP=1) "
        "between --from and --to (Unix seconds); starts nothing",
    )
    ap.add_argument("--from", dest="start", type=float, default=0.0)
    ap.add_argument("--to", dest="end", type=float, default=0.0)
    return ap.parse_args(argv)


def _stop(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # runs the finally: every process stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    parsed = parse_args(None)
    if parsed.analyze:
        print(json.dumps(window(parsed.analyze, parsed.start, parsed.end), indent=1))
        sys.exit(0)
    sys.exit(run(parsed))
