#!/usr/bin/env python3
"""``make bench-calls``: calls per reconcile and the CPU of each call, per kind, from the
control-plane twin (``tools/twin.py``: Crossplane v2.3.4's request flow).

Every example XR is created in one twin cluster and reconciled until nothing changes; then
each XR is reconciled ``--repeat`` times more at rest. For each kind: how many calls one
reconcile at rest makes (Crossplane's required-resources loop,
``internal/xfn/required_resources.go``), and the function's CPU per call (``fn.run``
in-process, ``time.thread_time_ns``: the renderer, the conversions and the encoding, without
gRPC and the SDK's own floor), median over the repeats, call by call. Warm: the function's
memos as a re-polled claim at rest finds them. Twice: with the Compositions' bootstrap
requirement (the shipped Compositions), and with none (a Composition written without it).

Not part of ``make test`` (counts are asserted there, ``tests/test_reconcile_calls.py``);
timings are figures, never assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crossplane.function.proto.v1 import run_function_pb2 as fnv1  # noqa: E402

from function import fn  # noqa: E402
from tools.twin import ControlPlane, example_xrs  # noqa: E402


class Timed:
    """``fn.run``, each call's thread CPU time recorded."""

    def __init__(self) -> None:
        self.cpu: list[int] = []

    def __call__(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        start = time.thread_time_ns()
        rsp = fn.run(req)
        self.cpu.append(time.thread_time_ns() - start)
        return rsp


def measure(bootstrap: bool, repeat: int) -> dict[str, dict]:
    """Per kind and claim: calls per reconcile at rest and the median CPU (us) of each call."""
    timed = Timed()
    cp = ControlPlane(call=timed, bootstrap=bootstrap)
    for xr in example_xrs():
        cp.create(xr)
    cp.until_stable()
    calls: dict[str, set[int]] = defaultdict(set)
    cpu: dict[str, list[list[int]]] = defaultdict(list)
    for _ in range(repeat):
        for key in cp.xrs():
            timed.cpu.clear()
            cp.reconcile(key)
            labels = cp.xr(key)["metadata"].get("labels") or {}
            kind = f"{key[1].removeprefix('X')} {labels.get('crossplane.io/claim-name', key[3])}"
            calls[kind].add(len(timed.cpu))
            cpu[kind].append(list(timed.cpu))
    out = {}
    for kind in sorted(calls):
        width = max(len(c) for c in cpu[kind])
        per_call = [
            statistics.median(c[i] for c in cpu[kind] if len(c) > i) / 1000 for i in range(width)
        ]
        out[kind] = {"calls": sorted(calls[kind]), "cpu_us": per_call}
    return out


def table(results: dict[str, dict]) -> str:
    lines = [
        "| kind, claim | calls at rest | CPU per call, us (call 1, 2, ...) | total us |",
        "|---|---|---|---|",
    ]
    for kind, r in results.items():
        calls = "/".join(str(c) for c in r["calls"])
        per = ", ".join(f"{c:.0f}" for c in r["cpu_us"])
        lines.append(f"| {kind} | {calls} | {per} | {sum(r['cpu_us']):.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    for bootstrap in (True, False):
        print(f"\nComposition {'with' if bootstrap else 'without'} the bootstrap requirement:")
        print(table(measure(bootstrap, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
