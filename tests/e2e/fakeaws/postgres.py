"""A real PostgreSQL server per rds Instance, so provider-sql and applications connect for real.

Each primary (and each restore) gets its own server on a free loopback port, started from the
binaries tests/support/pg.py finds (the pgserver wheels of the dev extra, or Debian's), with:

- TLS on (a self-signed certificate: the function's provider-sql ProviderConfig asks
  ``sslMode: require``, which encrypts without verifying, as with RDS's own CA unset);
- a master like RDS's (tests/support/pg.py ``create_instance``): ``LOGIN CREATEROLE CREATEDB``,
  member of a plain ``rds_superuser`` role, owner of the ``dbName`` database, with the
  password the controller read from ``passwordSecretRef``;
- a read replica shares its primary's server (same address and port): no streaming
  replication, so a replica's endpoint reads and writes the primary's data;
- a restore (snapshot or point in time) starts an EMPTY server (no data is copied) whose master
  password is the source's, until Terraform's ModifyDBInstance sets the new one.

Servers stop when their Instance is deleted, and all of them when the controller exits.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg8000.native
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.pg import SUPERUSER, Binaries, find_binaries, quote_ident, quote_literal

log = logging.getLogger("fakeaws.postgres")
START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost (the ``cryptography`` package)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fakeaws-rds")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    crt, kf = directory / "server.crt", directory / "server.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kf.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    kf.chmod(0o600)
    return crt, kf


@dataclass
class Server:
    binaries: Binaries
    directory: Path
    port: int
    superuser_password: str
    run_as: str | None

    def connect(self, database: str = "postgres") -> pg8000.native.Connection:
        return pg8000.native.Connection(
            SUPERUSER,
            host="127.0.0.1",
            port=self.port,
            database=database,
            password=self.superuser_password,
            timeout=30,
        )


def _pick(binaries: list[Binaries], major: int | None) -> Binaries:
    if not binaries:
        raise RuntimeError("no PostgreSQL binaries (pip install the dev extra: pgserver wheels)")
    for b in binaries:
        if major is not None and b.major == major:
            return b
    return binaries[-1]


@dataclass
class Servers:
    """Instance identifier -> its server (replicas point at their primary's)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fakeaws-pg-")))
    servers: dict[str, Server] = field(default_factory=dict)
    shared: dict[str, str] = field(default_factory=dict)  # replica -> primary
    _binaries: list[Binaries] | None = None

    def binaries(self) -> list[Binaries]:
        if self._binaries is None:
            self._binaries = find_binaries()
        return self._binaries

    def endpoint(self, ident: str) -> tuple[str, int] | None:
        s = self.servers.get(self.shared.get(ident, ident))
        return ("127.0.0.1", s.port) if s else None

    def share(self, replica: str, primary: str) -> None:
        self.shared[replica] = primary

    def start(
        self, ident: str, master: str, password: str, database: str, major: int | None = None
    ) -> None:
        if ident in self.servers:
            return
        b = _pick(self.binaries(), major)
        self.root.chmod(0o755)
        directory = self.root / ident
        directory.mkdir(parents=True, exist_ok=True)
        user = None
        kw: dict[str, Any] = {}
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            user = "nobody"
            os.chown(directory, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
            kw["user"] = user
        su_password = secrets.token_urlsafe(18)
        pwfile = directory / "pw"
        pwfile.write_text(su_password + "\n")
        crt, key = self_signed(directory)
        if user:
            for f in (pwfile, crt, key):
                os.chown(f, pwd.getpwnam(user).pw_uid, -1)
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        data = directory / "data"
        run = {"capture_output": True, "text": True, "env": env, **kw}
        subprocess.run(
            [
                str(b.bindir / "initdb"),
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
            **run,
        )
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=40 "
            f"-c shared_buffers=16MB -c ssl=on -c ssl_cert_file={crt} -c ssl_key_file={key}"
        )
        subprocess.run(
            [
                str(b.bindir / "pg_ctl"),
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
            **run,
        )
        server = Server(b, directory, port, su_password, user)
        self.servers[ident] = server
        con = server.connect()
        try:
            con.run("CREATE ROLE rds_superuser NOLOGIN")
            con.run(
                f"CREATE ROLE {quote_ident(master)} LOGIN CREATEROLE CREATEDB "
                f"PASSWORD {quote_literal(password)}"
            )
            con.run(f"GRANT rds_superuser TO {quote_ident(master)}")
            if database != "postgres":
                con.run(f"CREATE DATABASE {quote_ident(database)} OWNER {quote_ident(master)}")
        finally:
            con.close()
        log.info(
            "postgres %s: %s on 127.0.0.1:%d (master %s, database %s)",
            ident,
            b.label,
            port,
            master,
            database,
        )

    def set_password(self, ident: str, master: str, password: str) -> None:
        s = self.servers.get(self.shared.get(ident, ident))
        if s is None:
            return
        con = s.connect()
        try:
            con.run(f"ALTER ROLE {quote_ident(master)} PASSWORD {quote_literal(password)}")
        finally:
            con.close()
        log.info("postgres %s: master password set", ident)

    def stop(self, ident: str) -> None:
        if self.shared.pop(ident, None) is not None:
            return
        s = self.servers.pop(ident, None)
        if s is None:
            return
        kw: dict[str, Any] = {"user": s.run_as} if s.run_as else {}
        try:
            subprocess.run(
                [
                    str(s.binaries.bindir / "pg_ctl"),
                    "-D",
                    str(s.directory / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                check=False,
                capture_output=True,
                timeout=60,
                **kw,
            )
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("postgres %s: stop failed: %s", ident, err)
        shutil.rmtree(s.directory, ignore_errors=True)
        log.info("postgres %s: stopped", ident)

    def stop_all(self) -> None:
        for ident in list(self.servers):
            self.stop(ident)
        shutil.rmtree(self.root, ignore_errors=True)
