"""The master password Secret of a PostgresqlInstance: composed here, filled by the provider,
kept with an orphaned database.

Why the function composes it (issue 16 item 6). The rds Instance asks the provider to
generate its master password (``autoGeneratePassword: true``) into the Secret its
``passwordSecretRef`` names. provider-upjet-aws v2.6.0 ``config/cluster/common/common.go``
``PasswordGenerator`` (wired to the Instance in ``config/cluster/rds/config.go`` with
``spec.forProvider.passwordSecretRef``) fills that Secret and, only when it did not exist
(``!meta.WasCreated(s)``: "We don't want to own the Secret if it is created by someone else"),
makes the MR its owner (``meta.AsOwner``: no controller flag). A Secret the provider created
is therefore garbage-collected with the MR, also under ``deletionPolicy: Orphan``.

So this module renders that Secret itself, before the Instance exists (``instance_may_render``):
- with no password in it (the provider writes ``password``; the function's desired state,
  its answer cache and its logs never see one), only what makes a kept Secret useful:
  ``COMPOSED_SECRET_KEYS`` (the master user name and the database name) and labels and
  annotations naming the claim, the DB identifier and the region;
- Crossplane adds its controller reference to the owner references rendered here (crossplane
  v2.3.4 ``internal/controller/apiextensions/composite/composition_render.go``
  ``RenderComposedResourceMetadata``: ``meta.AddControllerReference``; "Cluster scoped XRs can
  compose cluster scoped resources, or resources in any namespace"), and server-side applies
  it ("it will merge rather than replace owner references", ``composition_functions.go``);
- with ``deletionPolicy: Orphan`` one more owner, not a controller: the Namespace the Secret
  lives in (``namespace_owner``). Kubernetes garbage-collects a dependent only once every owner
  is gone (``ObjectMeta.ownerReferences``: "If ALL objects in the list have been deleted, this
  object will be garbage collected"; kubernetes ``pkg/controller/garbagecollector/
  garbagecollector.go`` ``attemptToDeleteItem``: an item with an existing owner is not
  collected, only its dangling references are removed). A namespaced dependent may name a
  cluster-scoped owner. Deleting the XR only removes Crossplane's finalizer (crossplane v2.3.4
  ``internal/controller/apiextensions/composite/reconciler.go``) and leaves the rest to that
  garbage collector, so the Secret outlives the XR and the MR and goes with its namespace.
  With ``Delete`` or ``SnapshotAndDelete`` there is no such owner: the Secret goes with the XR.

An install from before this module: the provider created the Secret and owns it. Once
composed, Crossplane's apply adds the XR as controller next to the MR's entry, and with
``Orphan`` the Namespace entry keeps it.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from function.core import InputError, Rendered, Request, Requirement, Result, Severity, dig
from function.refs import keep_while_waiting, not_asked
from function.resources import NAMESPACE, SECRET

# The composed-resource name of the Secret.
KEY: Final = "master-secret"
# The key the provider writes the password under (the Instance's passwordSecretRef.key).
PASSWORD_KEY: Final = "password"
# The requirement for the Namespace of the internal Secrets (with deletionPolicy Orphan).
NAMESPACE_REQUIREMENT: Final = "internal-secret-namespace"
WAITING_REASON: Final = "WaitingForNamespace"

PURPOSE_LABEL: Final = "klutch.anynines.com/secret"
PURPOSE: Final = "postgresql-master"
IDENTIFIER_LABEL: Final = "klutch.anynines.com/db-identifier"
REGION_LABEL: Final = "klutch.anynines.com/region"
CLAIM_ANNOTATION: Final = "klutch.anynines.com/claim"
KEPT_ANNOTATION: Final = "klutch.anynines.com/kept-with-namespace"


def password_secret_ref(name: str, namespace: str) -> dict[str, str]:
    """The Instance's ``passwordSecretRef``: this Secret, key ``password``."""
    return {"name": name, "namespace": namespace, "key": PASSWORD_KEY}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(
    name: str,
    namespace: str,
    *,
    username: str,
    database: str,
    identifier: str,
    region: str,
    claim: str,
    owner: dict[str, str] | None,
) -> dict[str, Any]:
    """The Secret, without a password: the provider fills ``password`` in.

    ``owner``: the Namespace's owner reference (``namespace_owner``) with deletionPolicy
    Orphan, else None.
    """
    # Only keys of resources.COMPOSED_SECRET_KEYS: fn.py echoes nothing else of a Secret.
    data = {"username": _b64(username), "dbname": _b64(database)}
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {PURPOSE_LABEL: PURPOSE, IDENTIFIER_LABEL: identifier, REGION_LABEL: region},
        "annotations": {
            CLAIM_ANNOTATION: claim,
            KEPT_ANNOTATION: "true" if owner is not None else "false",
        },
    }
    if owner is not None:
        meta["ownerReferences"] = [owner]
    return {
        "apiVersion": SECRET.api_version,
        "kind": SECRET.kind,
        "metadata": meta,
        "type": "Opaque",
        "data": data,
    }


def namespace_requirement(namespace: str) -> Requirement:
    """The Namespace ``namespace``, by name (cluster-scoped: no namespace in the selector)."""
    return Requirement(api_version=NAMESPACE.api_version, kind=NAMESPACE.kind, match_name=namespace)


def namespace_uid(req: Request, out: Rendered, namespace: str, key: str) -> tuple[bool, str | None]:
    """Ask for the Namespace ``namespace`` under ``key`` (on every call): whether Crossplane
    brought what was asked (False until then, or when what arrived is another object: issue
    27 item 10), and its uid (None when it does not exist)."""
    asked = namespace_requirement(namespace)
    out.requirements[key] = asked
    items = req.required.get(key)
    if items is None or not_asked(items, asked):
        return False, None
    uid = dig(items[0], "metadata.uid") if items else None
    return True, uid if isinstance(uid, str) and uid else None


def namespace_reference(namespace: str, uid: str) -> dict[str, str]:
    """An owner reference to the Namespace ``namespace`` (a second, non-controller owner)."""
    return {
        "apiVersion": NAMESPACE.api_version,
        "kind": NAMESPACE.kind,
        "name": namespace,
        "uid": uid,
    }


def namespace_owner(req: Request, out: Rendered, namespace: str) -> dict[str, str] | None:
    """The owner reference to the Namespace ``namespace``; None until Crossplane resolved it.
    A Namespace that does not exist is an ``InputError`` naming the setting: the internal
    Secrets need it."""
    resolved, uid = namespace_uid(req, out, namespace, NAMESPACE_REQUIREMENT)
    if not resolved:
        return None
    if uid is None:
        raise InputError(
            f"input internalSecretNamespace: the namespace {namespace!r} does not exist; "
            "create it (it holds the internal Secrets)"
        )
    return namespace_reference(namespace, uid)


def waiting(req: Request, out: Rendered, namespace: str) -> Rendered:
    """While the Namespace is not resolved: say so and keep everything as it is."""
    out.results.append(
        Result(Severity.WARNING, f"waiting for the Namespace {namespace}", WAITING_REASON)
    )
    return keep_while_waiting(req, out)


def instance_may_render(req: Request, instance_key: str) -> bool:
    """The Instance ``instance_key`` is rendered once the Secret is observed, so the provider
    finds it and fills it without owning it; an Instance that exists is never withheld (an
    install from before this module, or a Secret deleted by hand: Crossplane re-creates it)."""
    return instance_key in req.observed or KEY in req.observed


__all__ = [
    "CLAIM_ANNOTATION",
    "IDENTIFIER_LABEL",
    "KEPT_ANNOTATION",
    "KEY",
    "NAMESPACE_REQUIREMENT",
    "PASSWORD_KEY",
    "PURPOSE",
    "PURPOSE_LABEL",
    "REGION_LABEL",
    "instance_may_render",
    "namespace_owner",
    "namespace_requirement",
    "password_secret_ref",
    "secret",
    "waiting",
]
