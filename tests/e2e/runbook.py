"""A guide's steps, run as written against the e2e control plane.

Each ``sh`` line of a step (``tests/support/guide.py`` extracts them) runs through ``bash -o
pipefail -c`` as a user types it, with ``kubectl`` on ``PATH`` (the harness's build) and
``KUBECONFIG`` naming the control plane, in a folder that holds the guide's ``# file:``
manifests and links to the repository's top-level folders (``examples/``, ``xrds/``, ...), so
``kubectl apply -f examples/...`` and ``kubectl apply -f pg-db-resized.yaml`` both find their
file. Used by ``controlplane.py`` (the operator guide's install steps are its set-up) and
``test_guide.py`` (the user guide).

A read (``kubectl get``, ``kubectl auth can-i``) that fails is retried for a bounded time, as a
user tries again a moment later (a Secret written a moment after its claim turned Ready, a
ClusterRole aggregated a moment after it was applied); every other command must succeed the
first time. ``kubectl wait`` and ``kubectl delete`` (which waits for the object to go) run for
as long as they take, bounded by their own ``--timeout`` or ``DELETE_TIMEOUT``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import guide

ROOT = Path(__file__).resolve().parents[2]

# Bounds (seconds).
COMMAND_TIMEOUT = 120  # apply, get, ... one call
READ_RETRY = 180  # a failing read is tried again for this long
OUTPUT_TIMEOUT = 300  # a sample table is compared until it matches, this long at most
DELETE_TIMEOUT = 1200  # kubectl delete waits for a claim (and so its database) to go
WAIT_MARGIN = 60  # added to a kubectl wait's own --timeout
READS = {"get", "auth", "describe"}


class StepFailedError(AssertionError):
    """A guide's command failed: the message names the guide line, the command, its output."""


@dataclass
class Ran:
    """One command run: where the guide has it, the line, its exit code, output and duration."""

    where: str
    line: str
    code: int
    output: str
    seconds: float


@dataclass
class Runbook:
    kubectl: Path
    kubeconfig: Path
    work: Path
    ran: list[Ran] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        for entry in ROOT.iterdir():
            link = self.work / entry.name
            if not entry.name.startswith(".") and not link.exists():
                link.symlink_to(entry)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.kubectl.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def write(self, step: guide.Step, replace: dict[str, str] | None = None) -> Path:
        """A ``# file:`` step saved under its name (``replace``: text to put in, as the guide
        asks for an account's own IDs)."""
        text = step.text
        for old, new in (replace or {}).items():
            text = text.replace(old, new)
        path = self.work / step.name
        path.write_text(text)
        return path

    def shell(self, where: str, line: str, timeout: float) -> Ran:
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", line],
                cwd=self.work,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            code, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as exc:
            code, output = -1, f"(no answer after {timeout:.0f}s) {exc.stdout or ''}"
        ran = Ran(where, line, code, output, round(time.monotonic() - started, 1))
        print(f"$ {line}   ({where}, {ran.seconds}s, exit {code})\n{output.rstrip()}")
        return ran

    def run(self, where: str, line: str) -> Ran:
        """One line of a step; raises ``StepFailedError`` when it fails (reads: after retrying)."""
        args = shlex.split(line)
        verb = args[1] if len(args) > 1 and args[0] == "kubectl" else ""
        deadline = time.monotonic() + (READ_RETRY if verb in READS else 0)
        while True:
            ran = self.shell(where, line, timeout_of(args))
            if ran.code == 0 or time.monotonic() > deadline:
                break
            time.sleep(3)
        self.ran.append(ran)
        if ran.code != 0:
            raise StepFailedError(f"{where}: `{line}` exited {ran.code}:\n{ran.output}")
        return ran

    def skip(self, step: guide.Step, where: str) -> None:
        note = f"{where}: not run ({step.reason}): " + "; ".join(step.lines())
        print(f"# {note}")
        self.skipped.append(note)

    def compare(self, where: str, line: str, sample: str) -> None:
        """Run ``line`` (a ``kubectl get``) until what it prints has the sample's values in the
        deterministic columns (bounded); raises ``StepFailedError`` with both tables when it never
        does."""
        deadline = time.monotonic() + OUTPUT_TIMEOUT
        while True:
            ran = self.shell(where, line, COMMAND_TIMEOUT)
            problems = guide.table_problems(sample, ran.output) if ran.code == 0 else ["failed"]
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(5)
        if problems:
            raise StepFailedError(
                f"{where}: the guide's sample output is not what `{line}` prints: "
                f"{'; '.join(problems)}\nthe guide:\n{sample}\nkubectl:\n{ran.output}"
            )


def timeout_of(args: list[str]) -> float:
    """How long a command may run: a ``kubectl wait``'s own ``--timeout`` and a margin,
    ``DELETE_TIMEOUT`` for ``kubectl delete``, else ``COMMAND_TIMEOUT``."""
    if args[:2] == ["kubectl", "wait"]:
        for arg in args:
            if arg.startswith("--timeout="):
                return seconds(arg.split("=", 1)[1]) + WAIT_MARGIN
        return 30 + WAIT_MARGIN  # kubectl wait's default --timeout is 30s
    if args[:2] == ["kubectl", "delete"]:
        return DELETE_TIMEOUT
    return COMMAND_TIMEOUT


def seconds(duration: str) -> float:
    """A Go duration as kubectl takes it (``90s``, ``5m``, ``1h30m``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", duration)
    if not parts:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)
