"""The PostgreSQL grant model: who owns what, as provider-sql resources (docs/postgresql-grants.md).

Pure functions, shared by PostgresqlInstance (the group side) and ServiceBinding (the per-binding
side). They return provider-sql v0.16 ``postgresql.sql.crossplane.io/v1alpha1`` Role and Grant
bodies and use only fields that provider-sql's reconcilers really apply.

The model:

- One ``NOLOGIN`` group role per instance owns every object the apps create and holds the
  database and ``public`` schema privileges.
- Each binding's login role is ``NOINHERIT``: on its own it holds *no* privilege at all, so it
  can never own a table, never appear in an ACL and is always droppable by provider-sql, whose
  Role deletion is only ``DROP ROLE IF EXISTS`` (pkg/controller/cluster/postgresql/role/
  reconciler.go, ``Delete``; provider-sql runs no ``REASSIGN OWNED``/``DROP OWNED`` anywhere).
- The login role is a member of the group that may ``SET ROLE`` to it but does not inherit it
  (PostgreSQL 16+: ``WITH INHERIT FALSE``, Grant ``withInherit: false``; up to 15 the role's
  ``NOINHERIT`` attribute does the same for every membership), and every session starts as the
  group (``ALTER ROLE ... SET role``, Role ``configurationParameters``).
- A session that ends up as the login role anyway (``SET ROLE NONE``; ``DISCARD ALL`` on the
  PostgreSQL minors with the role-reset bug, e.g. 16.2) fails with "permission denied" instead
  of silently creating objects the binding owns; ``RESET ROLE`` returns to the group.

Proven on real servers by tests/test_pg_grants.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from function import names
from function.core import ObservedResource
from function.resources import SQL_GRANT, SQL_ROLE, Kind, managed

GROUP_ROLE = names.PG_GROUP_ROLE
# The keys of the per-binding resources; the binding's Secret waits until all are Ready.
BINDING_ROLE = "role"
BINDING_MEMBERSHIP = "group-membership"
BINDING_KEYS = (BINDING_ROLE, BINDING_MEMBERSHIP)
# pg_auth_members.inherit_option and GRANT ... WITH INHERIT exist from PostgreSQL 16 on;
# provider-sql refuses withInherit on older servers (grant/reconciler.go, errInheritRequiresPG16).
WITH_INHERIT_SINCE = 16


GROUP_ROLE_KEY = "group-role"


def after_role(
    observed: Mapping[str, ObservedResource], role_key: str, grants: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``grants`` of the role composed as ``role_key``, once that role is observed Ready (or
    once one of them exists: what exists stays); before, none.

    provider-sql v0.16.0 creates a Grant with ``GRANT ... TO <role>``, which fails while the
    role does not exist ("pq: role ... does not exist", grant/reconciler.go ``Create``). Each
    failure writes the Grant (crossplane-runtime's create-failed annotation and condition) and
    is requeued by the Grant controller's rate limiter, controller-runtime's default (provider-
    sql's ``Setup`` passes no RateLimiter: exponential per object, 5 ms doubling up to 1000 s).
    Composed together with their role, the grants of a new instance failed some twenty times
    in their first seconds and then waited minutes for the next try (make e2e: the claim
    ``pg-db`` not Ready after 13 min; Crossplane's circuit breaker "Too many watch events from
    Grant"). provider-sql reports a Role Ready only once it found it in ``pg_roles``
    (role/reconciler.go ``Observe``).
    """
    role = observed.get(role_key)
    if (role is not None and role.ready) or any(key in observed for key in grants):
        return grants
    return {}


def group_resources(
    provider_config: str, database: str, observed: Mapping[str, ObservedResource]
) -> dict[str, dict[str, Any]]:
    """The group role of an instance, and what it may do (its grants once the role exists:
    ``after_role``).

    Orphaned on deletion: it lives inside the database, which goes (or stays) with the
    instance, and deleting it would need the database reachable while everything is torn down.
    """

    def orphan(kind: Kind, fp: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return managed(kind, provider_config, fp, deletion_policy="Orphan", **kw)

    role = orphan(
        SQL_ROLE, {"privileges": {"login": False, "inherit": True}}, external_name=GROUP_ROLE
    )
    grants = {
        "group-database-grant": orphan(
            SQL_GRANT,
            {"role": GROUP_ROLE, "database": database, "privileges": ["CONNECT", "TEMPORARY"]},
        ),
        # PostgreSQL 15+ no longer lets PUBLIC create in `public`.
        "group-schema-grant": orphan(
            SQL_GRANT,
            {
                "role": GROUP_ROLE,
                "database": database,
                "schema": "public",
                "privileges": ["USAGE", "CREATE"],
            },
        ),
    }
    return {GROUP_ROLE_KEY: role, **after_role(observed, GROUP_ROLE_KEY, grants)}


def binding_resources(
    provider_config: str,
    role: str,
    secret: tuple[str, str],
    observed: Mapping[str, ObservedResource],
    *,
    server_major: int | None = None,
) -> dict[str, dict[str, Any]]:
    """A binding's login role and its membership in the group (once the role exists:
    ``after_role``).

    ``server_major`` is the instance's PostgreSQL major version, when known: from 16 on the
    membership says ``WITH INHERIT FALSE`` explicitly (which also converts a membership made
    with inheritance by an older version of this function).
    """
    membership: dict[str, Any] = {"role": role, "memberOf": GROUP_ROLE}
    if server_major is not None and server_major >= WITH_INHERIT_SINCE:
        membership["withInherit"] = False
    login = {
        BINDING_ROLE: managed(
            SQL_ROLE,
            provider_config,
            {
                # NOINHERIT: the login role itself holds nothing, so it never owns anything.
                "privileges": {"login": True, "inherit": False},
                # Every session starts as the group, so what the app creates belongs to it.
                "configurationParameters": [{"name": "role", "value": GROUP_ROLE}],
            },
            external_name=role,
            connection_secret=secret,
        ),
    }
    grants = {BINDING_MEMBERSHIP: managed(SQL_GRANT, provider_config, membership)}
    return {**login, **after_role(observed, BINDING_ROLE, grants)}


def binding_usable(observed: Mapping[str, ObservedResource]) -> bool:
    """True once the login role and every grant of the binding are observed Ready.

    provider-sql sets Ready (reason Available) in ``Observe`` only after it found the role in
    ``pg_roles`` (role/reconciler.go) or the membership in ``pg_auth_members``
    (grant/reconciler.go, ``selectMemberGrantQuery``); ``Create`` sets Ready False (Creating).
    """
    return all(key in observed and observed[key].ready for key in BINDING_KEYS)


_MAJOR = re.compile(r"^\s*(\d+)")


def server_major(version: Any) -> int | None:
    """The major of a PostgreSQL version such as ``"16.4"`` or ``"17"``; None when unknown."""
    m = _MAJOR.match(str(version)) if version not in (None, "") else None
    return int(m.group(1)) if m else None


def instance_major(instance_status: Mapping[str, Any]) -> int | None:
    """The PostgreSQL major of an instance from its XR status: the engine version RDS reports
    (right during a major upgrade, where the claim's version changes first), else the claim's."""
    st = instance_status
    return server_major(st.get("engineVersion") or st.get("serviceVersion"))


__all__ = [
    "BINDING_KEYS",
    "GROUP_ROLE",
    "GROUP_ROLE_KEY",
    "after_role",
    "binding_resources",
    "binding_usable",
    "group_resources",
    "instance_major",
    "server_major",
]
