"""References between claims of one namespace: the one way to require a referenced claim,
wait for it, and say so.

A binding names its instance (``spec.instanceRef: my-db``), a Backup its PostgresqlInstance, a
restore its Backup or source instance. ``depend`` asks Crossplane for the referenced claim's XR
(a requirement on the claim labels, added on every call so Crossplane keeps resolving it) and
returns what that XR publishes once it is Ready. Until then it says what the claim waits for,
as a Warning result and ``DependencyReady=False``; once satisfied, ``DependencyReady=True``.
``keep_while_waiting`` is the one rule for what exists meanwhile: it stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from function.claims import ClaimKind, Published
from function.core import (
    CLAIM_NAME_LABEL,
    CLAIM_NAMESPACE_LABEL,
    Condition,
    InputError,
    Rendered,
    Request,
    Requirement,
    Result,
    Severity,
    is_ready,
)

DEPENDENCY_CONDITION = "DependencyReady"
WAITING_REASON = "WaitingForDependency"
AVAILABLE_REASON = "Available"

P = TypeVar("P", bound=Published)


@dataclass(frozen=True)
class Found(Generic[P]):
    """A referenced claim's XR, Ready, and what its status publishes."""

    where: str
    xr: dict[str, Any]
    status: P


def claim_namespace(req: Request, field: str) -> str:
    """The claim's namespace; references are resolved in it."""
    ns = req.claim_namespace
    if not ns:
        raise InputError(
            f"{field}: references a claim in the same namespace, but this composite resource "
            f"has no {CLAIM_NAMESPACE_LABEL} label; create it through its namespaced claim"
        )
    return ns


def requirement(kind: ClaimKind, name: str, namespace: str) -> Requirement:
    """The XR of claim ``name`` (of ``kind``) in ``namespace``."""
    return Requirement(
        api_version=kind.api_version,
        kind=kind.xr_kind,
        match_labels={CLAIM_NAME_LABEL: name, CLAIM_NAMESPACE_LABEL: namespace},
    )


def depend(
    req: Request,
    out: Rendered,
    kind: ClaimKind,
    name: str,
    published: type[P],
    *,
    field: str,
    key: str,
    check: Callable[[Found[P]], str] | None = None,
) -> Found[P] | None:
    """Require claim ``name`` of ``kind`` in this claim's namespace; what it publishes once it
    is Ready, else None with the waiting said (``field`` names the referencing claim field).

    ``check``, when given, says what is still wrong with a Ready claim ("" when nothing is):
    the claim then waits for that too.
    """
    ns = claim_namespace(req, field)
    out.requirements[key] = requirement(kind, name, ns)
    where = f"{kind.claim_kind} {name} in namespace {ns}"
    if key not in req.required:
        waiting(out, f"waiting for {where}")
        return None
    items = req.required[key]
    if not items:
        waiting(out, f"waiting for {where}: it does not exist ({field})")
        return None
    if len(items) > 1:
        # One claim has one XR; more match while a deleted claim's XR is still going away
        # (or when someone else made one with the claim's labels): trust none of them.
        waiting(out, f"waiting for {where}: {len(items)} composite resources match, expected one")
        return None
    (xr,) = items
    return _ready(out, where, xr, published, check)


def _ready(
    out: Rendered,
    where: str,
    xr: dict[str, Any],
    published: type[P],
    check: Callable[[Found[P]], str] | None,
) -> Found[P] | None:
    if not is_ready(xr):
        waiting(out, f"waiting for {where}: it is not ready yet")
        return None
    status = published.read(xr)
    if status is None:
        waiting(out, f"waiting for {where}: its status is not complete yet")
        return None
    found = Found(where, xr, status)
    problem = check(found) if check else ""
    if problem:
        waiting(out, f"waiting for {where}: {problem}")
        return None
    satisfied(out, f"{where} is ready")
    return found


def namespace_claims(
    req: Request, out: Rendered, kind: ClaimKind, *, field: str, key: str, quiet: bool = False
) -> list[dict[str, Any]] | None:
    """Every XR of ``kind`` whose claim is in this claim's namespace (a requirement on the
    claim-namespace label, added on every call); None until Crossplane resolved it.

    For a field that names something by what a claim publishes (a snapshot ARN, a DB
    identifier) rather than by the claim's name: the caller picks the claim that vouches.
    ``quiet``: the caller says what it waits for itself.
    """
    ns = claim_namespace(req, field)
    out.requirements[key] = Requirement(
        api_version=kind.api_version,
        kind=kind.xr_kind,
        match_labels={CLAIM_NAMESPACE_LABEL: ns},
    )
    if key not in req.required:
        if not quiet:
            waiting(out, f"waiting for the {kind.claim_kind} claims of namespace {ns} ({field})")
        return None
    return [xr for xr in req.required[key] if isinstance(xr, dict)]


def depend_on(
    req: Request,
    out: Rendered,
    xr: dict[str, Any],
    published: type[P],
    *,
    field: str,
    check: Callable[[Found[P]], str] | None = None,
) -> Found[P] | None:
    """``depend`` for an XR already picked from ``namespace_claims``: what it publishes once
    it is Ready, else None with the waiting said."""
    labels = (xr.get("metadata") or {}).get("labels") or {}
    kind = str(xr.get("kind") or "").removeprefix("X")
    where = f"{kind} {labels.get(CLAIM_NAME_LABEL)} in namespace {claim_namespace(req, field)}"
    return _ready(out, where, xr, published, check)


def waiting(out: Rendered, what: str, reason: str = WAITING_REASON) -> None:
    """Say what the claim waits for, as a Warning result and ``DependencyReady=False``."""
    out.results.append(Result(Severity.WARNING, what, reason))
    out.conditions.append(Condition(DEPENDENCY_CONDITION, False, reason, what))


def satisfied(out: Rendered, what: str) -> None:
    """Say that what the claim depends on is there: ``DependencyReady=True``."""
    out.conditions.append(Condition(DEPENDENCY_CONDITION, True, AVAILABLE_REASON, what))


def keep_while_waiting(req: Request, out: Rendered) -> Rendered:
    """While a dependency is unavailable, everything the claim already has stays as it is
    (re-emitted unchanged: nothing is deleted, nothing re-pointed)."""
    out.keep_desired = bool(req.observed)
    return out
