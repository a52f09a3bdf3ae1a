"""Shared fixtures: in-process calls, and the real server over gRPC on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn
from tools import xrender

Call = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]


@pytest.fixture(scope="session")
def grpc_address() -> str:
    """Address of the real server (``function --insecure``) on 127.0.0.1."""
    with xrender.serve() as (address, _proc):
        channel, call = xrender.client(address)
        xrender.wait_ready(call, time.monotonic() + 30)
        channel.close()
        yield address


@pytest.fixture(scope="session")
def grpc_call(grpc_address) -> Call:
    """RunFunction on the real server over gRPC."""
    channel, call = xrender.client(grpc_address)
    yield call
    channel.close()


def local_call(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    """RunFunction in-process (same code path as the server's servicer)."""
    return fn.run(req)


def desired(rsp: fnv1.RunFunctionResponse) -> dict[str, dict]:
    return {name: resource.struct_to_dict(r.resource) for name, r in rsp.desired.resources.items()}


def status(rsp: fnv1.RunFunctionResponse) -> dict:
    return resource.struct_to_dict(rsp.desired.composite.resource).get("status", {})


def fatal_messages(rsp: fnv1.RunFunctionResponse) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]


def warnings(rsp: fnv1.RunFunctionResponse) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING]


def render_local(xr: dict, fn_input: dict | None = None, observed=None, required=None):
    return local_call(xrender.build_request(xr, fn_input or {}, observed, required))
