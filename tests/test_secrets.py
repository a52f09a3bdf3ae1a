"""No secret value leaves the connection details: not in logs, results, events, conditions,
XR status or any desired resource.

For every example whose observed resources carry connection details, the secret values
(keys that name a password, secret, token or private key) and their usual encodings
(URL-quoted, base64) are searched in:
- the logs of the real servicer in-process (structlog captured, stdlib logging via caplog),
  on the normal path and on the last-resort error path;
- stdout and stderr of the server subprocess started with ``--debug``;
- every part of the response except ``desired.composite.connection_details``: results
  (Crossplane turns them into events), conditions, the XR's status, desired resources.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.parse

import pytest
import structlog
import yaml
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn
from tests.support.responses import fatal_messages
from tools import xrender

SECRET_KEY = re.compile(r"password|secret|token|private", re.IGNORECASE)


def secrets_of(ex: xrender.Example) -> set[str]:
    out = set()
    for doc in ex.observed:
        raw = ((doc.get("metadata") or {}).get("annotations") or {}).get(
            xrender.CONNECTION_ANNOTATION
        )
        for key, value in (yaml.safe_load(raw) if raw else {}).items():
            if SECRET_KEY.search(key) and str(value):
                out.add(str(value))
    return out


def forms(secret: str) -> set[str]:
    """The secret as it could appear: plain, URL-quoted, base64."""
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(secret.encode()).decode(),
    }


EXAMPLES = [ex for ex in xrender.examples() if secrets_of(ex)]


def test_some_example_has_secrets():
    assert EXAMPLES, "no example with observed connection details holding a secret"


def _leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(f for s in secrets for f in forms(s) if f in text)


def _public_parts(rsp: fnv1.RunFunctionResponse) -> str:
    """Everything in the response except the composite's connection details."""
    clean = fnv1.RunFunctionResponse()
    clean.CopyFrom(rsp)
    clean.desired.composite.ClearField("connection_details")
    return str(clean)


def _servicer_call(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(fn.FunctionRunner().RunFunction(req, None))
    finally:
        loop.close()


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.name)
def test_no_secret_in_results_conditions_status_or_logs(ex, caplog):
    secrets = secrets_of(ex)
    caplog.set_level("DEBUG")
    with structlog.testing.capture_logs() as logs:
        rsp = xrender.render(_servicer_call, ex)
    assert not fatal_messages(rsp)
    assert rsp.desired.composite.connection_details, "the secrets are passed on"
    assert _leaks(_public_parts(rsp), secrets) == []
    assert _leaks(repr(logs), secrets) == []
    assert _leaks(caplog.text, secrets) == []


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.name)
def test_no_secret_in_logs_when_rendering_fails(ex, caplog, monkeypatch):
    """The last-resort handler logs the error type only, never its message."""
    secrets = secrets_of(ex)

    def boom(req):
        raise RuntimeError(" ".join(sorted(secrets)))

    monkeypatch.setitem(fn.RENDERERS, (ex.xr["apiVersion"], ex.xr["kind"]), boom)
    caplog.set_level("DEBUG")
    with structlog.testing.capture_logs() as logs:
        rsp = xrender.render(_servicer_call, ex)
    assert fatal_messages(rsp)
    assert logs, "the error is logged"
    assert _leaks(_public_parts(rsp), secrets) == []
    assert _leaks(repr(logs), secrets) == []
    assert _leaks(caplog.text, secrets) == []


def test_no_secret_in_the_debug_server_output():
    address = f"127.0.0.1:{xrender.free_port()}"
    cmd = [sys.executable, "-m", "function.main", "--insecure", "--debug", "--address", address]
    env = {**os.environ, "PYTHONPATH": str(xrender.ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        channel, call = xrender.client(address)
        with contextlib.closing(channel):
            xrender.wait_ready(call, time.monotonic() + 30, proc)
            for ex in EXAMPLES:
                rsp = xrender.render(call, ex)
                assert rsp.desired.composite.connection_details
                # A malformed variant too: errors must not echo the request.
                bad = xrender.build_request({**ex.xr, "spec": {"junk": 1}}, {}, ex.observed)
                call(bad)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    text = out.decode(errors="replace") + err.decode(errors="replace")
    secrets = set().union(*(secrets_of(ex) for ex in EXAMPLES))
    assert _leaks(text, secrets) == []
