"""The XRDs in ``xrds/``: each kind's XRD, its apiVersion and schema, and the kinds rendered."""

from __future__ import annotations

import functools
from pathlib import Path

from function import fn
from tools import xrender

ROOT = Path(__file__).resolve().parents[2]
XRDS = ROOT / "xrds"


def xrd(kind: str) -> dict:
    """The XRD (the whole document) whose composite kind is ``kind``."""
    for path in sorted(XRDS.glob("*.yaml")):
        for doc in xrender.load_all(path):
            if doc.get("kind") == "CompositeResourceDefinition" and (
                doc["spec"]["names"]["kind"] == kind
            ):
                return doc
    raise AssertionError(f"no XRD for {kind}")


def _referenceable() -> list[tuple[dict, dict]]:
    """(XRD, its referenceable version) for every XRD in xrds/."""
    out = []
    for path in sorted(XRDS.glob("*.yaml")):
        for doc in xrender.load_all(path):
            if doc.get("kind") != "CompositeResourceDefinition":
                continue
            versions = doc["spec"]["versions"]
            out.append((doc, next((v for v in versions if v.get("referenceable")), versions[0])))
    return out


@functools.cache
def xrd_api_versions() -> dict[str, str]:
    """XR kind -> apiVersion (group/referenceable version) its XRD defines."""
    return {
        doc["spec"]["names"]["kind"]: f"{doc['spec']['group']}/{version['name']}"
        for doc, version in _referenceable()
    }


@functools.cache
def xrd_schemas() -> dict[str, dict]:
    """XR kind -> openAPIV3Schema of its referenceable version, for every XRD in xrds/."""
    return {
        doc["spec"]["names"]["kind"]: version["schema"]["openAPIV3Schema"]
        for doc, version in _referenceable()
    }


def spec_schema(kind: str) -> dict:
    """The schema of ``spec`` in the kind's referenceable version."""
    return xrd_schemas()[kind]["properties"]["spec"]


def claim_kinds() -> list[str]:
    """The XR kinds the function renders that have an XRD (all of them, once written)."""
    return sorted(kind for _, kind in fn.RENDERERS if kind in xrd_schemas())
