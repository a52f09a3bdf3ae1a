"""A real PostgreSQL server per rds Instance, so provider-sql and applications connect for real.

Each primary (and each restore) gets its own server on a free loopback port, started from the
binaries tests/support/pg.py finds (the pgserver wheels of the dev extra, or Debian's), with:

- TLS (a self-signed certificate: the function's provider-sql ProviderConfig asks
  ``sslMode: require``, which encrypts without verifying). The pgserver wheels are built
  without OpenSSL ("SSL is not supported by this build"), so the published port is a small
  proxy here that speaks PostgreSQL's SSLRequest handshake (protocol.html "SSL Session
  Encryption": answer ``S``, then TLS) and relays to the server on a second loopback port;
  a client that asks no TLS is relayed in clear (``rds.force_ssl`` is not enforced);
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

import logging
import os
import pwd
import select
import shutil
import signal
import socket
import ssl
import struct
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pg8000.native

from tests.support import certs
from tests.support.pg import (
    SUPERUSER,
    Binaries,
    create_master,
    find_binaries,
    quote_ident,
    quote_literal,
    staged,
    start_cluster,
)

log = logging.getLogger("fakeaws.postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost from a throwaway CA nobody trusts (clients ask
    ``sslmode=require``, which does not verify), and its key."""
    pair = certs.Authority("fakeaws-rds").issue("fakeaws-rds", server=True)
    crt, key = directory / "server.crt", directory / "server.key"
    crt.write_bytes(pair.cert)
    key.write_bytes(pair.key)
    key.chmod(0o600)
    return crt, key


@dataclass
class Server:
    binaries: Binaries
    directory: Path
    port: int
    superuser_password: str
    run_as: str | None
    proxy: TLSProxy

    def connect(self, database: str = "postgres") -> pg8000.native.Connection:
        return pg8000.native.Connection(
            SUPERUSER,
            host="127.0.0.1",
            port=self.port,
            database=database,
            password=self.superuser_password,
            timeout=30,
        )


SSL_REQUEST = 80877103  # PostgreSQL protocol: SSLRequest code
GSSENC_REQUEST = 80877104  # GSSENCRequest code


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


class TLSProxy:
    """Loopback port speaking PostgreSQL's TLS negotiation, relaying to ``backend``."""

    def __init__(self, backend: int, cert: Path, key: Path) -> None:
        self.backend = backend
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"pg-proxy-{self.port}").start()

    def close(self) -> None:
        self.closed = True
        with suppress(OSError):
            self.sock.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        backend = None
        try:
            conn: socket.socket = client
            while True:
                first = _recv_exact(conn, 8)
                length, code = struct.unpack("!ii", first)
                if length == 8 and code == SSL_REQUEST and conn is client:
                    conn.sendall(b"S")
                    conn = self.ctx.wrap_socket(conn, server_side=True)
                    continue
                if length == 8 and code == GSSENC_REQUEST:
                    conn.sendall(b"N")
                    continue
                break
            backend = socket.create_connection(("127.0.0.1", self.backend), timeout=30)
            backend.settimeout(None)
            backend.sendall(first)
            self._relay(conn, backend)
        except (OSError, ConnectionError, ssl.SSLError):
            pass
        finally:
            for s in (client, backend):
                if s is not None:
                    with suppress(OSError):
                        s.close()

    @staticmethod
    def _relay(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while True:
            pending = [s for s in (a,) if isinstance(s, ssl.SSLSocket) and s.pending()]
            ready = pending or select.select([a, b], [], [], 300)[0]
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                peers[s].sendall(data)


def _alive(pid: int) -> bool:
    """Running, and not a zombie left for a parent that does not reap (pg_ctl's postmaster
    is reparented)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


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
    _starting: threading.Lock = field(default_factory=threading.Lock)

    def binaries(self) -> list[Binaries]:
        if self._binaries is None:
            self._binaries = find_binaries()
        return self._binaries

    def endpoint(self, ident: str) -> tuple[str, int] | None:
        s = self.servers.get(self.shared.get(ident, ident))
        return ("127.0.0.1", s.proxy.port) if s else None

    def share(self, replica: str, primary: str) -> None:
        self.shared[replica] = primary

    def start(
        self, ident: str, master: str, password: str, database: str, major: int | None = None
    ) -> None:
        with self._starting:  # one at a time: staging the binaries is shared (--workers)
            self._start(ident, master, password, database, major)

    def _start(
        self, ident: str, master: str, password: str, database: str, major: int | None
    ) -> None:
        if ident in self.servers:
            return
        b = _pick(self.binaries(), major)
        self.root.chmod(0o755)
        directory = self.root / ident
        directory.mkdir(parents=True, exist_ok=True)
        user = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            user = "nobody"
            b = staged(b, user)  # a clone under a 0700 folder: nobody cannot reach .venv
            os.chown(directory, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        crt, key = self_signed(directory)  # for the TLS proxy, which runs here, not postgres
        port, su_password = start_cluster(b, directory, user, max_connections=40)
        server = Server(b, directory, port, su_password, user, TLSProxy(port, crt, key))
        self.servers[ident] = server
        con = server.connect()
        try:
            create_master(con, master, password, database)
        finally:
            con.close()
        log.info(
            "postgres %s: %s on 127.0.0.1:%d (TLS proxy; server on %d), master %s, database %s",
            ident,
            b.label,
            server.proxy.port,
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
        self._signal(s)
        self._reap(ident, s)

    @staticmethod
    def _postmaster(s: Server) -> int | None:
        try:
            return int((s.directory / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _signal(self, s: Server) -> None:
        """SIGQUIT to the postmaster: PostgreSQL's immediate shutdown (what ``pg_ctl stop -m
        immediate`` sends), without waiting."""
        s.proxy.close()
        pid = self._postmaster(s)
        if pid is not None:
            with suppress(OSError):
                os.kill(pid, signal.SIGQUIT)

    def _reap(self, ident: str, s: Server, wait: float = 5.0) -> None:
        pid = self._postmaster(s)
        deadline = time.monotonic() + wait
        while pid is not None and time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            if pid is not None:
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(s.directory, ignore_errors=True)
        log.info("postgres %s: stopped", ident)

    def stop_all(self) -> None:
        """Every server at once (the harness gives SIGTERM a few seconds before SIGKILL)."""
        self.shared.clear()
        servers = list(self.servers.items())
        self.servers.clear()
        for _, s in servers:
            self._signal(s)
        for ident, s in servers:
            self._reap(ident, s)
        shutil.rmtree(self.root, ignore_errors=True)
