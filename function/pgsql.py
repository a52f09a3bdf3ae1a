"""provider-sql resources shared by the PostgresqlInstance (its ProviderConfig and group role)
and the ServiceBinding (a login role in that group): the grant model of
docs/postgresql-grants.md, in one place.
"""

from __future__ import annotations

from typing import Any, Literal

from function import names
from function.resources import SQL_GRANT, SQL_PROVIDER_CONFIG, SQL_ROLE, Kind

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


def group_resources(provider_config_name: str, database: str) -> dict[str, dict[str, Any]]:
    """The group role every binding joins, and what it may do (docs/postgresql-grants.md).

    Orphaned on deletion: it lives inside the database, which goes (or stays) with the instance,
    and deleting it would need the database reachable while everything is being torn down.
    """
    role = names.PG_GROUP_ROLE

    def sql(kind: Kind, fp: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return sql_managed(kind, provider_config_name, fp, deletion_policy="Orphan", **kw)

    return {
        "group-role": sql(
            SQL_ROLE,
            {"privileges": {"login": False, "inherit": True}},
            external_name=role,
        ),
        "group-database-grant": sql(
            SQL_GRANT,
            {"role": role, "database": database, "privileges": ["CONNECT", "TEMPORARY"]},
        ),
        "group-schema-grant": sql(
            SQL_GRANT,
            {
                "role": role,
                "database": database,
                "schema": "public",
                "privileges": ["USAGE", "CREATE"],
            },
        ),
    }


def binding_resources(
    provider_config: str, role: str, secret: tuple[str, str]
) -> dict[str, dict[str, Any]]:
    """A binding's login role and its membership in the instance's group role."""
    group = names.PG_GROUP_ROLE
    return {
        "role": sql_managed(
            SQL_ROLE,
            provider_config,
            {
                "privileges": {"login": True, "inherit": True},
                # Every session acts as the group role, so new tables belong to the group
                # and every binding of the instance may use and alter them.
                "configurationParameters": [{"name": "role", "value": group}],
            },
            external_name=role,
            connection_secret=secret,
        ),
        "group-membership": sql_managed(
            SQL_GRANT, provider_config, {"role": role, "memberOf": group}
        ),
    }
