"""provider-sql basics shared by the PostgresqlInstance and the ServiceBinding: the shape of a
provider-sql managed resource, the ProviderConfig that logs in as the master user, and how every
client connects (port, TLS). The grant model is in ``function/pg_grants.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from function.resources import SQL_PROVIDER_CONFIG, Kind

PORT = 5432
# RDS certificates are not in provider-sql's trust store: no verify-full.
SSL_MODE = "require"


def sql_managed(
    kind: Kind,
    provider_config: str,
    for_provider: dict[str, Any],
    *,
    deletion_policy: Literal["Delete", "Orphan"] = "Delete",
    external_name: str | None = None,
    connection_secret: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A provider-sql managed resource (no region, its own ProviderConfig)."""
    body: dict[str, Any] = {"apiVersion": kind.api_version, "kind": kind.kind}
    if external_name is not None:
        body["metadata"] = {"annotations": {"crossplane.io/external-name": external_name}}
    spec: dict[str, Any] = {
        "deletionPolicy": deletion_policy,
        "providerConfigRef": {"name": provider_config},
        "forProvider": for_provider,
    }
    if connection_secret is not None:
        spec["writeConnectionSecretToRef"] = {
            "name": connection_secret[0],
            "namespace": connection_secret[1],
        }
    body["spec"] = spec
    return body


def provider_config(name: str, secret: str, namespace: str, database: str) -> dict[str, Any]:
    """provider-sql logs in as the master user from the RDS connection Secret.

    The Secret's ``endpoint`` is ``host:port``; provider-sql wants the bare host, which RDS
    writes under ``address``.
    """
    return {
        "apiVersion": SQL_PROVIDER_CONFIG.api_version,
        "kind": SQL_PROVIDER_CONFIG.kind,
        "metadata": {"name": name},
        "spec": {
            "credentials": {
                "source": "PostgreSQLConnectionSecret",
                "connectionSecretRef": {"name": secret, "namespace": namespace},
                "secretKeyMapping": {
                    "endpoint": "address",
                    "port": "port",
                    "username": "username",
                    "password": "password",
                },
            },
            "sslMode": SSL_MODE,
            "defaultDatabase": database,
        },
    }
