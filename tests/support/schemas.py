"""Upstream CRD schemas from ../shared/schemas: validate what we render against them."""

from __future__ import annotations

import functools
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared" / "schemas"


def require_schemas() -> Path:
    """The schemas folder, or skip the calling test with the reason."""
    if not SCHEMAS.is_dir():
        pytest.skip(f"upstream schemas not found at {SCHEMAS} (expected ../shared/schemas)")
    return SCHEMAS


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def crds() -> tuple[dict, ...]:
    """Every CustomResourceDefinition in ../shared/schemas, parsed once per test run."""
    out = []
    for path in sorted(require_schemas().rglob("*.yaml")):
        with path.open() as f:
            out += [
                d
                for d in yaml.load_all(f, Loader=_LOADER)
                if d and d.get("kind") == "CustomResourceDefinition"
            ]
    return tuple(out)


@functools.cache
def crd_index() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema, for every CRD version in ../shared/schemas."""
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
