"""Calling the function in-process, and reading what it answered."""

from __future__ import annotations

from collections.abc import Callable

from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn
from tools import xfn, xrender

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
    """One pipeline step as Crossplane runs it (``tools/xfn.run_step``), its last answer.

    ``environment``: the EnvironmentConfig documents Crossplane fetched for the Composition's
    bootstrap requirement (the examples' by default; None: not fetched). ``required``: what
    Crossplane found for those requirement names; any other requirement finds what the
    operator made (the examples' EnvironmentConfigs and Namespaces) and no claim."""
    req = xrender.build_request(xr, fn_input or {}, observed, required, environment=environment)
    given = dict(required or {})

    def fetch(sel: fnv1.ResourceSelector) -> list[dict]:
        return xrender.select(sel, [*xrender.environment_configs(), *namespaces()])

    def call(q: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        # Requirement names the test gave stay what it gave (Crossplane fetched them).
        for name, items in given.items():
            q.required_resources[name].Clear()
            xfn.fill(q.required_resources[name], items)
        return local_call(q)

    req.ClearField("meta")
    return xfn.run_step(call, req, fetch)


NAME_ANNOTATION = "crossplane.io/composition-resource-name"


def applied_core_objects(rsp: fnv1.RunFunctionResponse, observed=None) -> list[dict]:
    """``observed`` plus the core objects (apiVersion ``v1``: the master Secret) the response
    desired and ``observed`` lacks, as Crossplane observes them on its next reconcile: it
    applied them (they need no provider), with the composition-resource-name annotation
    (``RenderComposedResourceMetadata``)."""
    out = list(observed or [])
    have = {((d.get("metadata") or {}).get("annotations") or {}).get(NAME_ANNOTATION) for d in out}
    for name, body in sorted(desired(rsp).items()):
        if body["apiVersion"] == "v1" and name not in have:
            meta = body.setdefault("metadata", {})
            meta.setdefault("annotations", {})[NAME_ANNOTATION] = name
            out.append(body)
    return out


def render_created(
    xr: dict,
    fn_input: dict | None = None,
    observed=None,
    required=None,
    environment=xrender.EXAMPLE_ENVIRONMENT,
):
    """Render as the reconciles after the first: what Crossplane applied without a provider
    (the master Secret) is observed, and the instance's group Role once provider-sql reported
    it Ready, so everything is rendered (the primary rds Instance waits for its Secret,
    function/master_secret.py; the group's grants for the Role, function/pg_grants.py)."""
    required = dict(required or {})
    first = render_local(xr, fn_input, observed, required, environment)
    for name, sel in first.requirements.resources.items():
        if name not in required and sel.kind == "Namespace":
            required[name] = xrender.select(sel, namespaces())
            first = render_local(xr, fn_input, observed, required, environment)
    applied = applied_core_objects(first, observed)
    second = render_local(xr, fn_input, applied, required, environment)
    if "group-role" not in desired(second):
        return second
    return render_local(xr, fn_input, roles_ready(second, applied), required, environment)


SQL_ROLE_API = "postgresql.sql.crossplane.io/v1alpha1"


def available() -> dict:
    """The Ready condition a provider publishes once Observe finds the resource up to date:
    crossplane-runtime ``apis/common/v1/condition.go`` ``Available()`` (type Ready, status True,
    reason Available), set by provider-sql's Role reconciler (``pkg/controller/postgresql/role/
    reconciler.go`` Observe) and upjet's (``pkg/controller/external.go`` Observe)."""
    return {"type": "Ready", "status": "True", "reason": "Available"}


def roles_ready(rsp: fnv1.RunFunctionResponse, observed=None) -> list[dict]:
    """``observed`` plus every provider-sql Role ``rsp`` desired (an instance's group role, a
    binding's login role), as observed once provider-sql reported it Ready: a Role's grants
    come only then (function/pg_grants.py ``after_role``)."""
    roles = {
        name: body
        for name, body in desired(rsp).items()
        if body.get("apiVersion") == SQL_ROLE_API and body.get("kind") == "Role"
    }
    out = [
        d
        for d in observed or []
        if ((d.get("metadata") or {}).get("annotations") or {}).get(NAME_ANNOTATION) not in roles
    ]
    for name, role in sorted(roles.items()):
        meta = role.setdefault("metadata", {})
        meta.setdefault("annotations", {})[NAME_ANNOTATION] = name
        role["status"] = {"conditions": [available()]}
        out.append(role)
    return out


def group_role_ready(rsp: fnv1.RunFunctionResponse, observed=None) -> list[dict]:
    """``roles_ready`` for an instance: its group Role observed Ready."""
    return roles_ready(rsp, observed)


def namespaces() -> list[dict]:
    """The Namespaces the examples' required.yaml files hold (what Crossplane finds)."""
    return [d for ex in xrender.examples() for d in ex.required if d.get("kind") == "Namespace"]


def primary_ready(rsp: fnv1.RunFunctionResponse, observed=None) -> list[dict]:
    """``applied_core_objects`` plus the primary rds Instance ``rsp`` desired, as observed once
    its provider reported ``Ready=True``: the read replicas come only then
    (function/postgresql.py ``_replicas``)."""
    primary = desired(rsp)["instance"]
    meta = primary.setdefault("metadata", {})
    meta.setdefault("annotations", {})[NAME_ANNOTATION] = "instance"
    primary["status"] = {"conditions": [available()]}
    return [*applied_core_objects(rsp, observed), primary]


def render_primary_ready(
    xr: dict,
    fn_input: dict | None = None,
    observed=None,
    required=None,
    environment=xrender.EXAMPLE_ENVIRONMENT,
):
    """Render as once the primary rds Instance is observed Ready (``primary_ready``)."""
    required = dict(required or {})
    first = render_created(xr, fn_input, observed, required, environment)
    observed = roles_ready(first, observed)
    return render_local(xr, fn_input, primary_ready(first, observed), required, environment)
