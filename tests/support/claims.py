"""Claims' XRs that several test modules render: one definition, each test adjusting a copy."""

from __future__ import annotations

import copy
from typing import Any

# The uid of the PostgresqlInstance XR below: every generated name's hash derives from it.
PG_UID = "0b0b5c1e-3f6e-4a47-9c7a-2d1f2e3a4b5c"


def postgresql_xr(
    namespace: str = "team-a", spec: dict[str, Any] | None = None, uid: str = PG_UID
) -> dict[str, Any]:
    """The XR Crossplane makes of the PostgresqlInstance claim ``pg-db`` in ``namespace``
    (by default PostgreSQL 16 on single-nano)."""
    return {
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": "XPostgresqlInstance",
        "metadata": {
            "name": "pg-db-x7k2p",
            "uid": uid,
            "labels": {
                "crossplane.io/claim-name": "pg-db",
                "crossplane.io/claim-namespace": namespace,
            },
        },
        "spec": copy.deepcopy(spec)
        if spec is not None
        else {
            "serviceVersion": "16",
            "plan": "single-nano",
        },
    }
