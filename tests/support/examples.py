"""The examples per kind, and rendering them as Crossplane does.

``render`` calls the function until its requirements are stable, giving it the resources the
kind's examples require (``required.yaml``), and checks on every call (``answer``) that
``fn.run`` and the servicer give one response, byte for byte, that is never the function's
last-resort internal error.
"""

from __future__ import annotations

import copy
import functools

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn
from tests.support.responses import (
    NAME_ANNOTATION,
    SQL_ROLE_API,
    applied_core_objects,
    desired,
    primary_ready,
    roles_ready,
)
from tests.support.xrds import xrd_api_versions
from tools import render as render_tool
from tools import twin, xrender

INTERNAL_ERROR = "internal error"


@functools.cache
def at_rest() -> twin.ControlPlane:
    """Every example at rest on the control-plane twin, as ``make render`` brings them
    (``tools/render.py``), the function called in-process; made once per test run."""
    return render_tool.at_rest(fn.run)


@functools.cache
def rendered(*folders: str) -> str:
    """What ``make render`` (``tools/render.py [folders]``) prints."""
    root = xrender.ROOT
    return render_tool.text(at_rest(), render_tool.selected([str(root / f) for f in folders]))


@functools.cache
def examples_of(kind: str) -> tuple[xrender.Example, ...]:
    """The examples (``examples/*/xr*.yaml``) whose XR is of ``kind``."""
    return tuple(ex for ex in xrender.examples() if ex.xr["kind"] == kind)


@functools.cache
def fn_input(kind: str) -> dict:
    """The function input of the kind's Composition (the operator's defaults if none)."""
    for ex in examples_of(kind):
        return xrender.function_input(ex.composition)
    for comp in xrender.compositions().values():
        if comp["spec"].get("compositeTypeRef", {}).get("kind") == kind:
            return xrender.function_input(comp)
    return {}


def required_candidates(kind: str) -> list[dict]:
    """What Crossplane could return for the kind's requirements (from examples' required.yaml)."""
    out: list[dict] = []
    for ex in examples_of(kind):  # examples of one folder share its required.yaml
        out += [doc for doc in ex.required if doc not in out]
    return out


def example_xrs(kind: str) -> list[dict]:
    """The kind's example XRs, or one bare XR of the kind when it has no example yet."""
    return [ex.xr for ex in examples_of(kind)] or [
        {
            "apiVersion": xrd_api_versions()[kind],
            "kind": kind,
            "metadata": {"name": "x"},
            "spec": {},
        }
    ]


_SERVICER = fn.FunctionRunner()


def via_servicer(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    """The servicer's ``RunFunction``, driven without an event loop (it awaits nothing)."""
    coro = _SERVICER.RunFunction(req, None)
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("RunFunction awaited something: drive it with an event loop")


def answer(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    """Call ``fn.run`` twice and the servicer once: one response, same bytes every time.

    The first call finds the function's memos as earlier requests left them; the second runs
    with nothing kept between calls (``fn.clear_memos``): what is kept never changes an answer.
    """
    first = fn.run(req)
    assert isinstance(first, fnv1.RunFunctionResponse)
    data = first.SerializeToString(deterministic=True)
    fn.clear_memos()
    assert fn.run(copy.deepcopy(req)).SerializeToString(deterministic=True) == data
    served = via_servicer(req)
    assert isinstance(served, fnv1.RunFunctionResponse)
    assert served.SerializeToString(deterministic=True) == data
    for r in first.results:
        assert not r.message.startswith(INTERNAL_ERROR), r.message
    return first


def render_created(
    kind: str, xr: dict, observed: list[dict] | None = None
) -> fnv1.RunFunctionResponse:
    """``render`` as the reconciles after the first: the core objects the first one composed
    (the master Secret: Crossplane applies it, no provider needed) are observed, and the
    provider-sql Roles once Ready, so everything is rendered (the primary rds Instance waits
    for its Secret, a Role's grants for the Role: function/pg_grants.py ``after_role``)."""
    first = render(kind, xr, observed)
    applied = applied_core_objects(first, observed)
    second = render(kind, xr, applied)
    if not any(
        (b.get("apiVersion"), b.get("kind")) == (SQL_ROLE_API, "Role")
        for b in desired(second).values()
    ):
        return second
    return render(kind, xr, roles_ready(second, applied))


def render_primary_ready(
    kind: str, xr: dict, observed: list[dict] | None = None
) -> fnv1.RunFunctionResponse:
    """``render`` once the primary rds Instance is observed Ready: read replicas too."""
    created = render_created(kind, xr, observed)
    return render(kind, xr, primary_ready(created, roles_ready(created, observed)))


def render_all_observed(kind: str, xr: dict) -> fnv1.RunFunctionResponse:
    """``render`` once everything ``render_created`` desired is observed Ready with an ARN, as
    its providers report it: what waits for another resource (a managed key's encryption,
    read replicas) is rendered too."""
    seen = []
    for name, body in sorted(desired(render_created(kind, xr)).items()):
        body["metadata"] = {**body.get("metadata", {}), "annotations": {NAME_ANNOTATION: name}}
        body["status"] = {
            "atProvider": {"arn": f"arn:aws:test:eu-central-1:123456789012:{name}"},
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        seen.append(body)
    return render(kind, xr, seen)


def render(kind: str, xr: dict, observed: list[dict] | None = None) -> fnv1.RunFunctionResponse:
    """Render until the requirements are stable, as Crossplane does (each call checked)."""
    candidates = required_candidates(kind)
    required: dict[str, list[dict]] = {}
    rsp = answer(xrender.build_request(xr, fn_input(kind), observed, required))
    for _ in range(5):
        wanted = {
            name: xrender.select(sel, candidates)
            for name, sel in rsp.requirements.resources.items()
        }
        if wanted == required:
            break
        required = wanted
        rsp = answer(xrender.build_request(xr, fn_input(kind), observed, required))
    return rsp
