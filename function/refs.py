"""References between claims of one namespace: the one way to require a referenced claim,
wait for it, and say so.

A binding names its instance (``spec.instanceRef: my-db``), a Backup its PostgresqlInstance, a
restore its Backup or source instance. ``depend`` asks Crossplane for the referenced claim's XR
(a requirement on the claim labels, added on every call so Crossplane keeps resolving it) and
returns what that XR publishes once it is Ready. Until then it says what the claim waits for,
as a Warning result and ``DependencyReady=False``; once satisfied, ``DependencyReady=True``.
``keep_while_waiting`` is the one rule for what exists meanwhile: it stays as it is.

``usage`` keeps the referenced claim's XR from being deleted while this claim still needs it
(a Crossplane ``ClusterUsage``; see its docstring for why cluster-scoped and how it orders
deletion).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from function.resources import CLUSTER_USAGE, Kind

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
    asked = requirement(kind, name, ns)
    out.requirements[key] = asked
    where = f"{kind.claim_kind} {name} in namespace {ns}"
    if key not in req.required:
        waiting(out, f"waiting for {where}")
        return None
    items = req.required[key]
    if not_asked(items, asked):
        waiting(out, f"waiting for {where}: {NOT_ASKED}")
        return None
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
    asked = Requirement(
        api_version=kind.api_version,
        kind=kind.xr_kind,
        match_labels={CLAIM_NAMESPACE_LABEL: ns},
    )
    out.requirements[key] = asked
    what = f"the {kind.claim_kind} claims of namespace {ns}"
    if key not in req.required:
        if not quiet:
            waiting(out, f"waiting for {what} ({field})")
        return None
    items = req.required[key]
    if not_asked(items, asked):
        waiting(out, f"waiting for {what} ({field}): {NOT_ASKED}")
        return None
    return [xr for xr in items if isinstance(xr, dict)]


# Said while what Crossplane sent under a requirement is not what was asked.
NOT_ASKED = "a resource that does not match what was asked arrived for it"


def not_asked(items: list[Any], asked: Requirement) -> bool:
    """True when any of ``items`` is not what ``asked`` selects (``Requirement.selects``):
    then the claim waits and renders nothing from them (issue 27 item 10)."""
    return not all(asked.selects(item) for item in items)


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


def unresolved(required: Mapping[str, object], out: Rendered) -> list[str]:
    """The requirements ``out`` asks for that the request does not hold yet (sorted).

    Crossplane throws away an answer that asks for any of them (crossplane v2.3.4
    ``internal/xfn/required_resources.go``: each call's request holds what the previous answer
    asked for, so a new name makes the requirements differ and it fetches and calls again):
    ``fn.py`` answers only the requirements then, and a renderer may stop at this point."""
    return sorted(k for k in out.requirements if k not in required)


def waiting(out: Rendered, what: str, reason: str = WAITING_REASON) -> None:
    """Say what the claim waits for, as a Warning result and ``DependencyReady=False``; the
    XR is then not ready (``Rendered.waiting``)."""
    out.waiting = True
    out.results.append(Result(Severity.WARNING, what, reason))
    out.conditions.append(Condition(DEPENDENCY_CONDITION, False, reason, what))


def satisfied(out: Rendered, what: str) -> None:
    """Say that what the claim depends on is there: ``DependencyReady=True``."""
    out.conditions.append(Condition(DEPENDENCY_CONDITION, True, AVAILABLE_REASON, what))


def keep_while_waiting(req: Request, out: Rendered) -> Rendered:
    """While a dependency is unavailable, everything the claim already has stays as it is
    (re-emitted unchanged: nothing is deleted, nothing re-pointed), and the XR is not ready."""
    out.waiting = True
    out.keep_desired = bool(req.observed)
    return out


# On the composed resource a ClusterUsage names as its user (``spec.by``), so the Usage
# selects exactly that one among the XR's resources of its kind.
USES_LABEL = "klutch.anynines.com/uses"


def usage(
    of: ClaimKind, xr_name: str, *, by: tuple[Kind, str] | None = None, reason: str = ""
) -> dict[str, Any]:
    """A ClusterUsage: Crossplane refuses to delete the XR ``xr_name`` of kind ``of`` while
    this Usage exists. ``by`` is ``(kind, key)`` of this claim's composed resource that needs it
    (labelled with ``user_label(key)``), else ``reason`` says why.

    Cluster-scoped: our XRs are legacy cluster-scoped XRs, and Crossplane v2.3.4 finds the
    Usages of an object by ``apiVersion.kind.name.namespace`` (``internal/protection/usage/
    finder.go`` ``indexVal``): a namespaced Usage indexes its ``of`` under its own namespace, so
    it never matches a cluster-scoped XR, whose namespace is empty; a ClusterUsage indexes with
    "". The admission webhook (``internal/webhook/protection/usage/handler.go``) refuses to
    delete an object labelled ``crossplane.io/in-use`` while a Usage names it; the claim's
    controller keeps retrying its delete.

    With ``by``, a composed Usage being deleted waits until its ``by`` resource is gone
    (``internal/controller/protection/usage/reconciler.go``: "Waiting for the using resource"),
    so the referenced XR outlives that resource's own deletion (a provider-sql Role drops itself
    through the instance's ProviderConfig and master Secret). Without ``by`` it goes at once.
    ``replayDeletion``: a deletion refused meanwhile is replayed when the last Usage goes, so the
    XR does not wait for the next retry of its claim's controller (or forever, if no claim).
    """
    spec: dict[str, Any] = {
        "of": {
            "apiVersion": of.api_version,
            "kind": of.xr_kind,
            "resourceRef": {"name": xr_name},
        },
        "replayDeletion": True,
    }
    if by is not None:
        kind, key = by
        spec["by"] = {
            "apiVersion": kind.api_version,
            "kind": kind.kind,
            "resourceSelector": {"matchControllerRef": True, "matchLabels": user_label(key)},
        }
    else:
        spec["reason"] = reason
    return {"apiVersion": CLUSTER_USAGE.api_version, "kind": CLUSTER_USAGE.kind, "spec": spec}


def user_label(key: str) -> dict[str, str]:
    """The label a ClusterUsage selects its ``by`` resource (composed as ``key``) with."""
    return {USES_LABEL: key}


def usage_key(key: str) -> str:
    """The composed-resource name of the ClusterUsage for composed resource ``key``."""
    return f"usage-{key}"


def used_by(out: Rendered, of: ClaimKind, xr_name: str, key: str) -> None:
    """Make the composed resource ``key`` a user of the XR ``xr_name``: label it and add its
    ClusterUsage (``usage_key(key)``)."""
    body = out.resources[key]
    meta = body.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **user_label(key)}
    kind = Kind(body["apiVersion"], body["kind"])
    out.resources[usage_key(key)] = usage(of, xr_name, by=(kind, key))


def xr_name(found: Found[Any]) -> str:
    """The referenced XR's name (set by the API server; checked, as all input)."""
    name = (found.xr.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{found.where}: its composite resource has no name")
    return name
