"""THE permission table of object storage bindings, and the IAM policies built from it.

A binding has a bucket-wide level and up to ten scoped prefixes, each with its own level.
An object whose key starts with a scoped prefix gets that entry's level instead of the
bucket-wide one, whether it is narrower or wider. The policy set is built so this holds
under AWS's evaluation logic (an explicit Deny wins over any Allow):

1. ``Allow`` the bucket-wide object actions on ``<bucket>/*``.
2. Per scoped prefix that is *wider* (grants an action the bucket-wide level lacks):
   ``Allow`` that entry's object actions on ``<bucket>/<prefix>*``.
3. Per scoped prefix that is *narrower* (lacks an action the bucket-wide level has):
   ``Deny`` with ``NotAction`` = that entry's object actions on ``<bucket>/<prefix>*``
   (or ``Deny`` the bucket-wide actions when the entry has no object actions at all).
   ``NotAction`` keeps this exact even for the ``s3:*Object`` wildcard of ``admin``.

So for a key under prefix ``p`` the allowed set is ``(A(L0) | A(Lp)) - (everything but A(Lp))
= A(Lp)``, and for any other key only statement 1 matches: ``A(L0)``. Prefixes never nest
or repeat (the binding model rejects that), so at most one scoped entry matches a key.

Listing follows the same rule through the ``s3:prefix`` condition of ``s3:ListBucket``: a
list request whose ``prefix`` parameter starts with a scoped prefix gets that entry's level
(``Allow`` with ``StringLike`` when wider, ``Deny`` with ``StringLike`` when narrower). A
request with a shorter (or no) prefix is governed by the bucket-wide level; it may return
the *names* of keys under a scoped prefix, which IAM cannot filter.

KMS (SSE-KMS buckets): reading needs ``kms:Decrypt``; writing needs ``kms:GenerateDataKey``
and also ``kms:Decrypt``, because a multipart upload (which every SDK uses for large
objects) must decrypt the data key for each part. Both are granted on the bucket's key
only, and only through S3 (``kms:ViaService``), so ``kms:Decrypt`` never lets a writer read
an object: S3 only asks KMS on behalf of requests the S3 statements allowed. A KMS key
cannot be scoped per prefix (with S3 Bucket Keys the encryption context is the bucket), so
the key grant is the union of all levels in the binding.

Writing levels include ``s3:AbortMultipartUpload`` (SDKs abort a failed multipart upload,
and it only discards an unfinished upload; ``CreateMultipartUpload``, ``UploadPart`` and
``CompleteMultipartUpload`` are authorised by ``s3:PutObject``). Reading levels on the
``archiveflexible`` and ``archivedeep`` plans include ``s3:RestoreObject``, since objects in
those storage classes must be restored before ``GetObject`` works.

No statement uses ``s3:*``, ``iam:*`` or ``Resource: "*"``; every resource is the bound
bucket, its objects or its KMS key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

from function.claims import ARCHIVE_PLANS
from function.core import InputError

Level = Literal["listOnly", "readOnly", "writeOnly", "readWrite", "admin"]

# AWS: a managed policy document is at most 6,144 characters, whitespace not counted.
MAX_POLICY_CHARS = 6144
# AWS default quota: 10 managed policies attached to one IAM user.
MAX_POLICIES = 10

_LIST = ("s3:ListBucket",)
_READ = ("s3:GetObject",)
_WRITE = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")


@dataclass(frozen=True)
class Permission:
    """What one level grants."""

    bucket: tuple[str, ...]  # actions on the bucket ARN (listing)
    objects: tuple[str, ...]  # actions on object ARNs
    reads: bool  # reads object data (kms:Decrypt; s3:RestoreObject on archive plans)
    writes: bool  # writes object data (kms:GenerateDataKey + kms:Decrypt)


# THE permission table: level -> S3 actions (and, through reads/writes, KMS actions).
PERMISSIONS: dict[str, Permission] = {
    "listOnly": Permission(bucket=_LIST, objects=(), reads=False, writes=False),
    "readOnly": Permission(bucket=_LIST, objects=_READ, reads=True, writes=False),
    "writeOnly": Permission(bucket=(), objects=_WRITE, reads=False, writes=True),
    "readWrite": Permission(bucket=_LIST, objects=_READ + _WRITE, reads=True, writes=True),
    "admin": Permission(
        bucket=_LIST, objects=("s3:*Object", "s3:AbortMultipartUpload"), reads=True, writes=True
    ),
}

KMS_READ = ("kms:Decrypt",)
KMS_WRITE = ("kms:Decrypt", "kms:GenerateDataKey")
RESTORE = "s3:RestoreObject"


def object_actions(level: str, plan: str | None) -> tuple[str, ...]:
    """The object actions of ``level`` on a bucket of ``plan``, sorted."""
    p = PERMISSIONS[level]
    actions = set(p.objects)
    if p.reads and plan in ARCHIVE_PLANS and not _covered(RESTORE, actions):
        actions.add(RESTORE)
    return tuple(sorted(actions))


def kms_actions(levels: Sequence[str]) -> tuple[str, ...]:
    """The KMS actions the given levels need together, sorted."""
    out: set[str] = set()
    for level in levels:
        p = PERMISSIONS[level]
        if p.reads:
            out.update(KMS_READ)
        if p.writes:
            out.update(KMS_WRITE)
    return tuple(sorted(out))


def _covered(action: str, patterns: Sequence[str] | set[str]) -> bool:
    """True when ``patterns`` certainly include ``action`` (itself maybe a pattern)."""
    if action in patterns:
        return True
    return "*" not in action and any("*" in p and fnmatchcase(action, p) for p in patterns)


def _subset(a: Sequence[str], b: Sequence[str]) -> bool:
    return all(_covered(x, b) for x in a)


def s3_endpoint(region: str, arn_partition: str) -> str:
    """The regional S3 endpoint (China regions end in ``.com.cn``)."""
    suffix = "amazonaws.com.cn" if arn_partition == "aws-cn" else "amazonaws.com"
    return f"https://s3.{region}.{suffix}"


def _statement(
    sid: str,
    effect: str,
    key: str,
    actions: Iterable[str],
    resources: Sequence[str],
    *,
    condition: dict[str, Any] | None = None,
) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": sid, "Effect": effect, key: list(actions)}
    stmt["Resource"] = resources[0] if len(resources) == 1 else list(resources)
    if condition:
        stmt["Condition"] = condition
    return stmt


def _sid(level: str) -> str:
    return level[0].upper() + level[1:]


def statements(
    *,
    bucket_arn: str,
    level: str,
    scoped: Sequence[tuple[str, str]],
    plan: str | None,
    region: str,
    arn_partition: str,
    kms_key_arn: str | None,
) -> list[dict[str, Any]]:
    """Every statement of a binding, in a fixed order (see the module docstring)."""
    base = PERMISSIONS[level]
    base_objects = object_actions(level, plan)
    out: list[dict[str, Any]] = []
    if base.bucket:
        out.append(_statement("List", "Allow", "Action", base.bucket, [bucket_arn]))
    if base_objects:
        out.append(_statement("Objects", "Allow", "Action", base_objects, [f"{bucket_arn}/*"]))

    # Scoped prefixes, grouped by level so that each level costs one statement per kind.
    levels = sorted({lvl for _, lvl in scoped}, key=list(PERMISSIONS).index)
    for lvl in levels:
        prefixes = [p for p, entry_level in scoped if entry_level == lvl]
        objects = [f"{bucket_arn}/{p}*" for p in prefixes]
        acts = object_actions(lvl, plan)
        if acts and not _subset(acts, base_objects):
            out.append(_statement(f"Allow{_sid(lvl)}Prefixes", "Allow", "Action", acts, objects))
        if base_objects and not _subset(base_objects, acts):
            key, deny = ("NotAction", acts) if acts else ("Action", base_objects)
            out.append(_statement(f"Deny{_sid(lvl)}Prefixes", "Deny", key, deny, objects))
        listing = PERMISSIONS[lvl].bucket
        cond = {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}
        wider = [a for a in listing if not _covered(a, base.bucket)]
        narrower = [a for a in base.bucket if not _covered(a, listing)]
        if wider:
            out.append(
                _statement(
                    f"List{_sid(lvl)}Prefixes",
                    "Allow",
                    "Action",
                    wider,
                    [bucket_arn],
                    condition=cond,
                )
            )
        if narrower:
            out.append(
                _statement(
                    f"DenyList{_sid(lvl)}Prefixes",
                    "Deny",
                    "Action",
                    narrower,
                    [bucket_arn],
                    condition=cond,
                )
            )

    if kms_key_arn:
        kms = kms_actions([level, *(lvl for _, lvl in scoped)])
        via = {"StringEquals": {"kms:ViaService": s3_endpoint(region, arn_partition)[8:]}}
        out.append(_statement("BucketKey", "Allow", "Action", kms, [kms_key_arn], condition=via))
    return out


def compact(doc: dict[str, Any]) -> str:
    """Compact JSON, as AWS counts a policy's size."""
    return json.dumps(doc, separators=(",", ":"))


# A policy document is this head, its statements' compact JSON joined by commas, and the
# tail: exactly ``compact({"Version": ..., "Statement": [...]})``, so each statement is
# serialised once however the statements are packed.
_HEAD = '{"Version":"2012-10-17","Statement":['
_TAIL = "]}"


def split(stmts: list[dict[str, Any]], field: str = "spec.scopedAccess") -> list[str]:
    """Pack statements, in order, into as few policies of <= MAX_POLICY_CHARS as possible."""
    docs: list[list[str]] = []
    size = 0
    for part in (compact(stmt) for stmt in stmts):
        alone = len(_HEAD) + len(part) + len(_TAIL)
        if alone > MAX_POLICY_CHARS:
            raise InputError(
                f"{field}: a policy statement of this binding is longer than the "
                f"{MAX_POLICY_CHARS} characters AWS allows; use fewer or shorter prefixes"
            )
        if docs and size + 1 + len(part) <= MAX_POLICY_CHARS:
            docs[-1].append(part)
            size += 1 + len(part)
        else:
            docs.append([part])
            size = alone
    if len(docs) > MAX_POLICIES:
        raise InputError(
            f"{field}: the permissions need {len(docs)} IAM policies, more than the "
            f"{MAX_POLICIES} AWS attaches to one user; use fewer or shorter prefixes"
        )
    return [_HEAD + ",".join(d) + _TAIL for d in docs]


def policy_documents(**kw: Any) -> list[str]:
    """The binding's policy set as compact JSON strings (see ``statements`` for the args),
    Deny statements packed first (``deny_first``)."""
    return split(deny_first(statements(**kw)))


def deny_first(stmts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``stmts`` with every Deny before every Allow, each group in its own order.

    Split over several managed policies, the narrowing Denies then sit in the first policy
    (as far as they fit), never in a later one that is attached after the Allows it narrows:
    an explicit Deny wins only once it is attached (AWS IAM policy evaluation logic: "an
    explicit deny in any of these policies overrides the allow"). The binding also publishes
    its credentials only once every attachment is Ready
    (``objectstoragebinding.publishable``).
    """
    return [s for s in stmts if s["Effect"] == "Deny"] + [s for s in stmts if s["Effect"] != "Deny"]
