"""What /proc says about a process: its CPU seconds and resident memory, for the benchmarks
(``tools/bench.py``, ``tools/bench_peers.py``, ``tools/bench_bytes.py``) and the scale run
(``tests/e2e/scale.py``). Linux only, as the machines are (proc(5): ``stat`` fields 14 and 15,
``status`` ``VmRSS``)."""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat utime + stime). The
    command name in field 2 may hold spaces and parentheses, so the fields are counted after
    its last ')'."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (/proc/PID/status VmRSS); a process without one
    (a zombie, a kernel thread) is an error, never a zero that would pass for a figure."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS in /proc/{pid}/status")
