"""XRDs, Compositions and examples agree with each other and with the function's models."""

from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path

import jsonschema
import pytest

from function import claims, objectstorage
from function.regions import REGIONS
from tests.support import cel, schemas
from tests.support.responses import (
    applied_core_objects,
    desired,
    fatal_messages,
    local_call,
    primary_ready,
)
from tests.support.xrds import spec_schema
from tools import examples as examples_tool
from tools import xrender

ROOT = Path(__file__).resolve().parent.parent


def test_object_storage_enums_match_the_function():
    spec = spec_schema("XObjectStorageInstance")["properties"]
    assert spec["region"]["enum"] == list(REGIONS)
    assert spec["plan"]["enum"] == list(typing.get_args(claims.ObjectStoragePlan))
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


# ------------------------------------------------------------------ no clash with a9s data services

# anynines' Kubernetes-native data services (a8s/a9s) define these CRDs; a Klutch control plane
# may carry both, so none of ours may have one of these names (DESIGN 2).
A9S_CRDS = {
    f"{plural}.anynines.com"
    for plural in ("postgresqlinstances", "servicebindings", "backups", "restores", "recoveries")
}


def our_crd_names() -> dict[str, str]:
    """CRD name -> the XRD that makes it: the XR's CRD and the claim's CRD of every XRD."""
    out = {}
    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        (doc,) = xrender.load_all(path)
        group = doc["spec"]["group"]
        out[doc["metadata"]["name"]] = path.name
        out[f"{doc['spec']['names']['plural']}.{group}"] = path.name
        if doc["spec"].get("claimNames"):
            out[f"{doc['spec']['claimNames']['plural']}.{group}"] = path.name
    return out


def test_no_crd_of_ours_clashes_with_the_a9s_data_services():
    names = our_crd_names()
    assert len(names) >= 12, names  # every XRD: its XR's CRD and its claim's CRD
    assert not names.keys() & A9S_CRDS, {n: names[n] for n in names.keys() & A9S_CRDS}
    # The database claims keep their kinds but live in their own group.
    assert "postgresqlinstances.rds.aws.anynines.com" in names
    assert "servicebindings.rds.aws.anynines.com" in names
    assert "backups.rds.aws.anynines.com" in names


def test_an_xrd_is_named_as_crossplane_requires():
    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        (doc,) = xrender.load_all(path)
        spec = doc["spec"]
        assert doc["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}", path.name


# ------------------------------------------------------------------ the Klutch docs' manifests

# Copied from the Klutch user docs as they are (ObjectStorageBinding: instanceRef a plain name).
DOCS_MANIFESTS = [
    "examples/postgresqlinstance/basic-instance-example.yaml",
    "examples/postgresqlinstance-cluster/clustered-instance-example.yaml",
    "examples/objectstoragebinding/s3-binding-example.yaml",
]
DOCS_UID = "0b9c5a8e-0d2f-4a43-9f1e-6d3c1f2a7b10"


def xrd_of_claim(claim: dict) -> dict:
    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        (doc,) = xrender.load_all(path)
        spec = doc["spec"]
        versions = {f"{spec['group']}/{v['name']}" for v in spec["versions"] if v.get("served")}
        if spec["claimNames"]["kind"] == claim["kind"] and claim["apiVersion"] in versions:
            return doc
    raise AssertionError(f"no XRD serves claim {claim['apiVersion']} {claim['kind']}")


@pytest.mark.parametrize("rel", DOCS_MANIFESTS)
def test_the_docs_manifests_pass_their_xrd(rel):
    (claim,) = xrender.load_all(ROOT / rel)
    kind = xrd_of_claim(claim)["spec"]["names"]["kind"]
    if claim["kind"] == "ObjectStorageBinding":
        assert claim["spec"]["instanceRef"] == "my-s3-instance"  # a plain name, as in the docs
    validator = jsonschema.Draft7Validator(spec_schema(kind))
    assert [e.message for e in validator.iter_errors(claim["spec"])] == []
    xr = xrender.xr_from_claim(claim, DOCS_UID)
    assert cel.violations(kind, xr) == []
    assert cel.violations(kind, xr, copy.deepcopy(xr)) == []


@pytest.mark.parametrize("rel", DOCS_MANIFESTS)
def test_the_docs_manifests_render_without_a_fatal_result(rel):
    path = ROOT / rel
    (claim,) = xrender.load_all(path)
    xr = xrender.xr_from_claim(claim, DOCS_UID)
    comps = xrender.compositions()
    ex = xrender.Example(
        path,
        xr,
        comps[xr["spec"]["compositionRef"]["name"]],
        xrender._optional(path.parent / "observed.yaml"),
        xrender._optional(path.parent / "required.yaml") + xrender.environment_configs(),
    )
    rsp = xrender.render(local_call, ex)
    assert fatal_messages(rsp) == []
    # The next reconcile observes what Crossplane applied (the master Secret): all rendered.
    ex = dataclasses.replace(ex, observed=applied_core_objects(rsp, ex.observed))
    rsp = xrender.render(local_call, ex)
    assert fatal_messages(rsp) == []
    out = desired(rsp)
    assert out, "something is rendered"
    if claim["kind"] == "PostgresqlInstance":
        # Read replicas come once the primary is observed Ready (function/postgresql.py).
        ex = dataclasses.replace(ex, observed=primary_ready(rsp, ex.observed))
        out = desired(xrender.render(local_call, ex))
        config = claim["spec"].get("config") or {}
        replicas = ((config.get("compute") or {}).get("replicas") or {}).get("count", 0)
        assert {k for k in out if k.startswith("replica-")} == {
            f"replica-{i}" for i in range(1, replicas + 1)
        }
        assert (
            out["instance"]["spec"]["forProvider"]["engineVersion"]
            == claim["spec"]["serviceVersion"]
        )
        assert out["instance"]["spec"]["forProvider"]["multiAz"] is bool(config.get("multiAZ"))


# ------------------------------------------------------------------ generated example XRs


@pytest.mark.parametrize(
    "path", sorted((ROOT / "examples").glob("*/xr*.yaml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_example_xr_files_are_what_tools_examples_writes(path):
    """``make generate`` (tools/examples.py) writes each xr*.yaml from its claim: run it."""
    assert path.read_text() == examples_tool.expected(path)


def test_tools_examples_writes_every_xr_and_names_its_claim():
    paths = sorted((ROOT / "examples").glob("*/xr*.yaml"))
    # Every claim folder; examples/environmentconfig holds the operator's EnvironmentConfig.
    assert {p.parent.name for p in paths} == {
        p.name
        for p in (ROOT / "examples").iterdir()
        if p.is_dir() and p != xrender.ENVIRONMENT_CONFIG.parent
    }
    for path in paths:
        m = examples_tool.HEADER.match(path.read_text().splitlines()[0])
        assert m, path
        (claim,) = xrender.load_all(path.parent / m.group("claim"))
        (xr,) = xrender.load_all(path)
        assert xr["kind"] == "X" + claim["kind"]
        assert xr["spec"]["claimRef"]["name"] == claim["metadata"]["name"]
