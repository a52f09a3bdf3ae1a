"""XRDs, Compositions and examples agree with each other and with the function's models."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from function import objectstorage
from function.regions import REGIONS
from tests.support import schemas
from tests.support.xrds import spec_schema
from tools import xrender

ROOT = Path(__file__).resolve().parent.parent


def test_object_storage_enums_match_the_function():
    spec = spec_schema("XObjectStorageInstance")["properties"]
    assert spec["region"]["enum"] == list(REGIONS)
    assert spec["plan"]["enum"] == list(typing.get_args(objectstorage.Plan))
    assert spec["plan"]["enum"] == list(objectstorage.PLAN_TRANSITIONS)


@pytest.mark.parametrize("path", sorted((ROOT / "xrds").glob("*.yaml")), ids=lambda p: p.name)
def test_xrds_validate_against_crossplane(path):
    (doc,) = xrender.load_all(path)
    assert schemas.errors(doc) == []


@pytest.mark.parametrize(
    "path", sorted((ROOT / "compositions").glob("*.yaml")), ids=lambda p: p.name
)
def test_compositions_validate_against_crossplane(path):
    for doc in xrender.load_all(path):
        assert schemas.errors(doc) == []


@pytest.mark.parametrize("ex", xrender.examples(), ids=lambda e: e.name)
def test_example_xr_is_what_crossplane_makes_of_its_claim(ex):
    """Each xr*.yaml is the XR of one claim in its folder: same spec, claim labels."""
    claims = [
        doc
        for path in sorted(ex.path.parent.glob("*.yaml"))
        if not path.name.startswith(("xr", "functions", "observed", "required"))
        for doc in xrender.load_all(path)
        if doc.get("kind") == ex.xr["kind"].removeprefix("X")
    ]
    uid = ex.xr["metadata"]["uid"]
    assert (
        xrender.xr_from_claim(
            next(c for c in claims if c["metadata"]["name"] == ex.xr["spec"]["claimRef"]["name"]),
            uid,
        )
        == ex.xr
    )


def test_compositions_of_kinds_with_secret_keys_write_connection_secrets():
    """Without writeConnectionSecretsToNamespace a claim's Secret is never written."""
    comps = xrender.compositions()
    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        (doc,) = xrender.load_all(path)
        if not doc["spec"].get("connectionSecretKeys"):
            continue
        kind = doc["spec"]["names"]["kind"]
        for name, comp in comps.items():
            if comp["spec"]["compositeTypeRef"]["kind"] == kind:
                assert comp["spec"].get("writeConnectionSecretsToNamespace"), name
