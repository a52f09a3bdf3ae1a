"""Shared fixtures: the real server over gRPC on 127.0.0.1; and the summary, which says
where the upstream CRD schemas came from (``tests/support/schemas.py``).

Fixtures and hooks only: helpers that test modules import live in ``tests/support``.
"""

from __future__ import annotations

import time

import pytest

from tests.support import schemas
from tests.support.responses import Call
from tools import xrender


def pytest_terminal_summary(terminalreporter) -> None:
    """Where the upstream CRD schemas came from (also under ``pytest -q``)."""
    for line in schemas.describe():
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def grpc_address() -> str:
    """Address of the real server (``function --insecure``) on 127.0.0.1."""
    with xrender.serve() as (address, proc):
        channel, call = xrender.client(address)
        xrender.wait_ready(call, time.monotonic() + 30, proc)
        channel.close()
        yield address


@pytest.fixture(scope="session")
def grpc_call(grpc_address) -> Call:
    """RunFunction on the real server over gRPC."""
    channel, call = xrender.client(grpc_address)
    yield call
    channel.close()
