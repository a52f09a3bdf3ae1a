"""The function with a call counter of our own, for ``tools/bench_scale.py`` only.

Crossplane v2.3.4 counts function calls per function (``function_run_function_request_total``,
``internal/xfn/function_runner_metrics.go``), not per claim or kind. This serves the very same
``fn.FunctionRunner`` (same flags as the ``function`` console script) and, before each call,
appends one line ``<monotonic seconds> <XR kind> <claim namespace>/<claim name>`` to the file
named by ``KLUTCH_COUNT_FILE``: a few microseconds per call, reading two fields of the request.

    KLUTCH_COUNT_FILE=calls.log python -m tools.counting_function --insecure --address ...
"""

from __future__ import annotations

import os
import time
from typing import Any

import click
from crossplane.function import cli as sdkcli
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, server
from function.cache import DEFAULT_MAX_BYTES


def _field(struct: Any, name: str, default: Any = None) -> Any:
    # A protobuf Struct has `in` and [] but no .get.
    return struct[name] if name in struct else default  # noqa: SIM401


def _who(req: fnv1.RunFunctionRequest) -> tuple[str, str]:
    xr = req.observed.composite.resource
    kind = _field(xr, "kind", "?")
    meta = _field(xr, "metadata")
    if meta is None:
        return kind, "?"
    labels = _field(meta, "labels")
    if labels is not None and "crossplane.io/claim-name" in labels:
        ns = _field(labels, "crossplane.io/claim-namespace", "")
        return kind, f"{ns}/{labels['crossplane.io/claim-name']}"
    return kind, f"{_field(meta, 'namespace', '')}/{_field(meta, 'name', '?')}"


class CountingRunner(fn.FunctionRunner):
    """``fn.FunctionRunner`` that logs who each call is for."""

    def __init__(self, path: str, cache_bytes: int) -> None:
        super().__init__(cache_bytes)
        self.out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    def answer_bytes(self, req: fnv1.RunFunctionRequest) -> bytes:
        kind, who = _who(req)
        self.out.write(f"{time.monotonic():.3f} {kind} {who}\n")
        return super().answer_bytes(req)


@click.command()
@sdkcli.standard_options
@click.option("--cache-bytes", type=click.IntRange(min=0), default=DEFAULT_MAX_BYTES)
def cli(cache_bytes: int, **kwargs: Any) -> None:
    """Serve the function, counting calls per claim into $KLUTCH_COUNT_FILE."""
    server.run(CountingRunner(os.environ["KLUTCH_COUNT_FILE"], cache_bytes), **kwargs)


if __name__ == "__main__":
    cli()
