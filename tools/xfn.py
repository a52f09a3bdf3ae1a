"""How Crossplane's function runner calls a function for one pipeline step.

Pure request flow, no cluster: shared by ``tools/xrender.py`` (``make render``), the bench
and the control-plane twin (``tools/twin.py``). Grounded in crossplane v2.3.4
(tag ``v2.3.4``, commit ``c2670a7``):

- ``internal/controller/apiextensions/composite/composition_functions.go``
  ``FunctionComposer.Compose``: each step's request starts with the observed state, an empty
  desired state (first step), an empty ``context`` Struct and the step's ``input``; bootstrap
  required resources are fetched into it; then ``Meta = {Tag: Tag(fnreq), Capabilities:
  xfn.SupportedCapabilities()}``: the tag is computed ONCE, before the loop below.
- ``internal/xfn/utils.go`` ``Tag``: SHA-256 (hex) of the request's deterministic
  serialization; ``meta`` is not yet set, so it is not part of the hash.
- ``internal/xfn/capabilities.go`` ``SupportedCapabilities``.
- ``internal/xfn/required_resources.go`` ``FetchingFunctionRunner.RunFunction``: calls the
  function for ``i := 0; i <= MaxRequirementsIterations (5)``, so at most 6 calls, with the
  SAME request object (same meta, same tag); stops on a fatal result, or when the response's
  requirements equal (``proto.Equal``) the previous call's; otherwise resets
  ``extra_resources`` to empty and ``required_resources`` to the bootstrap ones, fetches
  every selector of ``requirements.extra_resources`` and ``requirements.resources``, passes
  the response's ``context`` on, and calls again. It errors if they never settle.
- ``cmd/crossplane/core/core.go``: Crossplane's own (alpha) response cache wraps the
  FetchingFunctionRunner, so it keys a whole step; a function is called inside the loop.

Newer Crossplane (master after v2.3.4, commit ``18fc67494`` "Watch required resources so a
change reconciles the XRs that need them") also seeds each step's request, before the tag,
with what the step required last reconcile, and returns after the first call if those seeds
already equal what its requirements resolve to. ``seed`` below models that; v2.3.4 does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

# internal/xfn/required_resources.go
MAX_REQUIREMENTS_ITERATIONS = 5

# internal/xfn/capabilities.go SupportedCapabilities (v2.3.4)
CAPABILITIES = (
    fnv1.CAPABILITY_CAPABILITIES,
    fnv1.CAPABILITY_REQUIRED_RESOURCES,
    fnv1.CAPABILITY_CREDENTIALS,
    fnv1.CAPABILITY_CONDITIONS,
    fnv1.CAPABILITY_REQUIRED_SCHEMAS,
)

Call = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]
# selector -> the resources Crossplane finds (ExistingRequiredResourcesFetcher.Fetch)
Fetch = Callable[[fnv1.ResourceSelector], list[dict]]


class RequirementsUnstableError(RuntimeError):
    """The function's requirements did not settle within Crossplane's iteration limit."""


def crossplane_tag(req: fnv1.RunFunctionRequest) -> str:
    """The tag Crossplane gives ``req``: SHA-256 of its deterministic serialization without
    ``meta`` (``Tag`` runs before ``Meta`` is set)."""
    body = fnv1.RunFunctionRequest()
    body.CopyFrom(req)
    body.ClearField("meta")
    return hashlib.sha256(body.SerializeToString(deterministic=True)).hexdigest()


def step_request(
    observed: fnv1.State, function_input: Mapping | None = None
) -> fnv1.RunFunctionRequest:
    """The first pipeline step's request before its tag: observed state, empty desired
    state, empty context, the step's input (composition_functions.go ``Compose``)."""
    req = fnv1.RunFunctionRequest()
    req.observed.CopyFrom(observed)
    req.desired.SetInParent()
    req.context.SetInParent()
    if function_input is not None:
        req.input.update(dict(function_input))
    return req


def bootstrap(
    req: fnv1.RunFunctionRequest, selectors: Mapping[str, fnv1.ResourceSelector], fetch: Fetch
) -> None:
    """Fetch the step's bootstrap requirements (the Composition step's
    ``requirements.requiredResources``) into the untagged request, as ``Compose`` does before
    the tag (composition_functions.go: "Bootstrap requirements are authoritative")."""
    for name, selector in selectors.items():
        target = req.required_resources[name]
        target.Clear()
        fill(target, fetch(selector))


def tag(req: fnv1.RunFunctionRequest) -> None:
    """Set ``meta`` as Crossplane does, once per step, before the requirements loop."""
    req.ClearField("meta")
    digest = crossplane_tag(req)
    req.meta.tag = digest
    req.meta.capabilities.extend(CAPABILITIES)


def run_step(
    call: Call,
    req: fnv1.RunFunctionRequest,
    fetch: Fetch,
    seed: Mapping[str, fnv1.ResourceSelector] | None = None,
    on_call: Callable[[fnv1.RunFunctionRequest, fnv1.RunFunctionResponse], None] | None = None,
) -> fnv1.RunFunctionResponse:
    """Run one pipeline step as Crossplane's FetchingFunctionRunner does.

    ``req`` is the untagged step request (its ``required_resources`` are the bootstrap ones);
    it is tagged here, once. ``seed``: the step's requirements of the last reconcile, fetched
    into the request before the tag (Crossplane after v2.3.4 only). ``on_call`` sees every
    call's request and response.
    """
    for name, selector in (seed or {}).items():
        if name not in req.required_resources:
            fill(req.required_resources[name], fetch(selector))
    tag(req)
    bootstrap = {n: _copy(r) for n, r in req.required_resources.items()}
    previous: fnv1.Requirements | None = None
    for i in range(MAX_REQUIREMENTS_ITERATIONS + 1):
        rsp = call(req)
        if on_call is not None:
            on_call(_snapshot(req), rsp)
        if any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
            return rsp
        current = rsp.requirements if rsp.HasField("requirements") else None
        if current == previous:
            return rsp
        resources, extra = _resolve(current, bootstrap, fetch)
        if seed is not None and i == 0 and _same(req, resources, extra):
            return rsp  # master: the seeds were already what the requirements resolve to
        previous = _copy_requirements(current)
        _replace(req.required_resources, resources)
        _replace(req.extra_resources, extra)
        req.context.CopyFrom(rsp.context)
    raise RequirementsUnstableError(
        "requirements didn't stabilize after the maximum number of iterations "
        f"({MAX_REQUIREMENTS_ITERATIONS})"
    )


def fill(target: fnv1.Resources, found: list[dict]) -> None:
    for doc in found:
        target.items.add().resource.update(doc)


def _resolve(
    reqs: fnv1.Requirements | None, bootstrap: dict[str, fnv1.Resources], fetch: Fetch
) -> tuple[dict[str, fnv1.Resources], dict[str, fnv1.Resources]]:
    resources = {n: _copy(r) for n, r in bootstrap.items()}
    extra: dict[str, fnv1.Resources] = {}
    if reqs is None:
        return resources, extra
    for name, selector in reqs.extra_resources.items():
        extra[name] = fnv1.Resources()
        fill(extra[name], fetch(selector))
    for name, selector in reqs.resources.items():
        resources[name] = fnv1.Resources()
        fill(resources[name], fetch(selector))
    return resources, extra


def _same(
    req: fnv1.RunFunctionRequest,
    resources: dict[str, fnv1.Resources],
    extra: dict[str, fnv1.Resources],
) -> bool:
    return dict(req.required_resources) == resources and dict(req.extra_resources) == extra


def _replace(target, values: dict[str, fnv1.Resources]) -> None:
    target.clear()
    for name, value in values.items():
        target[name].CopyFrom(value)


def _copy(r: fnv1.Resources) -> fnv1.Resources:
    out = fnv1.Resources()
    out.CopyFrom(r)
    return out


def _copy_requirements(r: fnv1.Requirements | None) -> fnv1.Requirements | None:
    if r is None:
        return None
    out = fnv1.Requirements()
    out.CopyFrom(r)
    return out


def _snapshot(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionRequest:
    out = fnv1.RunFunctionRequest()
    out.CopyFrom(req)
    return out


def select(selector: fnv1.ResourceSelector, candidates: list[dict]) -> list[dict]:
    """The candidates a ResourceSelector matches, sorted by namespace and name, as
    ``ExistingRequiredResourcesFetcher.Fetch`` (required_resources.go) returns them: by name
    (and namespace) or by labels in a namespace (all namespaces when none is given)."""
    out = []
    for doc in candidates:
        meta = doc.get("metadata") or {}
        if doc.get("apiVersion") != selector.api_version or doc.get("kind") != selector.kind:
            continue
        if (meta.get("namespace") or "") != (selector.namespace or "") and (
            selector.HasField("match_name") or selector.namespace
        ):
            continue
        if selector.HasField("match_name"):
            if meta.get("name") != selector.match_name:
                continue
        else:
            labels = meta.get("labels") or {}
            if any(labels.get(k) != v for k, v in selector.match_labels.labels.items()):
                continue
        out.append(doc)
    return sorted(out, key=_ns_name)


def _ns_name(doc: dict) -> str:
    meta = doc.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
