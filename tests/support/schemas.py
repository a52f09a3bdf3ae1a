"""Upstream CRD schemas, and validation of what we render against them.

Each upstream is a Go module at the version we target; its CRDs are read from the module as
``go mod download -json <module>@<version>`` unpacks it into the Go module cache (outside the
clone; ``make e2e`` builds from the same cache), so every clone runs every schema test. The
cache is asked first without the network (``GOPROXY=off``); a module not there yet is
downloaded once (``KLUTCH_SCHEMAS_FETCH=0`` turns downloading off). When ``go`` is missing,
the machine is offline or the proxy refuses the module, the copy in ``../shared/schemas`` is
the fallback; without either, the tests that need it skip, saying why. ``describe`` says which
source each upstream came from (``pytest`` prints it at the end of a run).

provider-upjet-aws is ``github.com/upbound/provider-aws/v2``; proxy.golang.org answers its
v2.6.0 with 403 "This module version is not available" (seen 2026-12-03), so its CRDs come
from ``../shared/schemas`` unless a module cache already holds it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared" / "schemas"
FETCH_TIMEOUT = 60


@dataclass(frozen=True)
class Upstream:
    """One upstream's CRDs: a Go module at a version, and where in it (and in the fallback)."""

    name: str
    module: str
    version: str
    folders: tuple[str, ...]  # inside the module
    fallback: str  # the folder under ../shared/schemas

    @property
    def ref(self) -> str:
        return f"{self.module}@{self.version}"


UPSTREAMS = (
    Upstream(
        "crossplane",
        "github.com/crossplane/crossplane/v2",
        "v2.3.4",
        ("cluster/crds", "cluster/meta"),
        "crossplane-v2.3.4",
    ),
    Upstream(
        "provider-sql",
        "github.com/crossplane-contrib/provider-sql",
        "v0.16.0",
        ("package/crds",),
        "provider-sql-v0.16.0",
    ),
    Upstream(
        "provider-upjet-aws",
        "github.com/upbound/provider-aws/v2",
        "v2.6.0",
        ("package/crds",),
        "provider-upjet-aws-v2.6.0",
    ),
)


def go_module_dir(ref: str, offline: bool) -> tuple[Path | None, str]:
    """The module's folder in the Go module cache (downloading it unless ``offline``), or
    None and why not."""
    go = shutil.which("go")
    if go is None:
        return None, "go is not installed"
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    if offline:
        env["GOPROXY"] = "off"
    try:
        done = subprocess.run(
            [go, "mod", "download", "-json", ref],
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT,
            env=env,
            cwd=ROOT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"go mod download {ref}: {err}"
    try:
        info = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        info = {}
    if info.get("Dir") and Path(info["Dir"]).is_dir():
        return Path(info["Dir"]), ""
    reason = str(info.get("Error") or done.stderr or "no Dir").strip().splitlines()
    return None, reason[0] if reason else "no Dir"


@dataclass(frozen=True)
class Found:
    """Where one upstream's CRDs are read from."""

    upstream: Upstream
    folders: tuple[Path, ...]
    source: str  # what ``describe`` prints


@functools.cache
def found() -> tuple[Found, ...]:
    """Each upstream's CRD folders: the Go module cache, else ../shared/schemas."""
    fetch = os.environ.get("KLUTCH_SCHEMAS_FETCH", "1") != "0"
    out = []
    for up in UPSTREAMS:
        directory, why = go_module_dir(up.ref, offline=True)
        if directory is None and fetch:
            directory, why = go_module_dir(up.ref, offline=False)
        if directory is not None:
            folders = tuple(directory / f for f in up.folders if (directory / f).is_dir())
            out.append(Found(up, folders, f"Go module {up.ref} ({directory})"))
            continue
        shared = SCHEMAS / up.fallback
        if shared.is_dir():
            out.append(Found(up, (shared,), f"{shared} (Go module {up.ref}: {why})"))
        else:
            out.append(Found(up, (), f"none: Go module {up.ref}: {why}; no {shared}"))
    return tuple(out)


def describe() -> list[str]:
    """Which source each upstream's CRDs come from, one line each."""
    return [f"upstream CRDs, {f.upstream.name}: {f.source}" for f in found()]


def require_schemas() -> tuple[Path, ...]:
    """Every upstream's CRD folders, or skip the calling test saying what is missing."""
    missing = [f for f in found() if not f.folders]
    if missing:
        pytest.skip("; ".join(f"{f.upstream.name}: {f.source}" for f in missing))
    return tuple(p for f in found() for p in f.folders)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def crds() -> tuple[dict, ...]:
    """Every upstream CustomResourceDefinition, parsed once per test run."""
    out = []
    for path in (p for f in require_schemas() for p in sorted(f.rglob("*.yaml"))):
        with path.open() as f:
            out += [
                d
                for d in yaml.load_all(f, Loader=_LOADER)
                if d and d.get("kind") == "CustomResourceDefinition"
            ]
    return tuple(out)


@functools.cache
def crd_index() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema, for every upstream CRD version."""
    index: dict[tuple[str, str], dict] = {}
    for doc in crds():
        group = doc["spec"]["group"]
        kind = doc["spec"]["names"]["kind"]
        for v in doc["spec"]["versions"]:
            schema = v.get("schema", {}).get("openAPIV3Schema")
            if schema:
                index[(f"{group}/{v['name']}", kind)] = schema
    return index


def schema_for(api_version: str, kind: str) -> dict:
    try:
        return crd_index()[(api_version, kind)]
    except KeyError:
        raise AssertionError(f"no upstream CRD schema for {api_version} {kind}") from None


# Kubernetes core kinds have no CRD. A Secret (Kubernetes API ``core/v1`` ``Secret``): these
# top-level fields only, ``data`` values base64 (``format: byte``), and each owner reference
# with ``apiVersion``, ``kind``, ``name`` and ``uid`` (``ObjectMeta.ownerReferences``).
SECRET_FIELDS = {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"}
OWNER_REFERENCE_REQUIRED = ("apiVersion", "kind", "name", "uid")


def _secret_errors(doc: dict) -> list[str]:
    import base64  # noqa: PLC0415 - only for core kinds
    import binascii  # noqa: PLC0415

    out = [f"{k}: not a field of a Secret" for k in sorted(set(doc) - SECRET_FIELDS)]
    for key, value in (doc.get("data") or {}).items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError):
            out.append(f"data.{key}: not base64")
    for ref in (doc.get("metadata") or {}).get("ownerReferences") or []:
        out += [f"ownerReferences: {k} required" for k in OWNER_REFERENCE_REQUIRED if k not in ref]
    return out


def errors(doc: dict, schema: dict | None = None) -> list[str]:
    """Every way ``doc`` breaks its CRD's OpenAPI schema (empty when valid)."""
    if schema is None and (doc.get("apiVersion"), doc.get("kind")) == ("v1", "Secret"):
        return _secret_errors(doc)
    schema = schema or schema_for(doc["apiVersion"], doc["kind"])
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def storage_version(group: str, kind: str) -> str:
    """The storage version of a CRD kind, to check we render the newest storage version."""
    for doc in crds():
        if doc["spec"]["group"] == group and doc["spec"]["names"]["kind"] == kind:
            return next(v["name"] for v in doc["spec"]["versions"] if v.get("storage"))
    raise AssertionError(f"no CRD for {group} {kind}")
