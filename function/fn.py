"""The gRPC servicer: decode the request, dispatch on the XR kind, encode the response.

All protobuf handling lives here; renderers are pure functions of ``core.Request``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import grpc
from crossplane.function import logging, response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from google.protobuf.message import DecodeError

from function import (
    backup,
    claims,
    environment,
    objectstorage,
    objectstoragebinding,
    postgresql,
    refs,
    scheduledbackup,
    servicebinding,
)
from function.cache import DEFAULT_MAX_BYTES, ResponseCache
from function.convert import fill_struct, struct_to_dict
from function.core import (
    Condition,
    InputError,
    ObservedResource,
    Rendered,
    Request,
    Requirement,
    Result,
    Severity,
    clear_parsed,
    dig,
    is_ready,
    parse,
)
from function.memo import Memo
from function.resources import COMPOSED_SECRET_KEYS, READY_WHEN_EXISTS, SECRET, Kind, readiness
from function.settings import Settings

Renderer = Callable[[Request], Rendered]

# (apiVersion, XR kind) -> renderer.
RENDERERS: dict[tuple[str, str], Renderer] = {
    claims.OBJECT_STORAGE_INSTANCE: objectstorage.render,
    claims.OBJECT_STORAGE_BINDING: objectstoragebinding.render,
    claims.POSTGRESQL_INSTANCE: postgresql.render,
    claims.SERVICE_BINDING: servicebinding.render,
    claims.BACKUP: backup.render,
    claims.SCHEDULED_BACKUP: scheduledbackup.render,
}

_SEVERITY = {
    Severity.NORMAL: fnv1.SEVERITY_NORMAL,
    Severity.WARNING: fnv1.SEVERITY_WARNING,
    Severity.FATAL: fnv1.SEVERITY_FATAL,
}


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    """Serves RunFunction for every claim kind of this package."""

    def __init__(
        self, cache_bytes: int = DEFAULT_MAX_BYTES, cache_entries: int | None = None
    ) -> None:
        self.log = logging.get_logger()
        self.cache = ResponseCache(cache_bytes, cache_entries)

    async def RunFunction(  # noqa: N802 - the gRPC method name
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext[Any, Any] | None = None
    ) -> fnv1.RunFunctionResponse:
        """Answer one request (from the cache when an equal request was answered): the message
        API, for v1beta1 and in-process callers."""
        return self.cache.answer(req, self._render)

    async def RunFunctionBytes(  # noqa: N802 - the gRPC method it serves
        self, raw: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        """RunFunction (v1) at the bytes level (``function/server.py``): the request parsed
        once, the answer's bytes sent as kept or as serialized once (the SDK's generated
        handler would parse a kept answer and serialize it again, and serialize a new one
        twice: once for the cache, once for the wire)."""
        try:
            req = fnv1.RunFunctionRequest.FromString(raw)
        except DecodeError as err:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"cannot parse RunFunctionRequest: {err}"
            )
        return self.answer_bytes(req)

    def answer_bytes(self, req: fnv1.RunFunctionRequest) -> bytes:
        """The serialized answer to one request (from the cache when an equal request was
        answered)."""
        return self.cache.answer_bytes(req, self._render)

    def _render(self, req: fnv1.RunFunctionRequest) -> tuple[fnv1.RunFunctionResponse, bool]:
        return answer(req, self.log)


def run(req: fnv1.RunFunctionRequest, log: Any = None) -> fnv1.RunFunctionResponse:
    """Answer one request. Never raises: every path returns a response."""
    return answer(req, log)[0]


def answer(req: fnv1.RunFunctionRequest, log: Any = None) -> tuple[fnv1.RunFunctionResponse, bool]:
    """The response, and whether it may be kept for an equal request: every answer but an
    internal error (which may be transient) is a pure function of the request."""
    rsp = response.to(req)
    kind = ""
    try:
        xr = struct_to_dict(req.observed.composite.resource)
        # Only strings are echoed: a junk object's key order is not stable between calls.
        kind = _text(xr.get("kind"))
        renderer = RENDERERS.get((_text(xr.get("apiVersion")), kind))
        if renderer is None:
            supported = ", ".join(f"{a}/{k}" for a, k in sorted(RENDERERS))
            got = f"{_text(xr.get('apiVersion'))}/{kind}" if kind else "nothing"
            response.fatal(
                rsp,
                f"unsupported composite resource {got}: this function renders {supported}",
            )
            return rsp, True
        settings = _settings(req)
        required = _required(req)
        env_name = settings.environmentConfigName
        env_key = environment.locate(required, env_name)
        if env_key is None:
            # Not in the request yet: ask for it, nothing else (Crossplane calls again with it).
            _requirements(rsp, environment.requirements(env_name, env_key))
            return rsp, True
        env = _environment(req, required, env_key, env_name)
        observed = _observed(req)
        if env is None:
            # What arrived is not what was asked (issue 27 item 10): wait, never render.
            _encode(req, rsp, environment.mismatch(env_name, Rendered()), observed)
            return rsp, True
        rendered = renderer(
            Request(xr=xr, settings=settings, observed=observed, required=required, env=env)
        )
        environment.ready(env_name, env_key, rendered)
        if refs.unresolved(required, rendered):
            # Crossplane throws this answer away: it fetches what is asked and calls again.
            _requirements(rsp, rendered.requirements)
            return rsp, True
        _encode(req, rsp, rendered, observed)
    except environment.InvalidEnvironmentError as err:
        tell_operator(rsp, err, log)
        response.fatal(rsp, str(err))
        return rsp, True
    except InputError as err:
        response.fatal(rsp, str(err))
        return rsp, True
    except Exception as err:  # noqa: BLE001 - the function must never crash a reconcile
        if log is not None:
            # The type only: a message could carry data from the request.
            log.error("internal error", kind=kind, error=type(err).__name__)
        rsp = response.to(req)
        response.fatal(rsp, f"internal error rendering {kind or 'request'}: {type(err).__name__}")
        return rsp, False
    return rsp, True


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def tell_operator(
    rsp: fnv1.RunFunctionResponse, err: environment.InvalidEnvironmentError, log: Any
) -> None:
    """What is wrong with the EnvironmentConfig, for the operator only: the function's log and
    a Warning event on the composite resource (not on the claim). Crossplane emits the results
    before a fatal one as events (crossplane v2.3.4 ``composition_functions.go``: events
    gathered before ``PipelineFatalError`` are returned with it)."""
    if log is not None:
        log.warning("invalid EnvironmentConfig", problems=err.detail)
    _result(rsp, Result(Severity.WARNING, err.detail, "InvalidEnvironmentConfig", claim=False))


def _input(req: fnv1.RunFunctionRequest) -> dict[str, Any]:
    return struct_to_dict(req.input) if req.HasField("input") else {}


# Parsed operator settings by the serialized input: one Composition's input is the same on
# every call, so it is validated once, not on every reconcile. Settings are frozen.
# Parsed once per distinct content, keyed by its deterministic serialization: the operator's
# input and EnvironmentConfig are the same on nearly every call. InputError is never kept.
_MEMO_MAX = 64
_SETTINGS: dict[bytes, Settings] = {}
_ENVIRONMENTS: dict[bytes, environment.Environment | None] = {}

T = TypeVar("T")


def _memo(memo: dict[bytes, T], key: bytes, make: Callable[[], T]) -> T:
    """``make()``, kept in ``memo`` under ``key`` (cleared when full)."""
    if key in memo:
        return memo[key]
    value = make()
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value
    return value


def _settings(req: fnv1.RunFunctionRequest) -> Settings:
    key = req.input.SerializeToString(deterministic=True) if req.HasField("input") else b""
    return _memo(_SETTINGS, key, lambda: parse(Settings, _input(req), "input"))


def _environment(
    req: fnv1.RunFunctionRequest, required: dict[str, list[dict[str, Any]]], key: str, name: str
) -> environment.Environment | None:
    """The EnvironmentConfig ``name`` held under ``key`` (``environment.locate``), parsed."""
    # The same source ``_required`` reads (required_resources win over extra_resources).
    source = req.required_resources.get(key)
    if source is None:
        source = req.extra_resources[key]
    memo_key = name.encode() + b"\0" + source.SerializeToString(deterministic=True)
    return _memo(_ENVIRONMENTS, memo_key, lambda: environment.read(required, name, key))


# Observed composed resources and required resources, converted once per distinct content
# (deterministic serialization: Crossplane's Go client sends maps in random order). A claim
# whose status changed is observed again with all but one of its resources unchanged.
# Accounted cost: the key's bytes times RESOURCE_COST_FACTOR, what one entry takes against
# its serialized size: the key, the Python dicts, the ObservedResource and the memo's slot
# (tracemalloc, tests/test_memo.py: about 7.5 for the composed resources of a PostgreSQL
# claim). RSS with every memo full is in docs/benchmarks.md.
RESOURCE_COST_FACTOR = 8
OBSERVED_MEMO_BYTES = 4 * 1024 * 1024
REQUIRED_MEMO_BYTES = 1024 * 1024
_OBSERVED: Memo[ObservedResource] = Memo(OBSERVED_MEMO_BYTES)
_REQUIRED: Memo[dict[str, Any]] = Memo(REQUIRED_MEMO_BYTES)


class _Observed(Mapping[str, ObservedResource]):
    """Observed composed resources by name (sorted: a protobuf map has no order), each
    converted when first read: an answer that only asks for requirements reads few or none."""

    def __init__(self, resources: Mapping[str, fnv1.Resource]) -> None:
        self._resources = resources
        self._names = sorted(resources)
        self._read: dict[str, ObservedResource] = {}

    def __getitem__(self, name: str) -> ObservedResource:
        got = self._read.get(name)
        if got is None:
            if name not in self._resources:  # indexing a protobuf map would add the name
                raise KeyError(name)
            got = self._read[name] = _observed_resource(self._resources[name])
        return got

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._resources

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _observed(req: fnv1.RunFunctionRequest) -> Mapping[str, ObservedResource]:
    """Observed composed resources by name, each converted when first read."""
    return _Observed(req.observed.resources)


def _observed_resource(r: fnv1.Resource) -> ObservedResource:
    key = r.SerializeToString(deterministic=True)
    observed = _OBSERVED.get(key)
    if observed is None:
        observed = ObservedResource(
            resource=struct_to_dict(r.resource),
            connection_details=dict(r.connection_details),
        )
        _OBSERVED.put(key, observed, RESOURCE_COST_FACTOR * len(key))
    return observed


def _required(req: fnv1.RunFunctionRequest) -> dict[str, list[dict[str, Any]]]:
    """Required resources; Crossplane before v2 calls them extra resources."""
    out: dict[str, list[dict[str, Any]]] = {}
    for field in (req.extra_resources, req.required_resources):
        for name, items in field.items():
            out[name] = [_required_item(i) for i in items.items]
    return out


def _required_item(item: fnv1.Resource) -> dict[str, Any]:
    key = item.resource.SerializeToString(deterministic=True)
    body = _REQUIRED.get(key)
    if body is None:
        body = struct_to_dict(item.resource)
        _REQUIRED.put(key, body, RESOURCE_COST_FACTOR * len(key))
    return body


def clear_memos() -> None:
    """Forget everything kept between calls (tests compare against a fresh render)."""
    for memo in (_OBSERVED, _REQUIRED):
        memo.clear()
    _SETTINGS.clear()
    _ENVIRONMENTS.clear()
    clear_parsed()


# Metadata the API server owns; never echoed back as desired state.
_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


def _as_desired(observed: Mapping[str, Any]) -> dict[str, Any]:
    """An observed composed resource, re-emitted unchanged (no status, no server metadata).

    A Secret's ``data`` is echoed only under the keys the function composes
    (``resources.COMPOSED_SECRET_KEYS``) and ``stringData`` never: an observed master Secret
    carries the password the provider wrote, which must not reach the answer (nor its cache).
    """
    body = {k: v for k, v in observed.items() if k != "status"}
    meta = {k: v for k, v in (observed.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    if meta:
        body["metadata"] = meta
    if Kind(_text(observed.get("apiVersion")), _text(observed.get("kind"))) == SECRET:
        body.pop("stringData", None)
        data = observed.get("data")
        kept = (
            {k: v for k, v in data.items() if k in COMPOSED_SECRET_KEYS}
            if isinstance(data, Mapping)
            else {}
        )
        body.pop("data", None)
        if kept:
            body["data"] = kept
    return body


def _encode(
    req: fnv1.RunFunctionRequest,
    rsp: fnv1.RunFunctionResponse,
    out: Rendered,
    observed: Mapping[str, ObservedResource],
) -> None:
    resources = out.resources
    if out.keep_desired:
        resources = {name: _as_desired(o.resource) for name, o in observed.items()}
    desired = rsp.desired.resources
    for name, body in resources.items():
        target = desired[name]
        target.resource.Clear()
        fill_struct(target.resource, body)
        ready = name in observed and _is_ready(observed[name])
        target.ready = fnv1.READY_TRUE if ready else fnv1.READY_FALSE
    if out.waiting:
        # crossplane v2.3.4 internal/controller/apiextensions/composite/reconciler.go
        # (Reconcile): the XR is Available unless a composed resource is unready, and an
        # explicit desired composite readiness supersedes that. A claim that waits composes
        # nothing new (or keeps what it has, all of it possibly ready), so it says so itself.
        # Otherwise the derived rule stands: each desired resource carries its readiness
        # (above), any unready one makes the XR Creating with "Unready resources: ...".
        rsp.desired.composite.ready = fnv1.READY_FALSE
    if out.status:
        fill_struct(rsp.desired.composite.resource, {"status": out.status})
    for key, value in out.connection_details.items():
        rsp.desired.composite.connection_details[key] = value
    for r in out.results:
        _result(rsp, r)
    for c in out.conditions:
        _condition(rsp, c)
    _requirements(rsp, out.requirements)


def _requirements(rsp: fnv1.RunFunctionResponse, requirements: Mapping[str, Requirement]) -> None:
    """Ask for ``requirements``; none asked leaves ``rsp.requirements`` unset, which the
    previous iteration's none equals (``proto.Equal(nil, nil)``): the loop stops there."""
    for name, q in requirements.items():
        sel = fnv1.ResourceSelector(api_version=q.api_version, kind=q.kind)
        if q.match_name is not None:
            sel.match_name = q.match_name
        else:
            sel.match_labels.labels.update(dict(q.match_labels or {}))
        if q.namespace is not None:
            sel.namespace = q.namespace
        # Only the v2 field: every Crossplane v2 reads it (internal/xfn/required_resources.go
        # since v2.0.0); also asking through the deprecated extra_resources made Crossplane
        # fetch each twice and call again even when seeded with them (master after v2.3.4).
        rsp.requirements.resources[name].CopyFrom(sel)


def _is_ready(observed: ObservedResource) -> bool:
    """Ready as its provider says it: the ``Ready`` condition, or what a kind without one
    publishes instead (``resources.READINESS``)."""
    return bool(observed.derive("fn.ready", lambda: _readiness(observed.resource)))


def _readiness(body: Mapping[str, Any]) -> bool:
    kind = Kind(_text(body.get("apiVersion")), _text(body.get("kind")))
    if readiness(kind) == READY_WHEN_EXISTS:
        return not dig(body, "metadata.deletionTimestamp")
    return is_ready(body)


def _result(rsp: fnv1.RunFunctionResponse, r: Result) -> None:
    target = fnv1.TARGET_COMPOSITE_AND_CLAIM if r.claim else fnv1.TARGET_COMPOSITE
    msg = fnv1.Result(severity=_SEVERITY[r.severity], message=r.message, target=target)
    if r.reason:
        msg.reason = r.reason
    rsp.results.append(msg)


def _condition(rsp: fnv1.RunFunctionResponse, c: Condition) -> None:
    cond = fnv1.Condition(
        type=c.type,
        status=fnv1.STATUS_CONDITION_TRUE if c.status else fnv1.STATUS_CONDITION_FALSE,
        reason=c.reason,
        target=fnv1.TARGET_COMPOSITE_AND_CLAIM,
    )
    if c.message:
        cond.message = c.message
    rsp.conditions.append(cond)
