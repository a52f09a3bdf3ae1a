"""ServiceBinding: finds its instance, waits plainly, renders a role, sets connection details."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import given, settings
from hypothesis import strategies as st

from function import names
from function.servicebinding import CONNECTION_KEYS, INSTANCE_REQUIREMENT, READONLY_KEYS
from tests.support.responses import desired, fatal_messages, render_local, status
from tools import xrender

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "servicebinding"
XR = xrender.load_all(EXAMPLES / "xr.yaml")[0]
INSTANCE = xrender.load_all(EXAMPLES / "required.yaml")[0]
ROLE, MEMBERSHIP = xrender.load_all(EXAMPLES / "observed.yaml")


def role_observed(password: str = "example/p@ss:w0rd") -> dict:
    role = copy.deepcopy(ROLE)
    ann = role["metadata"]["annotations"]
    ann[xrender.CONNECTION_ANNOTATION] = (
        f"username: {ann['crossplane.io/external-name']}\npassword: {password!r}\n"
    )
    return role


def observed_binding(password: str = "example/p@ss:w0rd", membership_ready: bool = True):
    """The role (Ready, with its password) and the membership Grant as provider-sql reports them."""
    grant = copy.deepcopy(MEMBERSHIP)
    grant["status"]["conditions"][0]["status"] = str(membership_ready)
    return [role_observed(password), grant]


def test_asks_for_the_instance_by_claim_labels_and_waits_plainly():
    rsp = render_local(XR)
    sel = rsp.requirements.resources[INSTANCE_REQUIREMENT]
    assert sel.kind == "XPostgresqlInstance" and sel.api_version == "rds.aws.anynines.com/v1"
    assert dict(sel.match_labels.labels) == {
        "crossplane.io/claim-name": "pg-db",
        "crossplane.io/claim-namespace": "default",
    }
    assert not rsp.desired.resources
    assert any(
        "waiting for PostgresqlInstance pg-db in namespace default" in r.message
        for r in rsp.results
    )
    assert not fatal_messages(rsp)


def test_waits_while_the_instance_is_not_ready():
    creating = copy.deepcopy(INSTANCE)
    creating["status"] = {
        "conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]
    }
    rsp = render_local(XR, required={INSTANCE_REQUIREMENT: [creating]})
    assert not rsp.desired.resources
    says = "waiting for PostgresqlInstance pg-db in namespace default: it is not ready yet"
    assert any(says in r.message for r in rsp.results)
    (cond,) = [c for c in rsp.conditions if c.type == "DependencyReady"]
    assert (cond.type, cond.status, cond.reason) == (
        "DependencyReady",
        fnv1.STATUS_CONDITION_FALSE,
        "WaitingForDependency",
    )


def test_waits_for_an_instance_without_an_address():
    # A binding needs the address (servicebinding.Reachable) besides what every reader needs.
    no_address = copy.deepcopy(INSTANCE)
    del no_address["status"]["address"]
    rsp = render_local(XR, required={INSTANCE_REQUIREMENT: [no_address]})
    assert not rsp.desired.resources and not fatal_messages(rsp)
    assert any(r.message.endswith(": its status is not complete yet") for r in rsp.results)


def test_the_membership_comes_once_the_login_role_is_ready():
    """make e2e: a Grant composed with its role fails until provider-sql made the role, and
    provider-sql's rate limiter then holds it for minutes (pg_grants.after_role)."""
    required = {INSTANCE_REQUIREMENT: [INSTANCE]}
    first = desired(render_local(XR, required=required))
    assert set(first) == {"role", "usage-role"}
    creating = role_observed()
    creating["status"]["conditions"][0].update(status="False", reason="Creating")
    assert "group-membership" not in desired(
        render_local(XR, observed=[creating], required=required)
    )
    ready = desired(render_local(XR, observed=[role_observed()], required=required))
    assert {"group-membership", "usage-group-membership"} <= set(ready)
    # An existing membership stays while its role is not Ready.
    kept = render_local(XR, observed=[creating, observed_binding()[1]], required=required)
    assert "group-membership" in desired(kept)


def test_role_and_membership_use_the_instance_provider_config():
    rsp = render_local(XR, observed=[role_observed()], required={INSTANCE_REQUIREMENT: [INSTANCE]})
    out = desired(rsp)
    assert set(out) == {"role", "group-membership", "usage-role", "usage-group-membership"}
    role = out["role"]
    pc = {"name": INSTANCE["status"]["providerConfigName"]}
    assert role["spec"]["providerConfigRef"] == pc
    assert out["group-membership"]["spec"]["providerConfigRef"] == pc
    name = role["metadata"]["annotations"]["crossplane.io/external-name"]
    assert name == names.pg_role_name(
        names.Identity("klutch", "default", "pg-binding", XR["metadata"]["uid"])
    )
    fp = role["spec"]["forProvider"]
    assert fp["privileges"] == {"login": True, "inherit": False}  # holds nothing itself
    assert "passwordSecretRef" not in fp  # provider-sql generates the password
    assert fp["configurationParameters"] == [{"name": "role", "value": names.PG_GROUP_ROLE}]
    assert role["spec"]["writeConnectionSecretToRef"]["namespace"] == "crossplane-system"
    assert out["group-membership"]["spec"]["forProvider"] == {
        "role": name,
        "memberOf": names.PG_GROUP_ROLE,
        "withInherit": False,  # the instance runs 16.4: explicit on PostgreSQL 16 and newer
    }
    assert not rsp.desired.composite.connection_details  # no password yet
    (cond,) = [c for c in rsp.conditions if c.type == "DependencyReady"]
    assert (cond.type, cond.status, cond.reason) == (
        "DependencyReady",
        fnv1.STATUS_CONDITION_TRUE,
        "Available",
    )


def test_connection_details_exactly_as_designed():
    password = "p@ss/w:rd?#%"
    rsp = render_local(
        XR, observed=observed_binding(password), required={INSTANCE_REQUIREMENT: [INSTANCE]}
    )
    got = {k: v.decode() for k, v in rsp.desired.composite.connection_details.items()}
    assert set(got) == set(CONNECTION_KEYS)
    host = INSTANCE["status"]["address"]
    user = got["username"]
    assert got["password"] == got["PGPASSWORD"] == password
    assert got["host"] == got["PGHOST"] == host
    assert got["port"] == got["PGPORT"] == "5432"
    assert got["endpoint"] == f"{host}:5432"
    assert got["dbname"] == got["PGDATABASE"] == "hospital"
    assert got["PGUSER"] == user and got["PGSSLMODE"] == "require"
    assert got["DATABASE_URL"] == got["uri"]
    uri = urlsplit(got["uri"])
    assert uri.scheme == "postgresql" and uri.hostname == host and uri.port == 5432
    assert unquote(uri.password) == password and unquote(uri.username) == user
    assert uri.path == "/hospital" and uri.query == "sslmode=require"
    assert got["jdbcUrl"] == f"jdbc:postgresql://{host}:5432/hospital?sslmode=require"
    assert password not in str(status(rsp)) and all(password not in r.message for r in rsp.results)


READERS = [
    "klutch-pg-db-bd40f46d-r1.c9akciq32.eu-central-1.rds.amazonaws.com:5432",
    "klutch-pg-db-bd40f46d-r2.c9akciq32.eu-central-1.rds.amazonaws.com:5432",
]


def with_replicas(readers: list[str] = READERS) -> dict:
    inst = copy.deepcopy(INSTANCE)
    inst["status"]["readerEndpoints"] = list(readers)
    inst["status"]["replicas"] = len(readers)
    return inst


def test_no_read_only_keys_without_replicas():
    rsp = render_local(XR, observed=observed_binding(), required={INSTANCE_REQUIREMENT: [INSTANCE]})
    assert not set(READONLY_KEYS) & set(rsp.desired.composite.connection_details)
    assert "readerEndpoints" not in status(rsp)


def test_replicas_add_the_read_only_keys():
    password = "p@ss/w:rd?#%"
    rsp = render_local(
        XR, observed=observed_binding(password), required={INSTANCE_REQUIREMENT: [with_replicas()]}
    )
    got = {k: v.decode() for k, v in rsp.desired.composite.connection_details.items()}
    assert set(got) == set(CONNECTION_KEYS) | set(READONLY_KEYS)
    hosts = [r.rpartition(":")[0] for r in READERS]
    assert got["PGHOST_READONLY"] == ",".join(hosts)
    assert got["DATABASE_URL_READONLY"] == got["readonlyUri"]
    uri = urlsplit(got["readonlyUri"])
    assert uri.scheme == "postgresql"
    assert unquote(uri.password) == password and unquote(uri.username) == got["username"]
    # libpq's multi-host form: every replica, and only a read-only server is accepted.
    assert uri.netloc.rpartition("@")[2] == ",".join(READERS)
    assert uri.path == "/hospital"
    assert uri.query == "sslmode=require&target_session_attrs=read-only"
    # The primary keys still point at the primary.
    assert got["host"] == got["PGHOST"] == INSTANCE["status"]["address"]
    assert status(rsp)["readerEndpoints"] == READERS
    assert password not in str(status(rsp))


def test_vanished_instance_keeps_the_read_only_keys():
    first = render_local(
        XR, observed=observed_binding(), required={INSTANCE_REQUIREMENT: [with_replicas()]}
    )
    xr = copy.deepcopy(XR)
    xr["status"] = status(first)
    rsp = render_local(xr, observed=observed_binding(), required={INSTANCE_REQUIREMENT: []})
    assert set(rsp.desired.composite.connection_details) == set(CONNECTION_KEYS) | set(
        READONLY_KEYS
    )


def test_vanished_instance_keeps_the_role_and_the_secret():
    first = render_local(
        XR, observed=observed_binding(), required={INSTANCE_REQUIREMENT: [INSTANCE]}
    )
    xr = copy.deepcopy(XR)
    xr["status"] = status(first)
    rsp = render_local(xr, observed=observed_binding(), required={INSTANCE_REQUIREMENT: []})
    assert set(desired(rsp)) == {"role", "group-membership"}  # re-emitted, nothing deleted
    assert set(rsp.desired.composite.connection_details) == set(CONNECTION_KEYS)


def test_secret_waits_until_the_role_and_its_membership_are_ready():
    """issue 13: the role exists (and provider-sql wrote its password) before the membership
    Grant does; an app given the Secret then could not use the database."""
    required = {INSTANCE_REQUIREMENT: [INSTANCE]}
    role_only = render_local(XR, observed=[role_observed()], required=required)
    assert not role_only.desired.composite.connection_details
    not_ready = render_local(
        XR, observed=observed_binding(membership_ready=False), required=required
    )
    assert not not_ready.desired.composite.connection_details
    creating = observed_binding()
    creating[0]["status"]["conditions"][0].update(status="False", reason="Creating")
    rsp = render_local(XR, observed=creating, required=required)
    assert not rsp.desired.composite.connection_details
    rsp = render_local(XR, observed=observed_binding(), required=required)
    assert set(rsp.desired.composite.connection_details) == set(CONNECTION_KEYS)


@pytest.mark.parametrize(
    ("engine", "with_inherit"),
    [("15.10", None), ("16.4", False), ("17", False), (None, False), ("", False)],
)
def test_membership_is_explicit_from_postgresql_16(engine, with_inherit):
    inst = copy.deepcopy(INSTANCE)
    if engine is None:
        del inst["status"]["engineVersion"]  # falls back to serviceVersion "16"
    else:
        inst["status"]["engineVersion"] = engine
    if engine == "":
        inst["status"]["serviceVersion"] = "x"  # nothing known: no option provider-sql rejects
        with_inherit = None
    rsp = render_local(XR, observed=[role_observed()], required={INSTANCE_REQUIREMENT: [inst]})
    fp = desired(rsp)["group-membership"]["spec"]["forProvider"]
    assert fp.get("withInherit") is with_inherit


def test_bad_input_is_fatal():
    xr = copy.deepcopy(XR)
    xr["spec"]["serviceInstanceType"] = "mysql"
    (msg,) = fatal_messages(render_local(xr))
    assert msg.startswith("spec.serviceInstanceType") and "'postgresql'" in msg
    xr = copy.deepcopy(XR)
    del xr["spec"]["instanceRef"]
    (msg,) = fatal_messages(render_local(xr))
    assert msg.startswith("spec.instanceRef")
    xr["spec"]["instanceRef"] = {"name": "pg-db"}  # a plain name, as the Klutch docs write it
    (msg,) = fatal_messages(render_local(xr))
    assert msg.startswith("spec.instanceRef") and "valid string" in msg


ROLE_RE = r"^[a-z][a-z0-9_]{0,62}$"
NAME = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True)
NAMESPACE = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    ns=NAMESPACE,
    name=NAME,
    uid=st.uuids().map(str),
    prefix=st.sampled_from(["klutch", "pg-x", "rds1"]),
)
def test_role_names_are_valid_postgresql_identifiers(ns, name, uid, prefix):
    role = names.pg_role_name(names.Identity(prefix, ns, name, uid))
    assert re.match(ROLE_RE, role), role
    assert not role.startswith(("pg_", "rds"))
    assert role == names.pg_role_name(names.Identity(prefix, ns, name, uid))


def test_a_repointed_instance_ref_is_kept_and_warned():
    """Issue 27 item 11: with the XRD's CEL rule bypassed (the XR edited directly), a new
    instanceRef would move the login role to the other instance (provider-sql connects through
    the Role's providerConfigRef on every reconcile) and leave the old role behind. The binding
    keeps the instance it was rendered for (its published status.instance) and warns."""
    first = render_local(XR, required={INSTANCE_REQUIREMENT: [INSTANCE]})
    xr = copy.deepcopy(XR)
    xr["status"] = status(first)
    xr["spec"]["instanceRef"] = "other-db"
    rsp = render_local(xr, observed=observed_binding(), required={INSTANCE_REQUIREMENT: [INSTANCE]})
    assert not fatal_messages(rsp)
    (warning,) = [r.message for r in rsp.results if "immutable" in r.message]
    assert warning.startswith("spec.instanceRef is immutable: keeping 'pg-db', ignoring 'other-db'")
    sel = rsp.requirements.resources[INSTANCE_REQUIREMENT]
    assert dict(sel.match_labels.labels)["crossplane.io/claim-name"] == "pg-db"
    role = desired(rsp)["role"]
    assert role["spec"]["providerConfigRef"] == {"name": INSTANCE["status"]["providerConfigName"]}
    assert status(rsp)["instance"] == "pg-db"
    # Before the role exists, the binding may still be pointed elsewhere.
    fresh = render_local(xr)
    sel = fresh.requirements.resources[INSTANCE_REQUIREMENT]
    assert dict(sel.match_labels.labels)["crossplane.io/claim-name"] == "other-db"
