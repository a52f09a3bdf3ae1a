"""Peers, same output, same run (issue 26 item 3; run by ``make bench`` after ``tools/bench.py``).

Four servers as processes on 127.0.0.1, sent the same claims at rest after a status update
(``tools/bench_flow.py``'s changed pool, a request the function never answered each time):

- *no-op*: ``tools/noop_function.py`` (the SDK's floor, answers once);
- *ours*: ``function.main``, sent every call Crossplane v2.3.4 makes in that reconcile (two for
  these kinds: the first answers only its requirements, ``tools/xfn.py``);
- *pythonic*: crossplane-function-pythonic 0.1.4 from PyPI, in its own virtual environment
  (``.venv-pythonic``: it pins crossplane-function-sdk-python==0.9.0, ours needs ~=0.15.1, so it
  cannot share ``.venv``), with a composition class of ours (generated below);
- *go-templating*: function-go-templating v0.4.1 from the Go module proxy (the newest version
  the proxy serves: v0.5.0 and v0.7.0 to v0.11.x answer 403, v0.6.0's go.mod is not in the
  checksum database), built by ``tools/build_peers.sh`` into ``~/.cache/klutch-e2e/bin``,
  called on its v1beta1 service (its SDK, function-sdk-go v0.1.0, serves no other), with a
  template of ours (generated below).

The peers ask for nothing, so Crossplane calls them once per reconcile: each is sent the
request of our last call (observed state, the required resources, context) with its own step
input. Their template and class are generated from our answer to one request of that claim: every
composed resource, with each string equal to a string field of the XR looked up from the
XR at run time (``.observed.composite.resource...`` / ``self.observed...``), the rest literal.
Same output: before timing, every peer's desired composed resources must equal ours (names and
bodies, go-templating's left-over empty ``metadata.annotations`` dropped; readiness is reported,
not compared): otherwise the bench fails (exit 1).

Figures per claim, the four servers interleaved call by call (latency) and slice by slice
(throughput, 8 client threads): p50/p99 per reconcile (ours: its calls one after the other),
reconciles/s, server CPU per reconcile (``/proc/<pid>/stat``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
from crossplane.function import resource  # noqa: E402
from crossplane.function.proto.v1 import run_function_pb2 as fnv1  # noqa: E402

from tools import bench_flow as flow  # noqa: E402
from tools.bench import percentile  # noqa: E402
from tools.proc import cpu_s, rss_mb  # noqa: E402
from tools.xrender import free_port, stop  # noqa: E402

V1 = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
V1BETA1 = "/apiextensions.fn.proto.v1beta1.FunctionRunnerService/RunFunction"
CACHE = Path(os.environ.get("KLUTCH_E2E_CACHE", Path.home() / ".cache" / "klutch-e2e"))
GO_TEMPLATING = CACHE / "bin" / "function-go-templating-v0.4.1"
PYTHONIC = ROOT / ".venv-pythonic" / "bin" / "function-pythonic"
RESULTS = ROOT / "bench-results" / "peers.json"
KINDS = ("XPostgresqlInstance", "XObjectStorageBinding")
SERVERS = ("noop", "ours", "pythonic", "go-templating")
NAME_ANNOTATION = "gotemplating.fn.crossplane.io/composition-resource-name"
READY_ANNOTATION = "gotemplating.fn.crossplane.io/ready"
MIN_LOOKUP = 4  # shorter XR strings ("v1", "16") are left literal


class PeerError(RuntimeError):
    """The figures would be meaningless: a peer gives other resources, or fails."""


# --------------------------------------------------------------------------- what peers get


def xr_strings(xr: dict) -> dict[str, tuple[str, ...]]:
    """Every string leaf of the XR (outside status) -> its path (the first one found)."""
    out: dict[str, tuple[str, ...]] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, str) and len(node) >= MIN_LOOKUP:
            out.setdefault(node, path)

    for top in ("metadata", "spec"):
        walk(xr.get(top), (top,))
    return out


def go_template(resources: dict[str, tuple[dict, int]], xr: dict) -> str:
    """A go-templating template: one JSON document per composed resource (JSON is YAML), XR
    strings looked up with ``index``."""
    lookups = xr_strings(xr)

    def render(node: Any) -> str:
        if isinstance(node, dict):
            return "{" + ", ".join(f"{json.dumps(k)}: {render(v)}" for k, v in node.items()) + "}"
        if isinstance(node, list):
            return "[" + ", ".join(render(v) for v in node) + "]"
        if isinstance(node, str) and node in lookups:
            keys = " ".join(json.dumps(k) for k in lookups[node])
            return f"{{{{ index .observed.composite.resource {keys} | toJson }}}}"
        return json.dumps(node)

    docs = []
    for name, (body, ready) in resources.items():
        doc = json.loads(json.dumps(body))
        annotations = doc.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[NAME_ANNOTATION] = name
        if ready == fnv1.READY_TRUE:
            annotations[READY_ANNOTATION] = "True"
        docs.append("---\n" + render(doc))
    return "\n".join(docs) + "\n"


def pythonic_class(resources: dict[str, tuple[dict, int]], xr: dict) -> str:
    """A function-pythonic composition class: each resource a dict, XR strings read through
    ``self.observed`` (its view of the observed XR)."""
    lookups = xr_strings(xr)

    def render(node: Any) -> str:
        if isinstance(node, dict):
            return "{" + ", ".join(f"{k!r}: {render(v)}" for k, v in node.items()) + "}"
        if isinstance(node, list):
            return "[" + ", ".join(render(v) for v in node) + "]"
        if isinstance(node, str) and node in lookups:
            return "str(self.observed" + "".join(f"[{k!r}]" for k in lookups[node]) + ")"
        return repr(node)

    lines = [
        "from crossplane.pythonic import BaseComposite",
        "",
        "",
        "class KlutchPeer(BaseComposite):",
        "    def compose(self):",
        "        self.autoReady = False",
    ]
    for name, (body, ready) in resources.items():
        lines.append(f"        self.resources[{name!r}] = {render(body)}")
        if ready == fnv1.READY_TRUE:
            lines.append(f"        self.resources[{name!r}].ready = True")
    return "\n".join(lines) + "\n"


def desired(rsp: fnv1.RunFunctionResponse) -> dict[str, tuple[dict, int]]:
    return {
        name: (resource.struct_to_dict(r.resource), r.ready)
        for name, r in sorted(rsp.desired.resources.items())
    }


def peer_desired(rsp: fnv1.RunFunctionResponse) -> dict[str, tuple[dict, int]]:
    """``desired``, less what go-templating leaves after removing its own annotations: an
    empty ``metadata.annotations`` (and then empty ``metadata``), which is no annotations."""
    out = desired(rsp)
    for body, _ in out.values():
        meta = body.get("metadata")
        if isinstance(meta, dict) and meta.get("annotations") == {}:
            del meta["annotations"]
            if not meta:
                del body["metadata"]
    return out


def with_input(request: bytes, step_input: dict) -> bytes:
    req = fnv1.RunFunctionRequest.FromString(request)
    req.input.Clear()
    req.input.update(step_input)
    return req.SerializeToString()


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    call: Callable[[bytes], bytes]

    def cpu_s(self) -> float:
        return cpu_s(self.proc.pid)

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)


def command(name: str, address: str) -> list[str]:
    if name == "ours":
        return [sys.executable, "-m", "function.main", "--insecure", "--address", address]
    if name == "noop":
        return [sys.executable, "-m", "tools.noop_function", "--insecure", "--address", address]
    if name == "pythonic":
        if not PYTHONIC.exists():
            raise PeerError(f"{PYTHONIC} missing: make bench creates .venv-pythonic")
        return [str(PYTHONIC), "--insecure", "--address", address]
    if not GO_TEMPLATING.exists():
        raise PeerError(f"{GO_TEMPLATING} missing: run tools/build_peers.sh")
    return [str(GO_TEMPLATING), "--insecure", "--address", address]


@contextlib.contextmanager
def servers() -> Iterator[dict[str, Server]]:
    with contextlib.ExitStack() as stack:
        out = {}
        for name in SERVERS:
            address = f"127.0.0.1:{free_port()}"
            proc = subprocess.Popen(
                command(name, address),
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # go-templating logs every call at info level
                cwd=ROOT,
            )
            stack.callback(stop, proc)
            channel = stack.enter_context(grpc.insecure_channel(address))
            raw = channel.unary_unary(V1BETA1 if name == "go-templating" else V1)
            grpc.channel_ready_future(channel).result(timeout=60)
            out[name] = Server(name, proc, lambda data, raw=raw: raw(data, timeout=30))
        yield out


# --------------------------------------------------------------------------- measurement


def reconciles_for(
    subject: flow.Subject, n: int
) -> tuple[dict[str, list[list[bytes]]], dict[str, str], dict]:
    """Per server, ``n`` reconciles (each a list of request bytes), and the peers' inputs."""
    settled = flow.settle(subject)
    pool = flow.changed_pool(subject, settled, min_calls=n)
    recs = [[c.request for c in flow._fresh(r)] for r in pool.reconciles][:n]
    last = fnv1.RunFunctionResponse.FromString(pool.reconciles[0][-1].answer)
    resources = desired(last)
    xr = resource.struct_to_dict(
        fnv1.RunFunctionRequest.FromString(recs[0][-1]).observed.composite.resource
    )
    template = go_template(resources, xr)
    source = pythonic_class(resources, xr)
    inputs = {
        "go-templating": {
            "apiVersion": "gotemplating.fn.crossplane.io/v1beta1",
            "kind": "GoTemplate",
            "source": "Inline",
            "inline": {"template": template},
        },
        "pythonic": {
            "apiVersion": "pythonic.fn.crossplane.io/v1alpha1",
            "kind": "Composite",
            "composite": source,
        },
    }
    out = {
        "ours": recs,
        "noop": [[r[-1]] for r in recs],
        **{p: [[with_input(r[-1], inputs[p])] for r in recs] for p in inputs},
    }
    sizes = {"template_bytes": len(template), "class_bytes": len(source)}
    return out, {"template": template, "class": source}, {"resources": len(resources), **sizes}


def same_output(srv: dict[str, Server], recs: dict[str, list[list[bytes]]], label: str) -> dict:
    """Every peer's desired composed resources equal ours, on a few reconciles."""
    ready = {}
    for i in range(0, len(recs["ours"]), max(1, len(recs["ours"]) // 5)):
        ours = desired(fnv1.RunFunctionResponse.FromString(srv["ours"].call(recs["ours"][i][-1])))
        for peer in ("pythonic", "go-templating"):
            rsp = fnv1.RunFunctionResponse.FromString(srv[peer].call(recs[peer][i][-1]))
            bad = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
            if bad:
                raise PeerError(f"{label}: {peer} answered fatally: {bad[0][:500]}")
            theirs = peer_desired(rsp)
            if {k: v[0] for k, v in theirs.items()} != {k: v[0] for k, v in ours.items()}:
                diff = sorted(
                    k
                    for k in set(ours) | set(theirs)
                    if ours.get(k, (0,))[0] != theirs.get(k, (0,))[0]
                )
                raise PeerError(f"{label}: {peer}'s desired resources differ from ours: {diff}")
            ready[peer] = {k: v[1] for k, v in theirs.items()} == {k: v[1] for k, v in ours.items()}
    return ready


def sequential(srv: dict[str, Server], recs: dict[str, list[list[bytes]]], n: int) -> dict:
    times: dict[str, list[float]] = {s: [] for s in SERVERS}
    for i in range(n):
        order = SERVERS if i % 2 == 0 else tuple(reversed(SERVERS))
        for name in order:
            calls = recs[name][i % len(recs[name])]
            t0 = time.perf_counter()
            for data in calls:
                srv[name].call(data)
            times[name].append(time.perf_counter() - t0)
    return {
        s: {"p50_ms": percentile(t, 50) * 1e3, "p99_ms": percentile(t, 99) * 1e3}
        for s, t in times.items()
    }


def throughput(
    srv: dict[str, Server], recs: dict[str, list[list[bytes]]], seconds: float, rounds: int
) -> dict:
    done = dict.fromkeys(SERVERS, 0)
    spent = dict.fromkeys(SERVERS, 0.0)
    cpu = dict.fromkeys(SERVERS, 0.0)
    for r in range(rounds):
        order = SERVERS if r % 2 == 0 else tuple(reversed(SERVERS))
        for name in order:
            count = [0] * 8
            stop = time.perf_counter() + seconds

            def worker(k: int, name: str = name, stop: float = stop, count: list = count) -> None:
                i = k
                while time.perf_counter() < stop:
                    for data in recs[name][i % len(recs[name])]:
                        srv[name].call(data)
                    count[k] += 1
                    i += 8

            c0, t0 = srv[name].cpu_s(), time.perf_counter()
            threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            spent[name] += time.perf_counter() - t0
            cpu[name] += srv[name].cpu_s() - c0
            done[name] += sum(count)
    return {
        s: {
            "reconciles_per_s": done[s] / spent[s],
            "cpu_us_per_reconcile": cpu[s] / max(1, done[s]) * 1e6,
        }
        for s in SERVERS
    }


def table(rows: list[dict]) -> str:
    out = [
        "| claim | server | calls per reconcile | p50 ms | p99 ms | reconciles/s | "
        "server CPU µs per reconcile | vs no-op (CPU) | vs ours (CPU) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        f = row["figures"]
        for s in SERVERS:
            x = f[s]
            out.append(
                f"| {row['label']} | {s} | {row['calls'][s]} | {x['p50_ms']:.2f} | "
                f"{x['p99_ms']:.2f} | {x['reconciles_per_s']:.0f} | "
                f"{x['cpu_us_per_reconcile']:.0f} | "
                f"{x['cpu_us_per_reconcile'] / f['noop']['cpu_us_per_reconcile']:.2f}x | "
                f"{x['cpu_us_per_reconcile'] / f['ours']['cpu_us_per_reconcile']:.2f}x |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1000, help="sequential reconciles per server")
    ap.add_argument("--seconds", type=float, default=3.0, help="throughput slice per server")
    ap.add_argument("--rounds", type=int, default=2, help="throughput slices per server")
    ap.add_argument("--write", type=Path, help="also write the generated template and class here")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    subjects, _ = flow.subjects(())
    rows = []
    try:
        with servers() as srv:
            for subject in [s for s in subjects if s.kind in KINDS]:
                recs, sources, sizes = reconciles_for(subject, max(200, args.calls // 2))
                if args.write:
                    args.write.mkdir(parents=True, exist_ok=True)
                    stem = subject.kind.lower()
                    (args.write / f"{stem}.gotmpl").write_text(sources["template"])
                    (args.write / f"{stem}_pythonic.py").write_text(sources["class"])
                ready = same_output(srv, recs, subject.label)
                sequential(srv, recs, 50)  # warm-up
                figures = sequential(srv, recs, args.calls)
                tput = throughput(srv, recs, args.seconds, args.rounds)
                for s in SERVERS:
                    figures[s].update(tput[s])
                rows.append(
                    {
                        "label": subject.label,
                        **sizes,
                        "ready_equal": ready,
                        "calls": {s: len(recs[s][0]) for s in SERVERS},
                        "figures": figures,
                    }
                )
                print(f"  {subject.label}: done", flush=True)
            rss = {s: round(x.rss_mb(), 1) for s, x in srv.items()}
    except PeerError as exc:
        print(f"bench peers: {exc}", file=sys.stderr)
        return 1
    load1 = os.getloadavg()
    head = (
        f"Peers measured {time.strftime('%Y-%m-%d %H:%M')} UTC; load average {load0[0]:.2f} "
        f"before, {load1[0]:.2f} after; {args.calls} sequential reconciles per server "
        f"(interleaved), 8 client threads {args.rounds} x {args.seconds:.0f} s per server. "
        f"Same desired resources as ours: checked (bodies equal; readiness equal: "
        + ", ".join(f"{r['label']}: {r['ready_equal']}" for r in rows)
        + f"). RSS at the end, MB: {rss}."
    )
    text = head + "\n\n" + table(rows)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": rows, "rss_mb": rss, "load": [load0, load1]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
