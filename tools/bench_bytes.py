"""What the bytes-level RunFunction handler buys (issue 26 item 2), server CPU per call.

Three servers answer the same requests, one after the other, in turns (``--reps``, the
minimum kept): ``sdk``, this function's ``FunctionRunner`` served by the SDK's own
``cli.run`` (its generated handler parses every request and serializes every answer; a kept
answer is parsed and serialized again); ``bytes``, the ``function`` console script
(``function/server.py``: the answer's bytes as kept, or serialized once); ``noop``, the
floor (``tools/noop_function.py``). Per kind at its largest (``tools/bench_flow.py``):

- *hit*: the settled claim's request ``--calls`` times (an unchanged claim's poll);
- *miss*: ``--calls`` distinct requests (the claim after each of its status updates).

    python -m tools.bench_bytes [--calls 2000] [--reps 3]

A benchmark, never a test; docs/benchmarks.md keeps its figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator

import click
import grpc
from crossplane.function import cli as sdkcli

from function import fn
from tools import bench_flow as flow
from tools import xrender
from tools.proc import cpu_s

METHOD = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
MODULES = {"sdk": "tools.bench_bytes", "bytes": "function.main", "noop": "tools.noop_function"}


@click.command()
@sdkcli.standard_options
def serve_sdk(**kwargs: object) -> None:
    """The function's runner served by the SDK's own server (the ``sdk`` column)."""
    sdkcli.run(fn.FunctionRunner(), **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def servers() -> Iterator[dict[str, tuple[int, grpc.UnaryUnaryMultiCallable]]]:
    with contextlib.ExitStack() as stack:
        out = {}
        for name, module in MODULES.items():
            address, proc = stack.enter_context(xrender.serve(module=module))
            channel = stack.enter_context(grpc.insecure_channel(address))
            grpc.channel_ready_future(channel).result(timeout=30)
            out[name] = (proc.pid, channel.unary_unary(METHOD))
        yield out


def per_call_us(pid: int, call: grpc.UnaryUnaryMultiCallable, requests: list[bytes]) -> float:
    """Server CPU per call, in microseconds, over ``requests`` sent one after the other."""
    start = cpu_s(pid)
    for raw in requests:
        call(raw, timeout=30)
    return (cpu_s(pid) - start) / len(requests) * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f}; {args.calls} calls per path, min of {args.reps} turns")
    print("| kind | path | sdk µs/call | bytes µs/call | bytes / sdk | no-op µs/call |")
    print("|---|---|---|---|---|---|")
    subjects, _ = flow.subjects()
    with servers() as running:
        for n, subject in enumerate(subjects):
            settled = flow.settle(subject)
            hit = flow.step(fn.run, subject, settled.xr, settled.state)[-1][0].SerializeToString()
            paths = {"hit": [hit] * args.calls}
            base = (n + 1) * 1_000_000  # distinct requests per kind, never seen before
            for rep in range(args.reps):
                paths[f"miss{rep}"] = [
                    flow.step(fn.run, subject, *flow.changed(settled, base + rep * args.calls + i))[
                        -1
                    ][0].SerializeToString()
                    for i in range(args.calls)
                ]
            for path in ("hit", "miss"):
                best: dict[str, float] = {}
                for rep in range(args.reps):
                    requests = paths[path] if path == "hit" else paths[f"miss{rep}"]
                    for name, (pid, call) in running.items():
                        call(requests[0], timeout=30)  # warm (a miss's first call is kept)
                        us = per_call_us(pid, call, requests[1:] if path == "miss" else requests)
                        best[name] = min(best.get(name, us), us)
                print(
                    f"| {subject.label} | {path} | {best['sdk']:.0f} | {best['bytes']:.0f} | "
                    f"{best['bytes'] / best['sdk']:.2f} | {best['noop']:.0f} |",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
    return 0


if __name__ == "__main__":
    if "--address" in sys.argv:
        serve_sdk()
    else:
        sys.exit(main())
