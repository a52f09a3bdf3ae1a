"""mTLS, as Crossplane runs the function: ``--tls-certs-dir`` with tls.crt, tls.key, ca.crt.

The test makes a CA, a server certificate for 127.0.0.1 and a client certificate
(tests/support/certs.py), starts the real server, and checks that a client with a valid
certificate is served, one without a client certificate (or with one from another CA) is
refused, and that SIGTERM ends the server cleanly within the SDK's grace period.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator

import grpc
import pytest
from crossplane.function import runtime
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from tests.support import certs
from tests.support.responses import desired
from tools import xrender


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict:
    ca = certs.Authority("klutch test CA")
    server = ca.issue("function-klutch-aws", server=True)  # SANs 127.0.0.1 and localhost
    client = ca.issue("crossplane")
    stranger = certs.Authority("another CA").issue("stranger")
    return {
        "dir": server.write(tmp_path_factory.mktemp("tls"), ca.pem),
        "ca": ca.pem,
        "client": (client.key, client.cert),
        "stranger": (stranger.key, stranger.cert),
    }


def _call(address: str, creds: grpc.ChannelCredentials, req: fnv1.RunFunctionRequest):
    with grpc.secure_channel(address, creds) as channel:
        stub = grpcv1.FunctionRunnerServiceStub(channel)
        return stub.RunFunction(req, timeout=5)


def _example_request() -> fnv1.RunFunctionRequest:
    ex = next(e for e in xrender.examples() if "objectstorageinstance/xr.yaml" in e.name)
    return xrender.build_request(ex.xr, xrender.function_input(ex.composition))


@contextlib.contextmanager
def tls_server(pki) -> Iterator[tuple[str, subprocess.Popen]]:
    """The server with ``--tls-certs-dir``, once it answers a client with a valid cert."""
    with xrender.serve(args=["--tls-certs-dir", str(pki["dir"])]) as (address, proc):
        key, cert = pki["client"]
        creds = grpc.ssl_channel_credentials(pki["ca"], key, cert)
        deadline = time.monotonic() + 30
        while True:
            try:
                _call(address, creds, fnv1.RunFunctionRequest())
                break
            except grpc.RpcError:
                assert proc.poll() is None, proc.stderr.read().decode()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield address, proc


@pytest.fixture(scope="module")
def server(pki):
    with tls_server(pki) as running:
        yield running


def test_a_client_with_a_valid_certificate_is_served(pki, server):
    address, _ = server
    key, cert = pki["client"]
    rsp = _call(address, grpc.ssl_channel_credentials(pki["ca"], key, cert), _example_request())
    assert "bucket" in desired(rsp)


def test_a_client_without_a_certificate_is_refused(pki, server):
    address, _ = server
    with pytest.raises(grpc.RpcError) as err:
        _call(address, grpc.ssl_channel_credentials(pki["ca"]), _example_request())
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_with_a_certificate_from_another_ca_is_refused(pki, server):
    address, _ = server
    key, cert = pki["stranger"]
    with pytest.raises(grpc.RpcError) as err:
        _call(address, grpc.ssl_channel_credentials(pki["ca"], key, cert), _example_request())
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plaintext_is_refused(server):
    address, _ = server
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError):
        grpcv1.FunctionRunnerServiceStub(channel).RunFunction(_example_request(), timeout=5)


def test_sigterm_ends_the_server_cleanly_within_the_grace_period(pki):
    with tls_server(pki) as (address, proc):
        key, cert = pki["client"]
        creds = grpc.ssl_channel_credentials(pki["ca"], key, cert)
        assert "bucket" in desired(_call(address, creds, _example_request()))
        proc.send_signal(signal.SIGTERM)
        # The SDK stops the server with grace=SHUTDOWN_GRACE_PERIOD_SECONDS; 5 s margin.
        code = proc.wait(timeout=runtime.SHUTDOWN_GRACE_PERIOD_SECONDS + 5)
        stderr = proc.stderr.read().decode(errors="replace")
        assert code == 0, stderr
        assert "Traceback" not in stderr, stderr
