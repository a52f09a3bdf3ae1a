"""Processes of the e2e control plane: started with their output in log files, stopped for sure.

Every wait is bounded and says what it waited for (``wait_for``). Ports are free loopback ports
picked by binding port 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """A bounded wait ran out; the message says what was awaited and what was seen last."""


def wait_for(
    what: str,
    check: Callable[[], T | None],
    timeout: float,
    interval: float = 0.5,
    last: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns something truthy, at most ``timeout`` seconds.

    Exceptions raised by ``check`` count as "not yet" and the last one is reported.
    """
    deadline = time.monotonic() + timeout
    error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 (any error is "not yet"; reported at the end)
            error = exc
        if time.monotonic() > deadline:
            seen = last() if last else (f"last error: {error!r}" if error else "")
            raise WaitTimeoutError(f"timed out after {timeout:.0f}s waiting for {what}. {seen}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Process:
    """One long-running program; stdout and stderr go to ``log``."""

    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            out.write(f"$ {' '.join(self.argv)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                list(self.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,  # its own process group: stopped with its children
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.popen.returncode}; last lines of {self.log}:\n"
                + tail(self.log)
            )

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to its process group, SIGKILL after ``grace`` seconds."""
        proc = self.popen
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
