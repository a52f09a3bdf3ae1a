"""provider-sql basics shared by the PostgresqlInstance and the ServiceBinding: the
ProviderConfig that logs in as the master user, and how every client connects (port, TLS).
Its managed resources are built by ``resources.managed``, as the AWS ones; the grant model is
in ``function/pg_grants.py``.
"""

from __future__ import annotations

from typing import Any

from function.resources import SQL_PROVIDER_CONFIG

PORT = 5432
# RDS certificates are not in provider-sql's trust store: no verify-full.
SSL_MODE = "require"


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
