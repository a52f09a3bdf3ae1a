"""Calling the function in-process, and reading what it answered."""

from __future__ import annotations

from collections.abc import Callable

from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn
from tools import xrender

Call = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]


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


def render_local(
    xr: dict,
    fn_input: dict | None = None,
    observed=None,
    required=None,
    environment=xrender.EXAMPLE_ENVIRONMENT,
):
    """Render once; ``environment``: the EnvironmentConfig documents Crossplane fetched for the
    Composition's bootstrap requirement (the examples' by default; None: not fetched)."""
    return local_call(
        xrender.build_request(xr, fn_input or {}, observed, required, environment=environment)
    )
