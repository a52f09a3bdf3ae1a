"""A real control plane on loopback, started as processes: ``ControlPlane.start()`` / ``stop()``.

Parts, in the order they start (see docs/e2e.md and ../shared/E2E-NOTES.md):
etcd, kube-apiserver, kube-controller-manager, Crossplane's CRDs, the function (this
repository's code over mutual TLS) and its FunctionRevision, Crossplane core, the providers'
CRDs, moto, provider-sql, the fake AWS provider (``tests/e2e/fakeaws``, when present; it
starts the PostgreSQL server of each rds Instance), the network the operator guide's
EnvironmentConfig names, a ProviderConfig pointing at moto, the XRDs and the Compositions,
then the operator guide's install steps as written (its EnvironmentConfig and RBAC;
``_operator_guide``).

The Go programs come from ``tests/e2e/build.sh`` (its cache folder, the versions it names).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import yaml
from kubernetes import config

from tests.e2e import runbook
from tests.e2e.processes import Process, WaitTimeoutError, free_port, tail, wait_for
from tests.support import certs, guide

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
SCHEMAS = SHARED / "schemas"
BUILD_SH = ROOT / "tests" / "e2e" / "build.sh"

# The Function every Composition calls (compositions/*.yaml functionRef.name; the Configuration
# installs the function under that name: docs/operator-guide.md section 4).
FUNCTION_NAME = "anynines-function-klutch-aws"
FUNCTION_PACKAGE = "xpkg.upbound.io/anynines/function-klutch-aws:v0.1.0"
CROSSPLANE_NAMESPACE = "crossplane-system"
# moto's account: the AWS provider side runs with no real credentials, as account 000000000000
# (the example EnvironmentConfig's account).
AWS_ACCOUNT = "000000000000"

# moto requests served before IAM enforcement starts (see _aws): 3 for the operator's own
# admin user and key (_operator_aws), then 4 for the fake AWS provider's.
OPERATOR_AUTH_ACTIONS = 3
NO_AUTH_ACTIONS = OPERATOR_AUTH_ACTIONS + 4

# Bounds of every wait (seconds).
START_TIMEOUT = 90
ESTABLISH_TIMEOUT = 120


def guide_environment_config() -> dict[str, Any]:
    """The EnvironmentConfig of the operator guide's section 3 (its ``# file:
    environmentconfig.yaml`` block), which _operator_guide applies."""
    for step in guide.install_steps(guide.OPERATOR_GUIDE.read_text()):
        if step.kind == "file" and step.name == "environmentconfig.yaml":
            doc: dict[str, Any] = yaml.safe_load(step.text)
            return doc
    raise AssertionError("docs/operator-guide.md has no `# file: environmentconfig.yaml` block")


def versions() -> dict[str, str]:
    """The versions ``build.sh`` builds (its ``*_VERSION=`` lines): one source of truth."""
    found = re.findall(r"^([A-Z_]+)_VERSION=(\S+)", BUILD_SH.read_text(), re.MULTILINE)
    return {name.lower(): value for name, value in found}


def go_module(path: str, version_of: str) -> Path:
    """The folder of a module in the Go module cache (``go mod download``: a no-op when
    build.sh already fetched it, a download from the Go module proxy otherwise)."""
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{path}@{versions()[version_of]}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tempfile.gettempdir(),  # outside any module
    )
    info = json.loads(done.stdout or "{}")
    if done.returncode != 0 or not info.get("Dir"):
        raise FileNotFoundError(f"go mod download {path}: {info.get('Error') or done.stderr}")
    return Path(info["Dir"])


def bin_dir() -> Path:
    """Where ``build.sh`` puts the binaries (``KLUTCH_E2E_CACHE``, as build.sh computes it)."""
    cache = os.environ.get("KLUTCH_E2E_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "klutch-e2e"
    )
    return Path(cache) / "bin"


@dataclass
class Binaries:
    etcd: Path
    apiserver: Path
    controller_manager: Path
    kubectl: Path
    crossplane: Path
    crossplane_cli: Path
    provider_sql: Path

    @classmethod
    def find(cls) -> Binaries:
        v = versions()
        b = bin_dir()
        kube = b / f"kube-{v['kube']}"
        found = cls(
            etcd=b / f"etcd-{v['etcd']}",
            apiserver=kube / "kube-apiserver",
            controller_manager=kube / "kube-controller-manager",
            kubectl=kube / "kubectl",
            crossplane=b / f"crossplane-{v['crossplane']}",
            crossplane_cli=b / f"crossplane-cli-{v['cli']}",
            provider_sql=b / f"provider-sql-{v['provider_sql']}",
        )
        # The CLI is not part of the control plane: test_render.py checks it is there.
        parts = {k: p for k, p in vars(found).items() if k != "crossplane_cli"}
        missing = [str(p) for p in parts.values() if not os.access(p, os.X_OK)]
        if missing:
            raise FileNotFoundError(
                "e2e binaries missing (run `bash tests/e2e/build.sh`): " + ", ".join(missing)
            )
        return found


class KubectlError(AssertionError):
    """kubectl failed: the message has the command, its exit code and its output."""


@dataclass
class ControlPlane:
    """Everything the e2e tests talk to. ``start`` brings it up, ``stop`` takes it down."""

    bins: Binaries = field(default_factory=Binaries.find)
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="klutch-e2e-")))
    processes: list[Process] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    fake_aws: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    # The operator's admin key in moto (_operator_aws): what tests use to look at the AWS side.
    aws_credentials: tuple[str, str] = ("", "")
    # Placeholder ID of the example EnvironmentConfig -> the ID of what moto made for it.
    network: dict[str, str] = field(default_factory=dict)
    failed: bool = False  # a test failed: the work dir (logs) is kept
    # The operator guide's install steps as run by _operator_guide (commands, skipped steps).
    operator_guide: runbook.Runbook | None = None

    # ----- paths
    @property
    def logs(self) -> Path:
        return self.work / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.work / "kubeconfig"

    @property
    def apiserver_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def moto_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['moto']}"

    @property
    def moto_ca(self) -> str:
        """The CA file that verifies moto's serving cert (boto3's ``verify``)."""
        return str(self.tls / "moto" / "ca.crt")

    @property
    def function_address(self) -> str:
        return f"127.0.0.1:{self.ports['function']}"

    # ----- running programs
    def process(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        proc = Process(name, argv, self.logs / f"{name}.log", env or {}, cwd=ROOT).start()
        self.processes.append(proc)
        return proc

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bins.kubectl), "--kubeconfig", str(self.kubeconfig), *args]
        done = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise KubectlError(
                f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    def apply(self, *docs: dict[str, Any], server_side: bool = False) -> str:
        args = ["apply", "-f", "-"]
        if server_side:
            args += ["--server-side", "--force-conflicts", "--field-manager=klutch-e2e"]
        text = yaml.safe_dump_all(list(docs), sort_keys=False)
        return self.kubectl(*args, stdin=text).stdout

    def apply_files(self, *paths: Path) -> str:
        # Server-side: the provider CRDs are larger than the 256 KiB last-applied annotation of a
        # client-side apply allows (kubernetes staging/src/k8s.io/apimachinery validation,
        # TotalAnnotationSizeLimitB).
        args = ["apply", "--server-side", "--force-conflicts", "--field-manager=klutch-e2e"]
        for p in paths:
            args += ["-f", str(p)]
        return self.kubectl(*args, timeout=180).stdout

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def api_client(self) -> Any:
        """A ``kubernetes`` ApiClient for this control plane (the admin user)."""
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    # ----- bring up
    def start(self) -> ControlPlane:
        self.logs.mkdir(parents=True, exist_ok=True)
        for step in (
            self._certificates,
            self._etcd,
            self._apiserver,
            self._controller_manager,
            self._crossplane_crds,
            self._function,
            self._crossplane,
            self._provider_crds,
            self._aws,
            self._provider_sql,
            self._fake_aws,
            self._operator_network,
            self._operator_setup,
            self._apis,
            self._operator_guide,
        ):
            started = time.monotonic()
            step()
            self.timings[step.__name__.strip("_")] = round(time.monotonic() - started, 1)
            self.check_alive()
        return self

    def check_alive(self) -> None:
        for proc in self.processes:
            proc.check_alive()

    def _certificates(self) -> None:
        ca = self.ca = certs.Authority()
        tls = self.work / "tls"
        tls.mkdir()
        (tls / "ca.crt").write_bytes(ca.pem)
        self.tls = tls
        ca.issue("kube-apiserver", server=True).write(tls / "apiserver", ca.pem)
        # system:masters is bound to cluster-admin by the API server's bootstrap policy.
        self.admin = ca.issue("klutch-e2e-admin", org="system:masters")
        self.admin.write(tls / "admin", ca.pem)
        certs.service_account_keys(tls / "sa")
        # Crossplane's client cert for calling functions, its webhook serving cert, and the
        # function's serving cert: all from the one CA, so each side trusts the other.
        ca.issue("crossplane", server=False).write(tls / "crossplane-client", ca.pem)
        ca.issue("crossplane-webhook", server=True).write(tls / "crossplane-webhook", ca.pem)
        ca.issue(FUNCTION_NAME, server=True).write(tls / "function", ca.pem)
        # moto's serving cert: AWS is reached over TLS only (tests/e2e/motoserver.py).
        ca.issue("moto", server=True).write(tls / "moto", ca.pem)

    def _etcd(self) -> None:
        # Flags as controller-runtime's envtest starts etcd (pkg/internal/testing/controlplane/
        # etcd.go: listen/advertise client URLs, a peer URL of its own, data dir,
        # --unsafe-no-fsync from etcd 3.5 on).
        port, peer = free_port(), free_port()
        self.ports["etcd"] = port
        peer_url = f"http://127.0.0.1:{peer}"
        self.process(
            "etcd",
            [
                str(self.bins.etcd),
                "--data-dir",
                str(self.work / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{port}",
                "--listen-peer-urls",
                peer_url,
                "--initial-advertise-peer-urls",
                peer_url,
                "--initial-cluster",
                f"default={peer_url}",
                "--unsafe-no-fsync",
                "--quota-backend-bytes",
                str(2 * 1024**3),
            ],
        )
        wait_for(
            "etcd /health",
            lambda: json.loads(_http(f"http://127.0.0.1:{port}/health")).get("health") == "true",
            START_TIMEOUT,
            last=lambda: tail(self.logs / "etcd.log", 5),
        )

    def _apiserver(self) -> None:
        # envtest's flag set (controller-runtime pkg/internal/testing/controlplane/apiserver.go,
        # defaultArgs), with our certificates.
        port = self.ports["apiserver"] = free_port()
        tls = self.tls
        self.process(
            "kube-apiserver",
            [
                str(self.bins.apiserver),
                f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
                f"--cert-dir={tls / 'apiserver'}",
                f"--tls-cert-file={tls / 'apiserver' / 'tls.crt'}",
                f"--tls-private-key-file={tls / 'apiserver' / 'tls.key'}",
                f"--secure-port={port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--authorization-mode=RBAC",
                f"--service-account-issuer=https://127.0.0.1:{port}/",
                f"--service-account-key-file={tls / 'sa' / 'sa.pub'}",
                f"--service-account-signing-key-file={tls / 'sa' / 'sa.key'}",
                f"--client-ca-file={tls / 'ca.crt'}",
                "--disable-admission-plugins=ServiceAccount",
            ],
        )
        self._write_kubeconfig()
        wait_for(
            "kube-apiserver /readyz",
            lambda: _http(f"{self.apiserver_url}/readyz", self._admin_ssl()) == "ok",
            START_TIMEOUT,
            last=lambda: tail(self.logs / "kube-apiserver.log", 5),
        )

    def _admin_ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.tls / "ca.crt"))
        ctx.load_cert_chain(self.tls / "admin" / "tls.crt", self.tls / "admin" / "tls.key")
        return ctx

    def _write_kubeconfig(self) -> None:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "e2e",
                    "cluster": {
                        "server": self.apiserver_url,
                        "certificate-authority-data": b64(self.ca.pem),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(self.admin.cert),
                        "client-key-data": b64(self.admin.key),
                    },
                }
            ],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "admin"}}],
            "current-context": "e2e",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))

    def _controller_manager(self) -> None:
        # Crossplane deletes an XR by removing its finalizer; the garbage collector deletes
        # the composed resources it owns, the namespace controller empties a deleted namespace.
        # Controller names: kubernetes v1.35 cmd/kube-controller-manager/names/controller_names.go.
        port = self.ports["kube-controller-manager"] = free_port()
        self.process(
            "kube-controller-manager",
            [
                str(self.bins.controller_manager),
                f"--kubeconfig={self.kubeconfig}",
                # clusterrole-aggregation: the operator guide's Namespaces ClusterRole reaches
                # Crossplane's ServiceAccount through the chart's aggregated ClusterRole.
                "--controllers=garbage-collector-controller,namespace-controller,"
                "clusterrole-aggregation-controller",
                f"--service-account-private-key-file={self.tls / 'sa' / 'sa.key'}",
                f"--root-ca-file={self.tls / 'ca.crt'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
            ],
        )
        wait_for(
            "kube-controller-manager /healthz",
            lambda: _http(f"https://127.0.0.1:{port}/healthz", _insecure_ssl()) == "ok",
            START_TIMEOUT,
            last=lambda: tail(self.logs / "kube-controller-manager.log", 5),
        )

    def wait_established(self, what: str, timeout: float = ESTABLISH_TIMEOUT) -> None:
        """Wait until every CRD is Established. Polled, not ``kubectl wait --all``: that fails
        outright on a CRD the API server has not given any condition yet."""

        def pending() -> list[str]:
            return [
                crd["metadata"]["name"]
                for crd in self.get("customresourcedefinitions")["items"]
                if conditions(crd).get("Established", {}).get("status") != "True"
            ]

        seen: dict[str, list[str]] = {}
        wait_for(
            f"{what} to be Established",
            lambda: not seen.__setitem__("pending", pending()) and not seen["pending"],
            timeout,
            interval=1.0,
            last=lambda: f"not yet: {seen.get('pending')}",
        )

    def _crossplane_crds(self) -> None:
        # Crossplane's own CRDs as `crossplane core init` installs them (crossplane v2.3.4
        # internal/initializer/crds.go); byte-for-byte copies of cluster/crds at v2.3.4 are in
        # ../shared/schemas/crossplane-v2.3.4/crds (SOURCES.md).
        crds = sorted((SCHEMAS / "crossplane-v2.3.4" / "crds").glob("*.yaml"))
        self.apply_files(*crds)
        self.kubectl("create", "namespace", CROSSPLANE_NAMESPACE)
        self.wait_established("Crossplane's CRDs")

    def _function(self) -> None:
        port = self.ports["function"] = free_port()
        # The console script of this repository (pyproject.toml [project.scripts]), with the
        # SDK's --tls-certs-dir: tls.crt, tls.key and ca.crt, client certs required.
        script = Path(sys.executable).parent / "function"
        self.process(
            "function",
            [
                str(script),
                "--tls-certs-dir",
                str(self.tls / "function"),
                "--address",
                self.function_address,
                "--debug",
            ],
        )
        wait_for(
            f"the function listening on {self.function_address}",
            lambda: _port_open(port),
            START_TIMEOUT,
            last=lambda: tail(self.logs / "function.log", 5),
        )
        # Crossplane's function runner (crossplane v2.3.4 internal/xfn/function_runner.go,
        # getClientConn) lists FunctionRevisions labelled pkg.crossplane.io/package=<the
        # Composition's functionRef.name>, takes the one with spec.desiredState Active and dials
        # its status.endpoint with grpc.NewClient (an empty endpoint is an error). With
        # --package-runtime=External nothing deploys the function; the paused annotation keeps
        # the revision reconciler (internal/controller/pkg/revision/reconciler.go, IsPaused) from
        # trying to fetch the package image. The endpoint names 127.0.0.1: the function listens
        # there only, and its certificate has that IP as a SAN (gRPC takes the TLS server name
        # from the target's authority).
        revision = f"{FUNCTION_NAME}-e2e"
        endpoint = f"dns:///{self.function_address}"
        # The revision reconciler copies the package's capabilities into the revision's status
        # (internal/controller/pkg/revision/reconciler.go, SetCapabilities; a Function package
        # without any is a composition function: apis/pkg/meta/v1/interfaces.go
        # GetCapabilities), and the CompositionRevision controller refuses a pipeline whose
        # function lacks "composition" (internal/xfn/capabilities.go CheckCapabilities).
        meta = yaml.safe_load((ROOT / "package" / "crossplane.yaml").read_text())
        capabilities = meta["spec"].get("capabilities") or ["composition"]
        self.apply(
            {
                "apiVersion": "pkg.crossplane.io/v1",
                "kind": "FunctionRevision",
                "metadata": {
                    "name": revision,
                    "labels": {"pkg.crossplane.io/package": FUNCTION_NAME},
                    "annotations": {"crossplane.io/paused": "true"},
                },
                "spec": {
                    "desiredState": "Active",
                    "image": FUNCTION_PACKAGE,
                    "revision": 1,
                    "ignoreCrossplaneConstraints": True,
                    "skipDependencyResolution": True,
                },
            }
        )
        self.kubectl(
            "patch",
            "functionrevision",
            revision,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"endpoint": endpoint, "capabilities": capabilities}}),
        )

    def _crossplane(self) -> None:
        port = self.ports["crossplane-webhook"] = free_port()
        health = self.ports["crossplane-health"] = free_port()
        self.ports["crossplane-metrics"] = free_port()
        # The Usage webhook as crossplane-init registers it (crossplane v2.3.4
        # cluster/webhookconfigurations/usage.yaml), pointing at our process by URL instead of
        # a Service. Without webhooks Crossplane does not start the Usage controllers
        # (cmd/crossplane/core/core.go: `c.EnableWebhooks && EnableBetaUsages`).
        self.apply(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": "crossplane-no-usages"},
                "webhooks": [
                    {
                        "name": "nousages.protection.crossplane.io",
                        "admissionReviewVersions": ["v1"],
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{port}/validate-no-usages",
                            "caBundle": base64.b64encode(self.ca.pem).decode(),
                        },
                        "failurePolicy": "Fail",
                        "objectSelector": {"matchLabels": {"crossplane.io/in-use": "true"}},
                        "rules": [
                            {
                                "apiGroups": ["*"],
                                "apiVersions": ["*"],
                                "operations": ["DELETE"],
                                "resources": ["*"],
                            }
                        ],
                        "sideEffects": "None",
                    }
                ],
            }
        )
        # Flags: crossplane v2.3.4 cmd/crossplane/core/core.go startCommand. Out of cluster it
        # reads KUBECONFIG (controller-runtime ctrl.GetConfig) and runs as the admin user.
        self.process(
            "crossplane",
            [
                str(self.bins.crossplane),
                "core",
                "start",
                "--package-runtime=External",
                "--webhook-enabled",
                f"--webhook-port={port}",
                f"--tls-server-certs-dir={self.tls / 'crossplane-webhook'}",
                f"--tls-client-certs-dir={self.tls / 'crossplane-client'}",
                f"--health-probe-port={health}",
                f"--metrics-port={self.ports['crossplane-metrics']}",
                f"--cache-dir={self.work / 'xpkg-cache'}",
                f"--xfn-cache-dir={self.work / 'xfn-cache'}",
                "--poll-interval=30s",
                "--debug",
            ],
            env={"KUBECONFIG": str(self.kubeconfig), "POD_NAMESPACE": CROSSPLANE_NAMESPACE},
        )
        wait_for(
            "Crossplane /readyz (its webhook server started)",
            lambda: _http(f"http://127.0.0.1:{health}/readyz") == "ok",
            START_TIMEOUT,
            last=lambda: tail(self.logs / "crossplane.log", 5),
        )

    def _provider_crds(self) -> None:
        # The providers' CRDs as their packages install them: every file of provider-upjet-aws
        # v2.6.0 we copied (cluster-scoped *.aws.upbound.io and namespaced *.aws.m.upbound.io)
        # and provider-sql v0.16.0's package/crds.
        aws = sorted((SCHEMAS / "provider-upjet-aws-v2.6.0").glob("*.yaml"))
        # All of provider-sql's CRDs, MSSQL's too: it lists every kind it has a controller for
        # when it starts, and exits when one is missing ("no matches for kind Database in
        # version mssql.sql.crossplane.io/v1alpha1"); ../shared/schemas has only PostgreSQL's
        # and MySQL's, the module (downloaded by build.sh) has them all.
        sql = sorted(
            (
                go_module("github.com/crossplane-contrib/provider-sql", "provider_sql")
                / "package"
                / "crds"
            ).glob("*.yaml")
        )
        self.apply_files(*aws, *sql)
        self.wait_established("the providers' CRDs")

    def _aws(self) -> None:
        port = self.ports["moto"] = free_port()
        self.process(
            "moto",
            # moto's server over TLS with the request context AWS gives a bucket policy
            # over TLS (tests/e2e/motoserver.py: moto alone denies every object request of
            # a bucket whose policy denies aws:SecureTransport false, over TLS too).
            [
                sys.executable,
                "-m",
                "tests.e2e.motoserver",
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
                "-c",
                str(self.tls / "moto" / "tls.crt"),
                "-k",
                str(self.tls / "moto" / "tls.key"),
            ],
            env={
                "MOTO_ACCOUNT_ID": AWS_ACCOUNT,
                # AWS-managed policies (AWSBackupServiceRolePolicyForBackup, ...) exist in moto
                # only with this (moto/settings.py load_iam_aws_managed_policies, read by
                # moto/iam/models.py).
                "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
                # IAM enforcement (moto core/authorization.py ActionAuthenticatorMixin): the
                # first N requests are not checked, every later one is signed and checked
                # against IAM. The fake AWS provider's first 4 calls make its own admin user
                # and key (tests/e2e/fakeaws/__main__.py); from then on a binding's access key
                # can do only what its policy allows.
                "INITIAL_NO_AUTH_ACTION_COUNT": str(NO_AUTH_ACTIONS),
                "PYTHONPATH": str(ROOT),
            },
        )
        wait_for(
            f"moto on {self.moto_url}",
            lambda: _port_open(port),
            START_TIMEOUT,
            last=lambda: tail(self.logs / "moto.log", 5),
        )
        self._operator_aws()

    def aws_client(self, service: str, region: str = "eu-central-1") -> Any:
        """A boto3 client of moto with the operator's admin key (IAM enforcement is on)."""
        key, secret = self.aws_credentials or ("test", "test")
        return boto3.client(
            service,
            endpoint_url=self.moto_url,
            verify=self.moto_ca,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    def binding_s3(self, secret: dict[str, str]) -> Any:
        """S3 as an application sees it through an ObjectStorageBinding's Secret (envFrom): its
        key and region; the endpoint is moto's (the Secret's ``S3_ENDPOINT`` is AWS's), over TLS
        as S3 is (tests/e2e/motoserver.py), path-style as moto serves it."""
        return boto3.client(
            "s3",
            endpoint_url=self.moto_url,
            verify=self.moto_ca,
            region_name=secret["AWS_REGION"],
            aws_access_key_id=secret["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=secret["AWS_SECRET_ACCESS_KEY"],
            config=botocore.config.Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 1}
            ),
        )

    def _operator_aws(self) -> None:
        """What the operator has in the AWS account before installing (docs/operator-guide.md,
        "The environment"): an admin identity, and the network the example EnvironmentConfig
        names. Its IDs are placeholders ("replace them with your account's before applying",
        its header): the VPCs and subnets are made here and ``_operator_guide`` applies the
        operator guide's EnvironmentConfig with their IDs. moto refuses an rds Instance in a
        DB subnet group that does not exist (DBSubnetGroupNotFoundFault) and a subnet group of
        unknown subnets (InvalidSubnetID.NotFound)."""
        self.aws_credentials = ("test", "test")
        # The first OPERATOR_AUTH_ACTIONS requests, unchecked (moto INITIAL_NO_AUTH_ACTION_COUNT).
        iam = self.aws_client("iam")
        iam.create_user(UserName="e2e-operator")
        iam.put_user_policy(
            UserName="e2e-operator",
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="e2e-operator")["AccessKey"]
        self.aws_credentials = (key["AccessKeyId"], key["SecretAccessKey"])

    def _operator_network(self) -> None:
        """The network of the operator guide's EnvironmentConfig (see _operator_aws), made once the
        fake AWS provider made its own identity: moto counts every request, signed or not,
        against INITIAL_NO_AUTH_ACTION_COUNT (moto core/responses.py
        ActionAuthenticatorMixin.request_count), so nothing may call moto in between."""
        if self.fake_aws:
            wait_for(
                "the fake AWS provider's own IAM identity (its log: 'fakeaws: reconciling')",
                lambda: "fakeaws: reconciling" in (self.logs / "fakeaws.log").read_text(),
                START_TIMEOUT,
                last=lambda: tail(self.logs / "fakeaws.log", 5),
            )
        env = guide_environment_config()
        for region, conf in env["data"]["regions"].items():
            ec2 = self.aws_client("ec2", region)
            rds = self.aws_client("rds", region)
            vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(
                    VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{region}{az}"
                )["Subnet"]["SubnetId"]
                for i, az in enumerate("abc", start=1)
            ]
            for net in (conf.get("network"), conf.get("publicNetwork")):
                if not net:
                    continue
                if net.get("vpcId"):
                    self.network[net["vpcId"]] = vpc
                for placeholder, real in zip(net.get("subnetIds") or [], subnets, strict=False):
                    self.network[placeholder] = real
                for sg in net.get("vpcSecurityGroupIds") or []:
                    self.network[sg] = ec2.create_security_group(
                        GroupName=f"e2e-{sg}", Description="operator's", VpcId=vpc
                    )["GroupId"]
                if net.get("dbSubnetGroupName"):
                    rds.create_db_subnet_group(
                        DBSubnetGroupName=net["dbSubnetGroupName"],
                        DBSubnetGroupDescription="the operator's network",
                        SubnetIds=subnets,
                    )

    def _provider_sql(self) -> None:
        # Flags: provider-sql v0.16.0 cmd/provider/main.go (kingpin); ctrl.GetConfig reads
        # KUBECONFIG. Its default metrics address is :8080: a free loopback port instead.
        self.process(
            "provider-sql",
            [
                str(self.bins.provider_sql),
                "--debug",
                "--poll=30s",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
            ],
            env={"KUBECONFIG": str(self.kubeconfig)},
        )

    def _fake_aws(self) -> None:
        main = ROOT / "tests" / "e2e" / "fakeaws" / "__main__.py"
        if not main.exists():
            return
        self.fake_aws = True
        self.process(
            "fakeaws",
            [
                sys.executable,
                "-m",
                "tests.e2e.fakeaws",
                "--kubeconfig",
                str(self.kubeconfig),
                "--aws-endpoint",
                self.moto_url,
                "--aws-ca",
                self.moto_ca,
            ],
            # It starts the PostgreSQL server behind each rds Instance itself
            # (tests/e2e/fakeaws/postgres.py, from the dev extra's pgserver wheels).
            env={"PYTHONPATH": str(ROOT)},
        )

    def _operator_setup(self) -> None:
        # What the operator guide's skipped steps stand for (_operator_guide). Section 2: one
        # AWS ProviderConfig named as the EnvironmentConfig's providerConfigName ("default"),
        # here with a Secret source holding moto's credentials instead of the guide's IRSA.
        # And what installing Crossplane with its Helm chart grants its ServiceAccount: the
        # ClusterRole crossplane aggregating every ClusterRole labelled
        # rbac.crossplane.io/aggregate-to-crossplane (crossplane v2.3.4
        # cluster/charts/crossplane/templates/clusterrole.yaml, clusterrolebinding.yaml), so
        # the guide's `kubectl auth can-i ... --as=system:serviceaccount:crossplane-system:
        # crossplane` answers for the guide's ClusterRole alone (Crossplane itself runs as the
        # admin user here).
        creds = "[default]\naws_access_key_id = test\naws_secret_access_key = test\n"
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "aws-creds", "namespace": CROSSPLANE_NAMESPACE},
                "stringData": {"credentials": creds},
            },
            {
                "apiVersion": "aws.upbound.io/v1beta1",
                "kind": "ProviderConfig",
                "metadata": {"name": "default"},
                "spec": {
                    "credentials": {
                        "source": "Secret",
                        "secretRef": {
                            "namespace": CROSSPLANE_NAMESPACE,
                            "name": "aws-creds",
                            "key": "credentials",
                        },
                    },
                    # The upjet AWS ProviderConfig's custom endpoint, as one points it at an
                    # emulator: every service we render at moto.
                    "endpoint": {
                        "url": {"type": "Static", "static": self.moto_url},
                        "hostnameImmutable": True,
                        "services": ["s3", "iam", "kms", "rds", "backup", "ec2", "sts"],
                    },
                    "skip_credentials_validation": True,
                    "skip_metadata_api_check": True,
                    "skip_region_validation": True,
                    "skip_requesting_account_id": True,
                    "s3_use_path_style": True,
                },
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "crossplane"},
                "aggregationRule": {
                    "clusterRoleSelectors": [
                        {"matchLabels": {"rbac.crossplane.io/aggregate-to-crossplane": "true"}}
                    ]
                },
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "crossplane"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "crossplane",
                },
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": "crossplane",
                        "namespace": CROSSPLANE_NAMESPACE,
                    }
                ],
            },
        )

    def _apis(self) -> None:
        self.apply_files(*sorted((ROOT / "xrds").glob("*.yaml")))
        for xrd in self.get("compositeresourcedefinitions")["items"]:
            name = xrd["metadata"]["name"]
            for condition in ("Established", "Offered"):
                self.kubectl(
                    "wait",
                    f"--for=condition={condition}",
                    f"compositeresourcedefinition/{name}",
                    f"--timeout={ESTABLISH_TIMEOUT}s",
                    timeout=ESTABLISH_TIMEOUT + 30,
                )
        self.wait_established("the XR and claim CRDs")
        self.apply_files(*sorted((ROOT / "compositions").glob("*.yaml")))

    def _operator_guide(self) -> None:
        """The operator guide's install steps (docs/operator-guide.md sections 1-4), run as
        written (tests/e2e/runbook.py): the EnvironmentConfig, with the IDs of the network
        made for it in place of its placeholders ("put in yours", section 3), `kubectl get
        xrds`, the Namespaces ClusterRole and `kubectl auth can-i`. The steps marked
        ``skip`` are printed with their reason; what they stand for is done by
        _operator_setup (ProviderConfig), _function and _apis (the Configuration's function,
        XRDs and Compositions) and _provider_crds (the providers)."""
        book = self.operator_guide = runbook.Runbook(
            self.bins.kubectl, self.kubeconfig, self.work / "operator-guide"
        )
        text = guide.OPERATOR_GUIDE.read_text()
        for step in guide.install_steps(text):
            where = f"docs/operator-guide.md:{step.line}"
            if step.kind == "file":
                book.write(step, self.network)
            elif step.kind == "sh" and step.mark == "skip":
                book.skip(step, where)
            elif step.kind == "sh":
                for line in step.lines():
                    book.run(where, line)

    # ----- take down
    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.stack.close()

    def remove(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    # ----- what a failure shows
    def diagnose(self) -> str:
        """Claims, XRs and composed resources with conditions and events, the last events, and
        the last 40 lines of each process's log."""
        out = [f"e2e work dir (logs, kubeconfig, certificates): {self.work}"]
        for title, args in (
            ("claims", ["get", "claim", "-A", "-o", "wide"]),
            ("composite resources", ["get", "composite", "-o", "wide"]),
            ("managed resources", ["get", "managed", "-o", "wide"]),
            ("claims in detail", ["describe", "claim", "-A"]),
            ("composite resources in detail", ["describe", "composite"]),
            ("managed resources in detail", ["describe", "managed"]),
            ("events", ["get", "events", "-A", "--sort-by=.lastTimestamp"]),
        ):
            try:
                done = self.kubectl(*args, check=False, timeout=30)
                text = (done.stdout + done.stderr).strip()
            except (OSError, subprocess.SubprocessError) as exc:
                text = f"(kubectl failed: {exc})"
            out.append(f"===== kubectl {' '.join(args)} ({title})\n{text}")
        for proc in self.processes:
            code = proc.popen.returncode if proc.popen else None
            state = "running" if proc.alive() else f"exited {code}"
            out.append(
                f"===== {proc.name} ({state}), last 40 lines of {proc.log}\n{tail(proc.log)}"
            )
        return "\n".join(out)


def _http(url: str, context: ssl.SSLContext | None = None) -> str:
    with urllib.request.urlopen(url, timeout=5, context=context) as rsp:
        return rsp.read().decode()


def _insecure_ssl() -> ssl.SSLContext:
    # kube-controller-manager serves /healthz with a self-signed certificate of its own.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running() -> Iterator[ControlPlane]:
    """A started control plane, stopped afterwards whatever happened. On a failure while
    starting, the error carries ``diagnose()``."""
    plane = ControlPlane()
    try:
        try:
            plane.start()
        except (AssertionError, OSError, subprocess.SubprocessError, WaitTimeoutError) as exc:
            message = f"the e2e control plane did not start: {exc}\n{plane.diagnose()}"
            raise AssertionError(message) from exc
        yield plane
    finally:
        plane.stop()


# ----- what tests read back
def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``status.conditions`` by type."""
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def condition_line(obj: dict[str, Any]) -> str:
    """The conditions as ``Type=Status (reason: message)``, for assertion messages."""
    return "; ".join(
        f"{t}={c.get('status')} ({c.get('reason')}: {c.get('message', '')})"
        for t, c in conditions(obj).items()
    )
