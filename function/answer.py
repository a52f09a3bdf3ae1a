"""What a renderer answers, and how it refuses input.

``Rendered`` and its parts (``Requirement``, ``Result``, ``Condition``) are plain data that
``fn.py`` encodes; ``InputError`` is the one way to refuse a claim or a setting, and ``parse``
validates data with a pydantic model, naming the field that is wrong. This module is the
ground: it imports nothing of the package but ``memo``, so ``environment.py`` (which refuses
settings and answers while it waits) and ``core.py`` (whose ``Request`` carries the
``Environment``) both stand on it. ``core`` re-exports every name, so a renderer imports
what it needs from ``core`` alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar, cast

import pydantic

from function.memo import Memo


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
    # The claim waits for something (another claim, the EnvironmentConfig, a resource held back
    # until another is ready): ``fn.py`` then says the XR is not ready, whatever it keeps.
    waiting: bool = False


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
