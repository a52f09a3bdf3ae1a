"""The gRPC server: the SDK's, with RunFunction (v1) served at the bytes level.

crossplane-function-sdk-python 0.15.1 ``crossplane/function/cli.py`` ``run`` and
``crossplane/function/runtime.py`` ``serve``, step for step: the same flags (the SDK's
``standard_options``), logging, message-size options, mTLS credentials
(``runtime.load_credentials``), the v1beta1 service (``runtime.BetaFunctionRunner``, message
level), reflection and the SIGTERM grace period. One difference: the v1 ``RunFunction`` method
is registered without a request deserializer or response serializer, so the runner gets the
request's bytes and returns the answer's bytes (``FunctionRunner.RunFunctionBytes``): a kept
answer goes out as it was kept, and a new one is serialized once (docs/benchmarks.md, "The
answer's bytes").
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Any, Protocol

import grpc
from crossplane.function import logging, runtime
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1
from grpc_reflection.v1alpha import reflection  # type: ignore[import-untyped]

V1_SERVICE = fnv1.DESCRIPTOR.services_by_name["FunctionRunnerService"].full_name


class BytesRunner(Protocol):
    """What the server needs of a runner: RunFunction for messages (v1beta1) and bytes (v1)."""

    async def RunFunction(  # noqa: N802 - the gRPC method name
        self, req: fnv1.RunFunctionRequest, context: Any
    ) -> fnv1.RunFunctionResponse:
        """The answer to a request message."""

    async def RunFunctionBytes(  # noqa: N802 - the gRPC method it serves
        self, raw: bytes, context: Any
    ) -> bytes:
        """The serialized answer to a serialized request."""


def v1_handler(runner: BytesRunner) -> grpc.GenericRpcHandler:
    """The v1 service with RunFunction taking and returning bytes (no (de)serializers)."""
    return grpc.method_handlers_generic_handler(
        V1_SERVICE, {"RunFunction": grpc.unary_unary_rpc_method_handler(runner.RunFunctionBytes)}
    )


def run(
    runner: BytesRunner,
    *,
    debug: bool,
    address: str,
    tls_certs_dir: str | None,
    insecure: bool,
    max_recv_message_size: int,
    max_send_message_size: int | None,
) -> None:
    """Serve until SIGTERM: the SDK's ``cli.run`` with ``serve`` below."""
    logging.configure(level=logging.Level.DEBUG if debug else logging.Level.INFO)
    send = max_recv_message_size if max_send_message_size is None else max_send_message_size
    options = [
        ("grpc.max_receive_message_length", max_recv_message_size * 1024 * 1024),
        ("grpc.max_send_message_length", send * 1024 * 1024),
    ]
    creds = runtime.load_credentials(tls_certs_dir) if tls_certs_dir is not None else None
    if creds is None and not insecure:
        raise ValueError(
            "no credentials were provided - did you provide credentials or use the insecure flag?"
        )
    asyncio.run(serve(runner, address, creds=creds, insecure=insecure, options=options))


async def serve(
    runner: BytesRunner,
    address: str,
    *,
    creds: grpc.ServerCredentials | None,
    insecure: bool,
    options: Sequence[tuple[str, Any]] = (),
) -> None:
    """The SDK's ``runtime.serve``, with the v1 service of ``v1_handler``."""
    server = grpc.aio.server(options=options)
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM,
        lambda: asyncio.ensure_future(server.stop(grace=runtime.SHUTDOWN_GRACE_PERIOD_SECONDS)),
    )
    server.add_generic_rpc_handlers((v1_handler(runner),))
    grpcv1beta1.add_FunctionRunnerServiceServicer_to_server(  # type: ignore[no-untyped-call]
        runtime.BetaFunctionRunner(wrapped=runner),  # type: ignore[arg-type]
        server,
    )
    reflection.enable_server_reflection(runtime.SERVICE_NAMES, server)
    if creds is not None:
        server.add_secure_port(address, creds)
    if insecure:
        server.add_insecure_port(address)
    try:
        await server.start()
        await server.wait_for_termination()
    finally:
        await server.stop(grace=runtime.SHUTDOWN_GRACE_PERIOD_SECONDS)
