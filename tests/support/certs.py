"""Throwaway certificates made with ``cryptography``: the e2e control plane's (one CA for
everything), tests/test_tls.py's and the fake AWS provider's PostgreSQL proxy's.

What each part needs, from the upstream sources:
- kube-apiserver serves ``--tls-cert-file``/``--tls-private-key-file`` and trusts client certs
  signed by ``--client-ca-file``; a client cert's Organization is its group, and
  ``system:masters`` is bound to cluster-admin (kubernetes ``plugin/pkg/auth/authorizer/rbac/
  bootstrappolicy/policy.go``, ClusterRoleBinding cluster-admin).
- service accounts: ``--service-account-key-file`` (public) and
  ``--service-account-signing-key-file`` (private), as controller-runtime's envtest writes them
  (``pkg/internal/testing/controlplane/apiserver.go``, ``defaultArgs``).
- Crossplane calls functions with mutual TLS from ``--tls-client-certs-dir`` holding ``ca.crt``,
  ``tls.crt``, ``tls.key`` (crossplane v2.3.4 ``cmd/crossplane/core/core.go``,
  ``certificates.LoadMTLSConfig``), and serves its webhooks from ``--tls-server-certs-dir``
  (controller-runtime's webhook server reads ``tls.crt``/``tls.key`` in its CertDir).
- the function (crossplane-function-sdk-python ``crossplane/function/runtime.py``
  ``load_credentials``) loads ``tls.crt``, ``tls.key`` and ``ca.crt`` from ``--tls-certs-dir``
  and requires client certs (``require_client_auth=True``).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("localhost",)
LOOPBACK_IPS = ("127.0.0.1",)


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


@dataclass
class Pair:
    """A certificate and its key, PEM encoded."""

    cert: bytes
    key: bytes

    def write(
        self, directory: Path, ca: bytes, cert: str = "tls.crt", key: str = "tls.key"
    ) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / cert).write_bytes(self.cert)
        (directory / key).write_bytes(self.key)
        (directory / "ca.crt").write_bytes(ca)
        return directory


class Authority:
    """A throwaway CA valid for a day."""

    def __init__(self, cn: str = "klutch-e2e-ca") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.name = _name(cn)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, *, org: str | None = None, server: bool = False) -> Pair:
        """A leaf for ``cn``: a server cert has the loopback names and IPs as SANs (and may
        be used as a client too); a client cert carries ``org`` as its group."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, org))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if server:
            sans: list[x509.GeneralName] = [x509.DNSName(n) for n in LOOPBACK_NAMES]
            sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in LOOPBACK_IPS]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Pair(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def service_account_keys(directory: Path) -> tuple[Path, Path]:
    """An RSA key pair for service-account tokens: (public key file, private key file)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    directory.mkdir(parents=True, exist_ok=True)
    public = directory / "sa.pub"
    private = directory / "sa.key"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    private.write_bytes(_pem_key(key))
    return public, private
