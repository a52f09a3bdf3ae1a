"""tools/proc.py: the CPU and memory figures every benchmark reports come from here."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.proc import cpu_s, rss_mb


def test_cpu_seconds_are_this_process_own_user_and_system_time() -> None:
    # getrusage counts the same utime + stime; a wrong /proc/PID/stat field (the start time,
    # the children's times) or a wrong unit would not agree with it.
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF)
    assert cpu_s(os.getpid()) == pytest.approx(usage.ru_utime + usage.ru_stime, abs=0.05)


def test_cpu_seconds_of_a_process_whose_name_holds_spaces_and_parentheses() -> None:
    # field 2 is the command name in parentheses; the fields are counted after the last ')'
    code = (
        "import sys, time; open('/proc/self/comm', 'w').write('a (b) c)')\n"
        "end = time.process_time() + 0.3\n"
        "while time.process_time() < end: pass\n"
        "print('named', flush=True); sys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"named\n"
        assert "(a (b) c)) " in Path(f"/proc/{child.pid}/stat").read_text()
        assert 0.25 <= cpu_s(child.pid) < 1.0
    finally:
        child.communicate(b"")
        assert child.returncode == 0


def test_resident_memory_grows_with_what_the_process_holds() -> None:
    before = rss_mb(os.getpid())
    held = bytearray(64 * 1024 * 1024)  # 64 MiB, touched page by page
    for i in range(0, len(held), 4096):
        held[i] = 1
    assert rss_mb(os.getpid()) - before == pytest.approx(64, abs=8)
    del held


def test_a_process_without_resident_memory_is_an_error_not_zero() -> None:
    # a kernel thread (kthreadd, pid 2) has no VmRSS line
    with pytest.raises(ValueError, match="no VmRSS"):
        rss_mb(2)
