"""mTLS, as Crossplane runs the function: ``--tls-certs-dir`` with tls.crt, tls.key, ca.crt.

The test makes a CA, a server certificate for 127.0.0.1 and a client certificate with the
``cryptography`` package, starts the real server, and checks that a client with a valid
certificate is served, one without a client certificate (or with one from another CA) is
refused, and that SIGTERM ends the server cleanly within the SDK's grace period.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from crossplane.function import runtime
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.responses import desired
from tools import xrender

NOW = datetime.datetime.now(datetime.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str):
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(ca, cn: str, usage, san: list[x509.GeneralName] | None = None):
    ca_key, ca_cert = ca
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict:
    ca = make_ca("klutch test CA")
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server_key, server_cert = issue(ca, "function-klutch-aws", ExtendedKeyUsageOID.SERVER_AUTH, san)
    client_key, client_cert = issue(ca, "crossplane", ExtendedKeyUsageOID.CLIENT_AUTH)
    stranger_ca = make_ca("another CA")
    stranger_key, stranger_cert = issue(stranger_ca, "stranger", ExtendedKeyUsageOID.CLIENT_AUTH)
    certs: Path = tmp_path_factory.mktemp("tls")
    (certs / "tls.crt").write_bytes(_pem(server_cert))
    (certs / "tls.key").write_bytes(_pem_key(server_key))
    (certs / "ca.crt").write_bytes(_pem(ca[1]))
    return {
        "dir": certs,
        "ca": _pem(ca[1]),
        "client": (_pem_key(client_key), _pem(client_cert)),
        "stranger": (_pem_key(stranger_key), _pem(stranger_cert)),
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
