"""moto's server over TLS, with the request context AWS gives a bucket policy over TLS.

    python -m tests.e2e.motoserver -H 127.0.0.1 -p PORT -c tls.crt -k tls.key

The arguments are moto's own (moto 5.2.5 ``moto/server.py`` ``main``: ``-c/--ssl-cert`` and
``-k/--ssl-key`` make werkzeug serve HTTPS only). One thing is added before it starts:

Every bucket the function renders has a policy denying requests made without TLS
(``function/objectstorage.py`` ``tls_only_policy``: ``Deny s3:*`` when ``Bool
aws:SecureTransport false``). AWS sets ``aws:SecureTransport`` to ``true`` for a request that
came over TLS (IAM User Guide, "AWS global condition context keys"), so that statement never
matches an HTTPS request. moto 5.2.5 denies every object request of such a bucket, over TLS
too: ``moto/s3/models.py`` ``FakeBucket.get_permission`` evaluates the bucket policy without
any request context, and ``moto/iam/policy_conditions.py`` ``TrustCondition.verify_condition``
treats an operator it does not know (only ``StringEquals`` is known, not ``Bool``) as
satisfied, so the Deny applies to every request (and ``IAMPolicyStatement.is_action_permitted``
in ``moto/iam/access_control.py`` answers DENIED for any statement whose condition fails, an
Allow's included).

So here a bucket policy is evaluated as AWS would for a request over TLS: a statement whose
``Bool`` condition on ``aws:SecureTransport`` does not hold for ``true`` does not apply (it is
left out); one whose condition holds loses that condition; every other statement and
condition goes to moto's own evaluation unchanged. This server speaks only TLS, so every
request it answers has ``aws:SecureTransport`` true. Nothing else of moto is changed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.models import FakeBucket
from moto.server import main as moto_main

SECURE_TRANSPORT = "aws:SecureTransport"
CONTEXT = {SECURE_TRANSPORT: "true"}  # what AWS sets for a request that came over TLS


def _bool_holds(expected: Any, actual: str) -> bool:
    """IAM's ``Bool`` operator: the context value equals one of the expected values."""
    values = expected if isinstance(expected, list) else [expected]
    return any(str(v).lower() == actual.lower() for v in values)


def applies_over_tls(statement: dict[str, Any]) -> dict[str, Any] | None:
    """``statement`` as it applies to a request over TLS: ``None`` when its ``Bool``
    condition on ``aws:SecureTransport`` does not hold; else the statement without that
    condition (the rest of its conditions untouched, for moto)."""
    conditions = statement.get("Condition")
    if not isinstance(conditions, dict) or SECURE_TRANSPORT not in (conditions.get("Bool") or {}):
        return statement
    bool_block = dict(conditions["Bool"])
    if not _bool_holds(bool_block.pop(SECURE_TRANSPORT), CONTEXT[SECURE_TRANSPORT]):
        return None
    rest = {op: block for op, block in conditions.items() if op != "Bool"}
    if bool_block:
        rest["Bool"] = bool_block
    out = {k: v for k, v in statement.items() if k != "Condition"}
    if rest:
        out["Condition"] = rest
    return out


def policy_over_tls(policy: str) -> str:
    """A bucket policy document with ``applies_over_tls`` applied to each statement."""
    doc = json.loads(policy)
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    kept = [s for s in (applies_over_tls(s) for s in statements or []) if s is not None]
    return json.dumps({**doc, "Statement": kept})


def install() -> None:
    """Replace ``FakeBucket.get_permission`` (moto/s3/models.py) by one that evaluates the
    bucket policy as ``policy_over_tls`` gives it, with moto's ``IAMPolicy``."""

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = self.policy.decode() if isinstance(self.policy, bytes) else str(self.policy)
        return IAMPolicy(policy_over_tls(policy)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    install()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
