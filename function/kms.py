"""Customer-managed KMS keys, shared by every claim that encrypts with one.

The claim API (``encryption: {type, key: {managed: {alias} | existing: {id}}}``) is the same
for buckets and databases; so is the managed Key + Alias pair and how the alias the key was
created with is read back for the immutable-field guard.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from function import names
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

KMS_KEY_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:kms:[a-z0-9-]+:[0-9]{12}:key/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManagedKey(_Strict):
    alias: str | None = Field(default=None, pattern=r"^[A-Za-z0-9/_-]{1,250}$")

    @field_validator("alias")
    @classmethod
    def _not_aws_reserved(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("aws/") or value.startswith("alias/")):
            raise ValueError("must not start with 'aws/' (reserved by AWS) or 'alias/'")
        return value


class ExistingKey(_Strict):
    id: str

    @field_validator("id")
    @classmethod
    def _kms_key_arn(cls, value: str) -> str:
        if not KMS_KEY_ARN.match(value):
            raise ValueError("must be a KMS key ARN: arn:aws:kms:<region>:<account>:key/<key-id>")
        return value


class EncryptionKey(_Strict):
    managed: ManagedKey | None = None
    existing: ExistingKey | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EncryptionKey:
        if (self.managed is None) == (self.existing is None):
            raise ValueError("set exactly one of 'managed' or 'existing'")
        return self


class Encryption(_Strict):
    type: Literal["aes256", "kms"] = "aes256"
    key: EncryptionKey | None = None

    @model_validator(mode="after")
    def _key_only_for_kms(self) -> Encryption:
        if self.type == "kms" and self.key is None:
            raise ValueError("type 'kms' requires 'key' with 'managed' or 'existing'")
        if self.type == "aes256" and self.key is not None:
            raise ValueError("'key' is only allowed with type 'kms'")
        return self


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
            settings,
            {
                "region": region,
                "description": description,
                "enableKeyRotation": True,
                "deletionWindowInDays": KMS_DELETION_WINDOW_DAYS,
                "tags": tags,
            },
            deletion_policy=deletion_policy,
        ),
        "kms-alias": managed(
            KMS_ALIAS,
            settings,
            {"region": region, "targetKeyIdSelector": controller_ref_selector()},
            deletion_policy=deletion_policy,
            external_name=_alias_external_name(
                req, names.managed_kms_alias(settings.namingPrefix, alias, req.claim_name, req.uid)
            ),
        ),
    }


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


def observed_managed_encryption(req: Request) -> Encryption:
    """The managed-key encryption the existing key was created with (its alias, if the
    claim named one rather than taking the generated one)."""
    alias = _observed_alias(req).removeprefix("alias/")
    generated = names.managed_kms_alias(req.settings.namingPrefix, None, req.claim_name, req.uid)
    user_alias = None if not alias or alias == generated.removeprefix("alias/") else alias
    return Encryption(type="kms", key=EncryptionKey(managed=ManagedKey(alias=user_alias)))
