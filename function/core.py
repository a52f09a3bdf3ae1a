"""Types and helpers shared by every renderer.

A renderer is a pure function ``render(req: Request) -> Rendered``: it reads the
observed composite resource (XR), the observed composed resources, the required
resources Crossplane fetched for it and the operator settings, and returns plain
dicts. It never touches protobuf; ``fn.py`` does the encoding.

Bad input is reported by raising ``InputError``; ``fn.py`` turns it into a fatal
result and leaves the desired state as it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pydantic

from function.convert import StructView
from function.memo import Memo
from function.settings import Settings

if TYPE_CHECKING:  # environment.py imports this module
    from function.environment import Environment

# Labels Crossplane puts on the XR of a claim.
CLAIM_NAME_LABEL = "crossplane.io/claim-name"
CLAIM_NAMESPACE_LABEL = "crossplane.io/claim-namespace"


class InputError(Exception):
    """The claim (or the function input) is invalid. The message names the field."""


class Severity(Enum):
    """How a result is shown: as a Normal or Warning event, or Fatal (the pipeline stops)."""

    NORMAL = "Normal"
    WARNING = "Warning"
    FATAL = "Fatal"


@dataclass(frozen=True)
class Result:
    """An event-like message for the XR (and its claim)."""

    severity: Severity
    message: str
    reason: str | None = None
    # False: an event on the composite resource only (cluster-scoped: the operator's), never
    # on the claim (crossplane v2.3.4 composition_functions.go: a result's target decides).
    claim: bool = True


@dataclass(frozen=True)
class Condition:
    """A custom status condition on the XR (never ``Ready``: Crossplane owns it)."""

    type: str
    status: bool
    reason: str
    message: str | None = None


@dataclass(frozen=True)
class Requirement:
    """Ask Crossplane for resources; they arrive in ``Request.required[name]``."""

    api_version: str
    kind: str
    match_labels: Mapping[str, str] | None = None
    match_name: str | None = None
    namespace: str | None = None

    def selects(self, resource: Any) -> bool:
        """True when ``resource`` is one this requirement asks for: its apiVersion and kind,
        its name (``match_name``) or every label of ``match_labels``, its namespace.

        Crossplane fetches exactly such resources (crossplane v2.3.4
        ``internal/xfn/required_resources.go`` ``ExistingRequiredResourcesFetcher.Fetch``:
        ``Get`` by name, else ``List`` with ``MatchingLabels`` and ``InNamespace``), but what
        arrives under a requirement's name is input like any other: checked, never trusted.
        """
        if not isinstance(resource, Mapping):
            return False
        if resource.get("apiVersion") != self.api_version or resource.get("kind") != self.kind:
            return False
        meta = resource.get("metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        if self.match_name is not None and meta.get("name") != self.match_name:
            return False
        labels = meta.get("labels")
        labels = labels if isinstance(labels, Mapping) else {}
        if any(labels.get(k) != v for k, v in (self.match_labels or {}).items()):
            return False
        return self.namespace is None or meta.get("namespace") == self.namespace


@dataclass(frozen=True)
class ObservedResource:
    """A composed resource as Crossplane observed it."""

    resource: Mapping[str, Any]
    connection_details: Mapping[str, bytes] = field(default_factory=dict)
    # Values derived from this resource alone, kept with it by whoever derives them (name ->
    # value). ``fn.py`` shares one ObservedResource between requests that observe the same
    # bytes, so a pure function of the resource is computed once, not on every call.
    derived: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def ready(self) -> bool:
        """Its provider reports ``Ready=True``."""
        return bool(self.derive("ready", lambda: is_ready(self.resource)))

    def derive(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``, a pure function of this resource, computed once and kept as ``name``."""
        derived = self.derived
        if name not in derived:
            derived[name] = make()
        return derived[name]


@dataclass(frozen=True)
class Request:
    """Everything a renderer may read."""

    xr: Mapping[str, Any]
    settings: Settings
    observed: Mapping[str, ObservedResource] = field(default_factory=dict)
    # name -> resources; a name is absent until Crossplane resolved the requirement.
    required: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The operator's EnvironmentConfig (``environment.read``); ``fn.py`` renders no claim
    # without it.
    env: Environment | None = None

    # Values derived from this request alone (name -> value), computed once per render.
    derived: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def derive(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``, a pure function of this request, computed once and kept as ``name``."""
        derived = self.derived
        if name not in derived:
            derived[name] = make()
        return derived[name]

    @property
    def environment(self) -> Environment:
        """The account and environment settings (the EnvironmentConfig's data)."""
        if self.env is None:
            raise InputError("the EnvironmentConfig was not read")
        return self.env

    @property
    def provider_config(self) -> str:
        """The provider-upjet-aws ProviderConfig of this claim's AWS managed resources."""
        return self.environment.provider_config_name(self.claim_namespace)

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The XR's metadata; empty when absent or not an object (never trust the request)."""
        meta = self.xr.get("metadata")
        return meta if isinstance(meta, Mapping) else {}

    @property
    def labels(self) -> Mapping[str, Any]:
        """The XR's labels; empty when absent or not an object."""
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, Mapping) else {}

    @property
    def uid(self) -> str:
        """Seed of every generated name: the XR's uid, or its name before it has one."""
        meta = self.metadata
        return _text(meta.get("uid")) or _text(meta.get("name"))

    @property
    def claim_name(self) -> str:
        """The claim's name (label ``crossplane.io/claim-name``), else the XR's name."""
        return _text(self.labels.get(CLAIM_NAME_LABEL)) or _text(self.metadata.get("name"))

    @property
    def claim_namespace(self) -> str | None:
        """The claim's namespace (label ``crossplane.io/claim-namespace``), or None."""
        return _text(self.labels.get(CLAIM_NAMESPACE_LABEL)) or None

    def observed_field(self, name: str, path: str) -> Any:
        """A field of an observed composed resource, or None."""
        res = self.observed.get(name)
        return dig(res.resource, path) if res else None


@dataclass
class Rendered:
    """What a renderer wants: plain dicts, encoded by ``fn.py``."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    connection_details: dict[str, bytes] = field(default_factory=dict)
    requirements: dict[str, Requirement] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    # When set, ``resources`` is ignored and every observed composed resource is
    # re-emitted unchanged, so nothing is deleted while a dependency is unavailable.
    keep_desired: bool = False


def _text(value: Any) -> str:
    """A string from the request, or "" (``str()`` of an object is not stable: key order)."""
    return value if isinstance(value, str) else ""


def dig(obj: Any, path: str) -> Any:
    """``dig(d, "status.atProvider.arn")``: the value at a dotted path, or None."""
    if isinstance(obj, StructView):
        return obj.dig(path)
    for part in path.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def is_ready(resource: Mapping[str, Any]) -> bool:
    """True when the resource reports the condition ``Ready=True``."""
    for cond in dig(resource, "status.conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def short_hash(seed: str, length: int = 8) -> str:
    """A stable lowercase hex digest of ``seed``: the suffix of generated names."""
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


M = TypeVar("M", bound=pydantic.BaseModel)


# Validated models by (model, the data's JSON text): a claim's spec is the same on nearly
# every call (a status update changes none of it). Every model parsed here is frozen, and
# validation is a pure function of the data, so one instance serves every equal spec.
# Failures are not kept (each raises afresh). Cost: the key's length times PARSED_COST_FACTOR,
# a validated model's objects against its JSON (measured with tracemalloc: under 8).
PARSED_MEMO_BYTES = 256 * 1024
PARSED_COST_FACTOR = 8
_PARSED: Memo[Any] = Memo(PARSED_MEMO_BYTES)
_dumps = json.JSONEncoder(check_circular=False, separators=(",", ":")).encode


def parse(model: type[M], data: Any, root: str) -> M:
    """Validate ``data`` as ``model``; on failure raise InputError naming the field."""
    data = data if data is not None else {}
    try:
        key = f"{model.__module__}.{model.__qualname__}\0{_dumps(data)}"
    except (TypeError, ValueError):  # not JSON text: validate without the memo
        key = None
    kept = _PARSED.get(key) if key is not None else None
    if kept is not None:
        return cast(M, kept)
    try:
        value = model.model_validate(data)
    except pydantic.ValidationError as err:
        raise InputError(describe(err, root)) from None
    if key is not None and value.model_config.get("frozen"):
        _PARSED.put(key, value, PARSED_COST_FACTOR * len(key))
    return value


def clear_parsed() -> None:
    """Forget every kept model (tests compare against a fresh render)."""
    _PARSED.clear()


def describe(err: pydantic.ValidationError, root: str) -> str:
    """One line per problem: ``spec.plan: Input should be 'standard', ... (got 'gold')``."""
    lines = []
    for e in err.errors(include_url=False):
        loc = ".".join([root, *(str(p) for p in e["loc"] if p != "__root__")]).rstrip(".")
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {_clip(got)!r})"
        if e["type"] == "missing":
            shown = ""
        lines.append(f"{loc}: {msg}{shown}")
    return "; ".join(lines)


def _clip(value: Any, limit: int = 64) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "..."
    return value
