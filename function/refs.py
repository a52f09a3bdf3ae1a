"""References between claims of one namespace, and saying plainly what a claim waits for.

A binding names its instance (``spec.instanceRef``), a Backup its PostgresqlInstance, a
restore its Backup or source instance. The function asks Crossplane for the referenced
claim's XR through a requirement on the claim labels, and until it can use it, says so as a
Warning result and a False condition.
"""

from __future__ import annotations

from typing import Any

from function.core import (
    CLAIM_API_VERSION,
    CLAIM_NAME_LABEL,
    CLAIM_NAMESPACE_LABEL,
    Condition,
    InputError,
    Rendered,
    Request,
    Requirement,
    Result,
    Severity,
    dig,
)

DEPENDENCY_CONDITION = "DependencyReady"
WAITING_REASON = "WaitingForDependency"


def claim_namespace(req: Request, field: str) -> str:
    """The claim's namespace; references are resolved in it."""
    ns = req.claim_namespace
    if not ns:
        raise InputError(
            f"{field}: references a claim in the same namespace, but this composite resource "
            f"has no {CLAIM_NAMESPACE_LABEL} label; create it through its namespaced claim"
        )
    return ns


def claim_xr_requirement(kind: str, name: str, namespace: str) -> Requirement:
    """The XR of claim ``name`` (of XR kind ``kind``) in ``namespace``."""
    return Requirement(
        api_version=CLAIM_API_VERSION,
        kind=kind,
        match_labels={CLAIM_NAME_LABEL: name, CLAIM_NAMESPACE_LABEL: namespace},
    )


def required_one(req: Request, key: str) -> tuple[bool, dict[str, Any] | None]:
    """(resolved, resource): whether Crossplane answered requirement ``key``, and what it found."""
    if key not in req.required:
        return False, None
    items = sorted(req.required[key], key=lambda d: str(dig(d, "metadata.name")))
    return True, (items[0] if items else None)


def waiting(
    out: Rendered,
    what: str,
    reason: str = WAITING_REASON,
    condition: str = DEPENDENCY_CONDITION,
) -> None:
    """Say what the claim waits for, as a Warning result and a False condition."""
    out.results.append(Result(Severity.WARNING, what, reason))
    out.conditions.append(Condition(condition, False, reason, what))


def find_claim(
    req: Request, out: Rendered, xr_kind: str, name: str, *, field: str, key: str
) -> tuple[str, dict[str, Any] | None]:
    """Require the XR of claim ``name`` (XR kind ``xr_kind``) of this claim's namespace.

    Returns ``(where, xr)``: ``where`` names the claim for messages; ``xr`` is None, with the
    waiting said, until Crossplane resolved the requirement and the claim exists. The
    requirement is always added, so Crossplane keeps resolving it on every call.
    """
    ns = claim_namespace(req, field)
    out.requirements[key] = claim_xr_requirement(xr_kind, name, ns)
    resolved, xr = required_one(req, key)
    where = f"{xr_kind.removeprefix('X')} {name} in namespace {ns}"
    if not resolved:
        waiting(out, f"waiting for {where}")
    elif xr is None:
        waiting(out, f"waiting for {where}: it does not exist ({field})")
    return where, xr
