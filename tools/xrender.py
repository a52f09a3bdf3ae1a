"""Offline rendering, the way `crossplane render` does it, without Docker or a cluster.

An example folder holds one or more XRs (``xr*.yaml``), optionally the observed composed
resources (``observed.yaml``: each with the ``crossplane.io/composition-resource-name``
annotation, plus connection details under ``render.klutch.anynines.com/connection-details``)
and the resources the function may require (``required.yaml``). The XR's
``spec.compositionRef.name`` picks the Composition in ``compositions/``; its pipeline step
gives the function input.

Used by ``tools/render.py`` (``make render``), the tests and the benchmark.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from tools import xfn

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
COMPOSITIONS = ROOT / "compositions"
# The name Crossplane gives the Function when it installs it as a dependency of the
# Configuration: the package path without the registry host, "/" turned into "-".
FUNCTION_NAME = "anynines-function-klutch-aws"
NAME_ANNOTATION = "crossplane.io/composition-resource-name"
CONNECTION_ANNOTATION = "render.klutch.anynines.com/connection-details"


def load_all(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d]


def compositions() -> dict[str, dict]:
    """Every Composition this project ships, by name."""
    out = {}
    for path in sorted(COMPOSITIONS.glob("*.yaml")):
        for doc in load_all(path):
            if doc.get("kind") == "Composition":
                out[doc["metadata"]["name"]] = doc
    return out


def function_input(composition: dict) -> dict:
    for step in composition["spec"]["pipeline"]:
        if step["functionRef"]["name"] == FUNCTION_NAME:
            return step.get("input") or {}
    raise LookupError(
        f"composition {composition['metadata']['name']} does not call {FUNCTION_NAME}"
    )


@dataclass
class Example:
    """One XR to render, with what its folder provides."""

    path: Path
    xr: dict
    composition: dict
    observed: list[dict] = field(default_factory=list)
    required: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT))


# The operator's EnvironmentConfig (example values): every example renders through it.
ENVIRONMENT_CONFIG = EXAMPLES / "environmentconfig" / "environmentconfig.yaml"


def environment_configs(root: Path = EXAMPLES) -> list[dict]:
    """The EnvironmentConfigs of the examples: required by every Composition's step."""
    path = root / ENVIRONMENT_CONFIG.relative_to(EXAMPLES)
    return _optional(path)


def bootstrap_selectors(composition: dict) -> dict[str, fnv1.ResourceSelector]:
    """The function step's ``requirements.requiredResources`` (Crossplane fetches them before
    the first call: ``composition_functions.go`` ``Compose``), as ResourceSelectors."""
    out: dict[str, fnv1.ResourceSelector] = {}
    for step in composition["spec"]["pipeline"]:
        if step["functionRef"]["name"] != FUNCTION_NAME:
            continue
        for sel in (step.get("requirements") or {}).get("requiredResources") or []:
            rs = fnv1.ResourceSelector(api_version=sel["apiVersion"], kind=sel["kind"])
            if "matchLabels" in sel:
                rs.match_labels.labels.update(sel["matchLabels"])
            elif "name" in sel:
                rs.match_name = sel["name"]
            if sel.get("namespace"):
                rs.namespace = sel["namespace"]
            out[sel["requirementName"]] = rs
    return out


def examples(root: Path = EXAMPLES) -> list[Example]:
    comps = compositions()
    out = []
    environment = environment_configs(root)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        observed = _optional(folder / "observed.yaml")
        required = _optional(folder / "required.yaml") + environment
        for path in sorted(folder.glob("xr*.yaml")):
            xr = load_all(path)[0]
            ref = (xr.get("spec") or {}).get("compositionRef", {}).get("name")
            if ref not in comps:
                raise LookupError(
                    f"{path}: spec.compositionRef.name {ref!r} is not in compositions/"
                )
            out.append(Example(path, xr, comps[ref], observed, required))
    return out


def composition_file(name: str) -> Path:
    """The file in ``compositions/`` that holds the Composition ``name``."""
    for path in sorted(COMPOSITIONS.glob("*.yaml")):
        if any(d.get("metadata", {}).get("name") == name for d in load_all(path)):
            return path
    raise LookupError(f"no Composition {name} in compositions/")


def crossplane_render_command(ex: Example) -> str:
    """The ``crossplane render`` command that renders ``ex`` as this repository renders it
    (from the repository's root, ``make run`` serving the function): the Compositions'
    requirement needs the EnvironmentConfig, and a folder's ``required.yaml`` and
    ``observed.yaml`` are what Crossplane would fetch and observe."""
    folder = ex.path.parent

    def rel(path: Path) -> str:
        return str(path.relative_to(ROOT))

    parts = [
        "crossplane render",
        rel(ex.path),
        rel(composition_file(ex.xr["spec"]["compositionRef"]["name"])),
        rel(folder / "functions.yaml"),
        "--include-function-results",
        f"--required-resources={rel(ENVIRONMENT_CONFIG)}",
    ]
    if (folder / "required.yaml").exists():
        parts.append(f"--required-resources={rel(folder / 'required.yaml')}")
    if (folder / "observed.yaml").exists():
        parts.append(f"--observed-resources={rel(folder / 'observed.yaml')}")
    return " \\\n  ".join([" ".join(parts[:4]), *parts[4:]])


def _optional(path: Path) -> list[dict]:
    return load_all(path) if path.exists() else []


# The requirementName of the Compositions' bootstrap EnvironmentConfig (function/environment.py
# REQUIREMENT; tests/test_environment.py checks both agree).
ENVIRONMENT_REQUIREMENT = "klutch-environment"
# ``build_request``'s default: the bootstrap requirement resolved to the examples' one.
EXAMPLE_ENVIRONMENT: Any = object()


def build_request(
    xr: dict,
    function_input: dict,
    observed: list[dict] | None = None,
    required: dict[str, list[dict]] | None = None,
    environment: Any = EXAMPLE_ENVIRONMENT,
) -> fnv1.RunFunctionRequest:
    """A RunFunctionRequest as Crossplane sends it to the first pipeline step (see
    ``tools/xfn.py``), tagged as Crossplane tags it (a hash of its content).

    ``environment``: what the Compositions' bootstrap requirement ``klutch-environment``
    resolved to, unless ``required`` names it: the examples' EnvironmentConfig by default,
    a list of documents, or None for a step without the bootstrap requirement (the function
    then asks for it on the first call)."""
    if environment is EXAMPLE_ENVIRONMENT:
        environment = environment_configs()
    required = dict(required or {})
    if environment is not None and ENVIRONMENT_REQUIREMENT not in required:
        required[ENVIRONMENT_REQUIREMENT] = list(environment)
    state = fnv1.State()
    state.composite.resource.update(xr)
    for doc in observed or []:
        meta = doc.get("metadata") or {}
        annotations = dict(meta.get("annotations") or {})
        name = annotations.get(NAME_ANNOTATION)
        if not name:
            raise ValueError(f"observed {doc.get('kind')} has no {NAME_ANNOTATION} annotation")
        details = annotations.pop(CONNECTION_ANNOTATION, None)
        body = {**doc, "metadata": {**meta, "annotations": annotations}}
        target = state.resources[name]
        target.resource.update(body)
        for key, value in (yaml.safe_load(details) if details else {}).items():
            target.connection_details[key] = str(value).encode()
    req = xfn.step_request(state, function_input)
    for name, items in required.items():
        xfn.fill(req.required_resources[name], items)
    xfn.tag(req)
    return req


select = xfn.select

Call = xfn.Call


def render(
    call: Call,
    ex: Example,
    on_call: Callable[[fnv1.RunFunctionRequest, fnv1.RunFunctionResponse], None] | None = None,
) -> fnv1.RunFunctionResponse:
    """One pipeline step as Crossplane runs it: tagged once, then called again with the
    required resources it asks for (found among ``required.yaml``) until its requirements
    settle (``tools/xfn.run_step``)."""

    def fetch(sel: fnv1.ResourceSelector) -> list[dict]:
        return xfn.select(sel, ex.required)

    req = build_request(ex.xr, function_input(ex.composition), ex.observed, environment=None)
    xfn.bootstrap(req, bootstrap_selectors(ex.composition), fetch)
    return xfn.run_step(call, req, fetch, on_call=on_call)


def to_documents(xr: dict, rsp: fnv1.RunFunctionResponse) -> list[dict]:
    """The XR with its new status, the composed resources in name order, then the results."""
    composite = resource.struct_to_dict(rsp.desired.composite.resource)
    out_xr = {
        "apiVersion": xr["apiVersion"],
        "kind": xr["kind"],
        "metadata": {"name": xr["metadata"]["name"]},
        "status": {**(xr.get("status") or {}), **(composite.get("status") or {})},
    }
    if rsp.desired.composite.connection_details:
        out_xr["metadata"]["annotations"] = {
            "render.klutch.anynines.com/connection-detail-keys": ",".join(
                sorted(rsp.desired.composite.connection_details)
            )
        }
    docs = [out_xr]
    xr_name = xr["metadata"]["name"]
    for name, r in sorted(rsp.desired.resources.items()):
        body = resource.struct_to_dict(r.resource)
        meta = body.setdefault("metadata", {})
        meta.setdefault("annotations", {})[NAME_ANNOTATION] = name
        meta.setdefault("generateName", f"{xr_name}-")
        meta.setdefault("labels", {})["crossplane.io/composite"] = xr_name
        docs.append(body)
    for res in rsp.results:
        docs.append(
            {
                "apiVersion": "render.crossplane.io/v1beta1",
                "kind": "Result",
                "severity": fnv1.Severity.Name(res.severity),
                "message": res.message,
            }
        )
    return docs


_FIRST = ("apiVersion", "kind", "metadata", "spec", "status")


def tidy(value: Any) -> Any:
    """Readable YAML: Kubernetes key order first, integral numbers without ``.0``.

    protobuf Structs carry every number as a double and keep no key order.
    """
    if isinstance(value, dict):
        keys = [k for k in _FIRST if k in value] + sorted(k for k in value if k not in _FIRST)
        return {k: tidy(value[k]) for k in keys}
    if isinstance(value, list):
        return [tidy(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_CONDITION = ("type", "status", "reason", "message", "lastTransitionTime")


def _conditions_as_kubectl(doc: dict) -> dict:
    """A status condition reads type first, as ``kubectl get -o yaml`` prints it."""
    conditions = (doc.get("status") or {}).get("conditions")
    if isinstance(conditions, list):
        doc["status"]["conditions"] = [
            {k: c[k] for k in (*_CONDITION, *sorted(set(c) - set(_CONDITION))) if k in c}
            for c in conditions
        ]
    return doc


def dump(docs: list[dict]) -> str:
    return "".join(
        "---\n" + yaml.safe_dump(_conditions_as_kubectl(tidy(d)), sort_keys=False) for d in docs
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(
    args: list[str] | None = None, module: str = "function.main", timeout: float = 20.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start a function server on 127.0.0.1 (insecure unless ``args`` say otherwise)."""
    address = f"127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", module, "--address", address, *(args or ["--insecure"])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield address, proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a server: SIGTERM, then SIGKILL if it has not ended within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ServerExitedError(RuntimeError):
    """The function server ended before it answered."""


def wait_ready(stub_call: Call, deadline: float, proc: subprocess.Popen | None = None) -> None:
    """Poll with an empty request until the server answers; with ``proc`` (a server ``serve``
    started), stop at once if it has ended, with its exit code and the end of its standard error
    (readable to its end once the process is gone), instead of polling on until the deadline."""
    while True:
        try:
            stub_call(fnv1.RunFunctionRequest())
            return
        except grpc.RpcError:
            if proc is not None and proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise ServerExitedError(
                    f"the function server exited with {proc.returncode} before answering:\n"
                    + "\n".join(err.splitlines()[-20:])
                ) from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def client(address: str) -> tuple[grpc.Channel, Call]:
    channel = grpc.insecure_channel(address)
    stub = grpcv1.FunctionRunnerServiceStub(channel)
    return channel, lambda req: stub.RunFunction(req, timeout=10)


def decode_details(details: dict[str, bytes]) -> dict[str, str]:
    return {k: v.decode() for k, v in details.items()}


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def default_composition(api_version: str, claim_kind: str) -> dict:
    """The ``defaultCompositionRef`` of the XRD that offers ``claim_kind``."""
    group = api_version.split("/", maxsplit=1)[0]
    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        (xrd,) = load_all(path)
        if xrd["spec"]["group"] == group and xrd["spec"]["claimNames"]["kind"] == claim_kind:
            return dict(xrd["spec"]["defaultCompositionRef"])
    raise LookupError(f"no XRD offers claim {api_version}/{claim_kind}")


def xr_from_claim(claim: dict, uid: str, secrets_namespace: str = "crossplane-system") -> dict:
    """The cluster-scoped XR Crossplane creates for a namespaced claim.

    A claim's ``writeConnectionSecretToRef`` stays on the claim: the XR writes its own Secret,
    named after its uid, in the Composition's ``writeConnectionSecretsToNamespace``, and
    Crossplane copies it into the claim's Secret.
    """
    meta = claim["metadata"]
    name, namespace = meta["name"], meta.get("namespace", "default")
    spec = {k: v for k, v in claim["spec"].items() if k != "writeConnectionSecretToRef"}
    if "compositionRef" not in spec:
        # Crossplane selects the XRD's default Composition and records it on the XR.
        spec["compositionRef"] = default_composition(claim["apiVersion"], claim["kind"])
    if "writeConnectionSecretToRef" in claim["spec"]:
        spec["writeConnectionSecretToRef"] = {"name": uid, "namespace": secrets_namespace}
    return {
        "apiVersion": claim["apiVersion"],
        "kind": "X" + claim["kind"],
        "metadata": {
            "name": f"{name}-{uid[:5]}",
            "uid": uid,
            "labels": {
                "crossplane.io/claim-name": name,
                "crossplane.io/claim-namespace": namespace,
            },
        },
        "spec": {
            **spec,
            "claimRef": {
                "apiVersion": claim["apiVersion"],
                "kind": claim["kind"],
                "name": name,
                "namespace": namespace,
            },
        },
    }
