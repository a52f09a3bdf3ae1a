"""Customer-managed KMS keys, shared by every claim that encrypts with one.

The key of a claim (``key: {managed: {alias} | existing: {id}}``, modelled in ``claims.py``) is
the same for buckets and databases; so is the managed Key + Alias pair and how the alias the key
was created with is read back for the immutable-field guard.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from function import names
from function.claims import EncryptionKey, ManagedKey
from function.core import Request
from function.resources import (
    KMS_ALIAS,
    KMS_KEY,
    DeletionPolicy,
    controller_ref_selector,
    managed,
)
from function.settings import Settings

# A scheduled key deletion waits this long, so a mistake can be undone (AWS: 7-30).
KMS_DELETION_WINDOW_DAYS = 30
# The alias the claim asked for (``key.managed.alias``), on the Alias it is part of.
USER_ALIAS_ANNOTATION = "klutch.anynines.com/kms-alias"


def managed_key_resources(
    req: Request,
    settings: Settings,
    *,
    region: str,
    alias: str | None,
    description: str,
    tags: dict[str, str],
    deletion_policy: DeletionPolicy,
) -> dict[str, dict[str, Any]]:
    """A rotating KMS Key and its Alias (``kms-key``, ``kms-alias``); deletion waits 30 days."""
    return {
        "kms-key": managed(
            KMS_KEY,
            req.provider_config,
            {
                "region": region,
                "description": description,
                "enableKeyRotation": True,
                "deletionWindowInDays": KMS_DELETION_WINDOW_DAYS,
                "tags": tags,
            },
            deletion_policy=deletion_policy,
        ),
        "kms-alias": _alias_resource(req, settings, region, alias, deletion_policy),
    }


def _alias_resource(
    req: Request,
    settings: Settings,
    region: str,
    alias: str | None,
    deletion_policy: DeletionPolicy,
) -> dict[str, Any]:
    """The Alias: named from the claim's identity (``names.managed_kms_alias``), with the
    user's alias recorded, so the immutable-field guard reads back what the claim asked for."""
    who = names.identity(req)
    body = managed(
        KMS_ALIAS,
        req.provider_config,
        {"region": region, "targetKeyIdSelector": controller_ref_selector()},
        deletion_policy=deletion_policy,
        external_name=_alias_external_name(req, names.managed_kms_alias(who, alias)),
    )
    if alias and not who.legacy:
        body["metadata"]["annotations"][USER_ALIAS_ANNOTATION] = alias
    return body


def _observed_alias(req: Request) -> str:
    annotations = req.observed_field("kms-alias", "metadata.annotations") or {}
    return str(annotations.get("crossplane.io/external-name") or "")


def _alias_external_name(req: Request, wanted: str) -> str:
    """``wanted``, spelled as the provider spells it once the alias exists.

    upjet's ``kmsAlias()`` external name (provider-upjet-aws v2.6.0 ``config/externalname.go``)
    accepts ``alias/x`` or ``x`` but rewrites it to ``x`` after create; re-emitting ``alias/x``
    would make Crossplane and the provider rewrite the annotation on every reconcile.
    """
    observed = _observed_alias(req)
    same = observed.removeprefix("alias/") == wanted.removeprefix("alias/")
    return observed if observed and same else wanted


def observed_managed_key(req: Request) -> EncryptionKey:
    """The managed key the existing key was created with (its alias, if the claim named one
    rather than taking the generated one)."""
    who = names.identity(req)
    if not who.legacy:
        annotations = req.observed_field("kms-alias", "metadata.annotations") or {}
        try:
            return EncryptionKey(managed=ManagedKey(alias=annotations.get(USER_ALIAS_ANNOTATION)))
        except ValueError:  # not what we wrote: the generated alias
            return EncryptionKey(managed=ManagedKey())
    # Version 1: the alias was the user's alias as given, or the generated one.
    alias = _observed_alias(req).removeprefix("alias/")
    generated = names.managed_kms_alias(who, None).removeprefix("alias/")
    user_alias = None if not alias or alias == generated else alias
    return EncryptionKey(managed=ManagedKey(alias=user_alias))


def check_existing_keys(
    req: Request, keys: Iterable[EncryptionKey | None], region: str, field: str
) -> None:
    """Every existing key among ``keys`` (the one a claim asks for, and the one its resource
    already uses) must be in ``region`` (the resource's, kept when the claim edits it) and
    allowed by the environment; else InputError naming ``field`` (``check_kms_key``)."""
    for key in keys:
        if key and key.existing:
            req.environment.check_kms_key(key.existing.id, region, field)
