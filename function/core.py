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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The answer's types and the input check live one floor down (``answer.py``), so that
# ``environment.py`` can use them without importing this module; re-exported here.
from function.answer import (
    Condition,
    InputError,
    Rendered,
    Requirement,
    Result,
    Severity,
    clear_parsed,
    describe,
    parse,
)
from function.convert import StructView
from function.environment import Environment
from function.settings import Settings

__all__ = [
    "CLAIM_NAMESPACE_LABEL",
    "CLAIM_NAME_LABEL",
    "Condition",
    "InputError",
    "ObservedResource",
    "Rendered",
    "Request",
    "Requirement",
    "Result",
    "Severity",
    "clear_parsed",
    "describe",
    "dig",
    "is_ready",
    "parse",
    "short_hash",
]

# Labels Crossplane puts on the XR of a claim.
CLAIM_NAME_LABEL = "crossplane.io/claim-name"
CLAIM_NAMESPACE_LABEL = "crossplane.io/claim-namespace"


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
