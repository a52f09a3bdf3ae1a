"""A no-op composition function on the same SDK, the floor the benchmark compares against.

It answers every RunFunction with the desired state unchanged (``response.to(req)``) and is
served by the same SDK CLI and runtime as the real function (``sdkcli.run``: grpc.aio server,
v1 and v1beta1 services, reflection). Used only by ``tools/bench.py``::

    python -m tools.noop_function --insecure --address 127.0.0.1:9444
"""

from __future__ import annotations

import click
import grpc
from crossplane.function import cli as sdkcli
from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1


class NoopRunner(grpcv1.FunctionRunnerServiceServicer):
    """Returns the desired state it was given."""

    async def RunFunction(  # noqa: N802 - the gRPC method name
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        return response.to(req)


@click.command()
@sdkcli.standard_options
def cli(**kwargs) -> None:
    """Serve the no-op function (same flags as the real one)."""
    sdkcli.run(NoopRunner(), **kwargs)


if __name__ == "__main__":
    cli()
