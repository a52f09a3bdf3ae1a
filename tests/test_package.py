"""Everything the project ships is valid for the Crossplane that installs it.

- XRDs, Compositions and the examples' ``functions.yaml`` against Crossplane's CRDs, the
  package metadata against Crossplane's meta schemas (crossplane v2.3.4, tests/support/schemas.py);
- every example claim and XR against the schema its own XRD defines, plus the fields
  Crossplane adds to claims and XRs, with unknown fields rejected as ``kubectl apply`` does
  (server-side strict field validation); the bad claims in ``tests/data/bad-claims`` rejected;
- names agree: Compositions call the function by the name the package installs it under,
  every XRD has its Composition under the name the docs use, the Configuration depends on
  the provider of every kind the function renders;
- the input CRD (``package/input``, generated from ``function/settings.py``) names the
  settings' API, and every Composition's pipeline input is valid for it and for the model;
- ``make build`` / ``make xpkg`` fail plainly, naming the missing tool, and stage the
  right files; the Dockerfile builds what pyproject.toml declares.

Everything iterates over the files that exist, so new claim kinds are checked as they land.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import shutil
import subprocess
import tomllib
import typing
from pathlib import Path

import pytest

from function import resources
from function.settings import Settings
from tests.support import cel, schemas
from tools import xrender

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_META = ROOT / "package" / "crossplane.yaml"
CONFIGURATION_META = ROOT / "package" / "configuration" / "crossplane.yaml"
INPUT_CRD = ROOT / "package" / "input" / "aws.fn.anynines.com_inputs.yaml"
BAD_CLAIMS = ROOT / "tests" / "data" / "bad-claims"

# Composition names the docs give for each claim kind (docs/developer-guide.md).
DOC_COMPOSITIONS = {
    "ObjectStorageInstance": "aws-s3",
    "ObjectStorageBinding": "aws-objectstoragebinding",
    "PostgresqlInstance": "aws-rds-postgresql",
    "ServiceBinding": "aws-rds-postgresql-binding",
}


def load(path: Path) -> list[dict]:
    return xrender.load_all(path)


def yaml_files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.yaml"))


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@functools.cache
def xrds() -> tuple[dict, ...]:
    return tuple(
        d for p in yaml_files("xrds") for d in load(p) if d["kind"] == "CompositeResourceDefinition"
    )


@functools.cache
def compositions() -> dict[str, dict]:
    return xrender.compositions()


def function_name() -> str:
    return load(FUNCTION_META)[0]["metadata"]["name"]


# --------------------------------------------------------------- Crossplane's own schemas


def crossplane_docs() -> list[tuple[str, dict]]:
    """(file, doc) of every shipped document whose kind Crossplane itself defines."""
    out = []
    for path in [
        *yaml_files("xrds", "compositions"),
        FUNCTION_META,
        CONFIGURATION_META,
        *sorted((ROOT / "examples").glob("*/functions.yaml")),
        xrender.ENVIRONMENT_CONFIG,
    ]:
        out += [(rel(path), doc) for doc in load(path)]
    return out


@pytest.mark.parametrize(("path", "doc"), crossplane_docs(), ids=lambda v: str(v)[:60])
def test_shipped_crossplane_documents_match_crossplane_schemas(path, doc):
    schemas.require_schemas()
    assert doc["apiVersion"].split("/")[0] in {
        "apiextensions.crossplane.io",
        "meta.pkg.crossplane.io",
        "pkg.crossplane.io",
    }, f"{path}: {doc['apiVersion']} is not a Crossplane API"
    assert schemas.errors(doc) == [], path


def test_the_meta_schemas_really_reject_a_broken_package():
    """The meta schemas are read (not skipped): a dependency without version fails."""
    schemas.require_schemas()
    broken = copy.deepcopy(load(CONFIGURATION_META)[0])
    del broken["spec"]["dependsOn"][0]["version"]
    assert any("'version' is a required property" in e for e in schemas.errors(broken))


def test_every_yaml_file_in_the_package_folders_is_known():
    """No stray YAML that `crossplane xpkg build` would pick up or that no test checks."""
    known = {FUNCTION_META, CONFIGURATION_META, INPUT_CRD}
    assert set(yaml_files("package")) == known


# --------------------------------------------------------------- claims and XRs vs their XRD

# Fields Crossplane adds to every claim's and every legacy XR's spec (crossplane
# internal/xcrd: CompositeResourceClaimSpecProps, CompositeResourceSpecProps).
_NAME_REF = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
_SELECTOR = {
    "type": "object",
    "required": ["matchLabels"],
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_COMMON_SPEC = {
    "compositionRef": _NAME_REF,
    "compositionSelector": _SELECTOR,
    "compositionRevisionRef": _NAME_REF,
    "compositionRevisionSelector": _SELECTOR,
    "compositionUpdatePolicy": {"type": "string", "enum": ["Automatic", "Manual"]},
    "publishConnectionDetailsTo": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}
CLAIM_SPEC = {
    **_COMMON_SPEC,
    "resourceRef": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    "writeConnectionSecretToRef": _NAME_REF,
}
XR_SPEC = {
    **_COMMON_SPEC,
    "claimRef": {
        "type": "object",
        "required": ["apiVersion", "kind", "namespace", "name"],
        "properties": {k: {"type": "string"} for k in ("apiVersion", "kind", "namespace", "name")},
    },
    "environmentConfigRefs": {"type": "array", "items": {"type": "object"}},
    "resourceRefs": {"type": "array", "items": {"type": "object"}},
    "writeConnectionSecretToRef": {
        "type": "object",
        "required": ["name", "namespace"],
        "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}},
    },
}


def strict(schema: dict) -> dict:
    """Reject unknown fields where the API server would (strict field validation)."""
    out = {k: v for k, v in schema.items() if k != "x-kubernetes-validations"}
    if "properties" in out:
        out["properties"] = {k: strict(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in out and not out.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = strict(out["items"])
    return out


def object_schema(xrd: dict, version: dict, *, claim: bool) -> dict:
    """The OpenAPI schema Crossplane generates for the claim (or the XR) of one XRD version."""
    own = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    spec = own.setdefault("properties", {}).setdefault("spec", {"type": "object"})
    spec.setdefault("properties", {}).update(copy.deepcopy(CLAIM_SPEC if claim else XR_SPEC))
    names = xrd["spec"]["claimNames" if claim else "names"]
    own["properties"].update(
        {
            "apiVersion": {"type": "string", "enum": [f"{xrd['spec']['group']}/{version['name']}"]},
            "kind": {"type": "string", "enum": [names["kind"]]},
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }
    )
    own["properties"].setdefault("status", {"type": "object"})[
        "x-kubernetes-preserve-unknown-fields"
    ] = True
    own["required"] = sorted({*own.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    return strict(own)


@functools.cache
def defined_kinds() -> dict[tuple[str, str], tuple[dict, str]]:
    """(apiVersion, kind) -> (schema, XR kind) for every claim and XR the XRDs define."""
    out: dict[tuple[str, str], tuple[dict, str]] = {}
    for xrd in xrds():
        xr_kind = xrd["spec"]["names"]["kind"]
        for version in xrd["spec"]["versions"]:
            api_version = f"{xrd['spec']['group']}/{version['name']}"
            out[(api_version, xr_kind)] = (object_schema(xrd, version, claim=False), xr_kind)
            if "claimNames" in xrd["spec"]:
                claim_kind = xrd["spec"]["claimNames"]["kind"]
                out[(api_version, claim_kind)] = (object_schema(xrd, version, claim=True), xr_kind)
    return out


def object_errors(doc: dict) -> list[str]:
    """OpenAPI errors, then CEL rule violations, of a claim or XR against its XRD."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    assert key in defined_kinds(), f"no XRD defines {key}"
    schema, xr_kind = defined_kinds()[key]
    found = schemas.errors(doc, schema)
    if not found:  # CEL rules see the XR's spec; claims and XRs share them
        found = [f"CEL: {m}" for m in cel.messages(xr_kind, {"spec": doc["spec"]})]
    return found


def _ours(doc: dict) -> bool:
    return doc.get("apiVersion", "").split("/")[0] in {x["spec"]["group"] for x in xrds()}


def example_objects() -> list[tuple[str, dict]]:
    """(file, doc) of every claim and XR in examples/, and of required.yaml's XRs."""
    out = []
    for path in sorted((ROOT / "examples").glob("*/*.yaml")):
        if path.name in {"functions.yaml", "observed.yaml"}:
            continue
        out += [(rel(path), doc) for doc in load(path) if _ours(doc)]
    return out


def other_example_objects() -> list[tuple[str, dict]]:
    """(file, doc) of the examples' plain Kubernetes objects (an app that uses a Secret)."""
    out = []
    for path in sorted((ROOT / "examples").glob("*/*.yaml")):
        if path.name not in {"functions.yaml", "observed.yaml", "required.yaml"}:
            out += [
                (rel(path), d)
                for d in load(path)
                if not _ours(d) and not d["apiVersion"].endswith(".crossplane.io/v1beta1")
            ]
    return out


@pytest.mark.parametrize(("path", "doc"), other_example_objects(), ids=lambda v: str(v)[:60])
def test_example_apps_read_a_secret_a_claim_of_their_folder_writes(path, doc):
    """An example Deployment's envFrom names the Secret of a binding in the same folder."""
    assert doc["kind"] in {"Deployment", "Pod", "Job", "StatefulSet"}, path
    pod = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
    used = {
        src["secretRef"]["name"]
        for c in pod["containers"]
        for src in c.get("envFrom", [])
        if "secretRef" in src
    }
    written = {
        d["spec"]["writeConnectionSecretToRef"]["name"]
        for p in (ROOT / path).parent.glob("*.yaml")
        if not p.name.startswith("xr")
        for d in load(p)
        if _ours(d) and "writeConnectionSecretToRef" in d.get("spec", {})
    }
    assert used and used <= written, f"{path}: envFrom {used}, claims write {written}"


@pytest.mark.parametrize(("path", "doc"), example_objects(), ids=lambda v: str(v)[:60])
def test_example_claims_and_xrs_match_their_xrd(path, doc):
    if path.endswith("required.yaml"):
        _skip_without_xrd(doc)
    assert object_errors(doc) == [], path


def _skip_without_xrd(doc: dict) -> None:
    """required.yaml holds another claim kind's XR: checked once that kind's XRD exists."""
    if (doc["apiVersion"], doc["kind"]) not in defined_kinds():
        pytest.skip(f"no XRD for {doc['kind']} yet")


def observed_objects() -> list[tuple[str, dict]]:
    return [
        (rel(p), d) for p in sorted((ROOT / "examples").glob("*/observed.yaml")) for d in load(p)
    ]


@pytest.mark.parametrize(("path", "doc"), observed_objects(), ids=lambda v: str(v)[:60])
def test_observed_resources_match_their_upstream_crd(path, doc):
    schemas.require_schemas()
    doc = copy.deepcopy(doc)
    doc["metadata"]["annotations"].pop(xrender.CONNECTION_ANNOTATION, None)
    assert schemas.errors(doc) == [], f"{path}: {doc['kind']}"


def test_every_example_folder_has_a_claim_of_its_kind():
    for folder in sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir()):
        kinds = {
            d["kind"]
            for p in folder.glob("*.yaml")
            if not p.name.startswith(("xr", "functions", "observed", "required"))
            for d in load(p)
        }
        # One folder per claim kind, named after it; a variant adds "-<what>"
        # (postgresqlinstance-cluster).
        kind = folder.name.partition("-")[0]
        assert kind in {k.lower() for k in kinds}, f"{rel(folder)}: claims {kinds}"


def bad_claims() -> list[Path]:
    return sorted(BAD_CLAIMS.glob("*.yaml"))


def expected_error(path: Path) -> str:
    match = re.search(r"^# expect: (.+)$", path.read_text(), re.M)
    assert match, f"{rel(path)}: needs a '# expect: <part of the error>' line"
    return match.group(1).strip()


@pytest.mark.parametrize("path", bad_claims(), ids=lambda p: p.name)
def test_bad_claims_are_rejected_by_their_xrd(path):
    (doc,) = load(path)
    if (doc["apiVersion"], doc["kind"]) not in defined_kinds():
        pytest.skip(f"no XRD for {doc['kind']} yet")
    found = object_errors(doc)
    assert any(expected_error(path) in e for e in found), found


def test_there_are_bad_claims_for_the_object_storage_xrd():
    assert len(bad_claims()) >= 3


# --------------------------------------------------------------- names agree


def composition_steps() -> list[tuple[str, dict]]:
    return [
        (name, step)
        for name, comp in sorted(compositions().items())
        for step in comp["spec"]["pipeline"]
    ]


def dependency_name(package: str) -> str:
    """The name Crossplane gives a package it installs as a dependency of a Configuration:
    the package path without its registry host, with "/" turned into "-"."""
    return package.split("/", 1)[1].replace("/", "-")


def test_compositions_call_the_function_by_the_name_the_configuration_installs():
    assert composition_steps()
    deps = load(CONFIGURATION_META)[0]["spec"]["dependsOn"]
    (fn_dep,) = [d for d in deps if "function" in d]
    installed = dependency_name(fn_dep["function"])
    assert installed == xrender.FUNCTION_NAME == "anynines-function-klutch-aws"
    for name, step in composition_steps():
        assert step["functionRef"]["name"] == installed, name
    for path in sorted((ROOT / "examples").glob("*/functions.yaml")):
        assert [d["metadata"]["name"] for d in load(path)] == [installed], rel(path)


def test_configuration_depends_on_the_function_package_the_examples_run():
    deps = load(CONFIGURATION_META)[0]["spec"]["dependsOn"]
    (fn_dep,) = [d for d in deps if "function" in d]
    for path in sorted((ROOT / "examples").glob("*/functions.yaml")):
        for doc in load(path):
            assert doc["spec"]["package"].rsplit(":", 1)[0] == fn_dep["function"], rel(path)
    assert fn_dep["function"].endswith("/" + function_name())


@pytest.mark.parametrize(("name", "step"), composition_steps(), ids=lambda v: str(v)[:40])
def test_every_pipeline_input_is_valid_for_the_crd_and_the_function(name, step):
    fn_input = step.get("input") or {}
    assert schemas.errors(fn_input, strict(input_schema())) == [], name
    Settings.model_validate(fn_input)


def test_every_composition_targets_an_xrd():
    targets = {
        (f"{x['spec']['group']}/{v['name']}", x["spec"]["names"]["kind"])
        for x in xrds()
        for v in x["spec"]["versions"]
        if v.get("referenceable")
    }
    for name, comp in compositions().items():
        ref = comp["spec"]["compositeTypeRef"]
        assert (ref["apiVersion"], ref["kind"]) in targets, name
        assert comp["spec"]["mode"] == "Pipeline", name


@pytest.mark.parametrize("xrd", xrds(), ids=lambda x: x["metadata"]["name"])
def test_every_xrd_has_its_default_composition(xrd):
    kind = xrd["spec"]["names"]["kind"]
    assert xrd["metadata"]["name"] == f"{xrd['spec']['names']['plural']}.{xrd['spec']['group']}"
    assert sum(v.get("referenceable", False) for v in xrd["spec"]["versions"]) == 1
    default = xrd["spec"].get("defaultCompositionRef", {}).get("name")
    assert default in compositions(), f"{kind}: defaultCompositionRef {default!r} is missing"
    assert compositions()[default]["spec"]["compositeTypeRef"]["kind"] == kind
    claim = xrd["spec"].get("claimNames", {}).get("kind")
    assert claim, f"{kind}: the claims are namespaced, so the XRD needs claimNames"
    assert kind == "X" + claim
    if claim in DOC_COMPOSITIONS:
        assert default == DOC_COMPOSITIONS[claim]


@pytest.mark.parametrize(("path", "doc"), example_objects(), ids=lambda v: str(v)[:60])
def test_example_composition_refs_exist_and_fit_the_kind(path, doc):
    ref = doc["spec"].get("compositionRef", {}).get("name")
    if ref is None:
        return
    if path.endswith("required.yaml"):
        _skip_without_xrd(doc)
    _, xr_kind = defined_kinds()[(doc["apiVersion"], doc["kind"])]
    assert compositions()[ref]["spec"]["compositeTypeRef"]["kind"] == xr_kind, path


def provider_package(group: str) -> str:
    """The package that installs a managed resource API group."""
    if group.endswith(".aws.upbound.io"):
        return f"xpkg.upbound.io/upbound/provider-aws-{group.split('.', maxsplit=1)[0]}"
    if group.endswith(".sql.crossplane.io"):
        return "xpkg.upbound.io/crossplane-contrib/provider-sql"
    raise AssertionError(f"no provider known for {group}")


def test_configuration_depends_on_the_provider_of_every_rendered_kind():
    deps = {
        d.get("provider"): d["version"] for d in load(CONFIGURATION_META)[0]["spec"]["dependsOn"]
    }
    kinds = [v for v in vars(resources).values() if isinstance(v, resources.Kind)]
    # ClusterUsage is Crossplane's own API (v2.0+, which the package requires): no provider.
    # Kubernetes core kinds (the master Secret, its Namespace): the API server's own.
    kinds = [k for k in kinds if k != resources.CLUSTER_USAGE and k not in resources.CORE_KINDS]
    needed = {provider_package(k.api_version.split("/")[0]) for k in kinds}
    assert needed <= set(deps), needed - set(deps)
    for pkg in needed:
        if "provider-aws-" in pkg:
            assert deps[pkg] == ">=v2.0.0, <v3.0.0", pkg
    assert deps["xpkg.upbound.io/crossplane-contrib/provider-sql"] == ">=v0.16.0"


def _minimum_major(path: Path) -> int:
    version = load(path)[0]["spec"]["crossplane"]["version"]
    m = re.fullmatch(r">=v(\d+)\.\d+\.\d+(-0)?", version)
    assert m, f"{rel(path)}: spec.crossplane.version {version!r} is not a '>=vX.Y.Z' minimum"
    return int(m.group(1))


def test_both_packages_state_the_crossplane_versions_they_support():
    """The Configuration needs what only Crossplane v2 has: a pipeline step's bootstrap
    requirements (the EnvironmentConfig) and protection.crossplane.io ClusterUsages (DESIGN §1:
    v2.0+); the Function is supported only with it, so both say the same."""
    needs_v2 = any(
        "requirements" in step
        for comp in xrender.compositions().values()
        for step in comp["spec"]["pipeline"]
    )
    assert needs_v2
    assert _minimum_major(CONFIGURATION_META) == 2
    versions = {
        load(p)[0]["spec"]["crossplane"]["version"] for p in (FUNCTION_META, CONFIGURATION_META)
    }
    assert versions == {">=v2.0.0-0"}


# Where a supported Crossplane version is stated in words.
VERSION_STATEMENTS = ("README.md", "docs/operator-guide.md", "package/crossplane.yaml")


def test_one_supported_crossplane_version_everywhere():
    """Every text of the repository that names a Crossplane version it supports names v2.0
    (the packages' minimum), and none names v1.x."""
    texts = {
        rel(p): p.read_text()
        for p in [
            *(ROOT / "docs").glob("*.md"),
            *ROOT.glob("*.md"),
            *(ROOT / "examples").rglob("*.md"),
            *yaml_files("package", "compositions", "xrds", "examples"),
            ROOT / "Makefile",
        ]
    }
    for name, text in texts.items():
        assert not re.search(r"Crossplane v?1\.\d+|v1\.17", text), name
    for name in VERSION_STATEMENTS:
        assert "Crossplane v2.0 or newer" in texts[name], name


# --------------------------------------------------------------- input CRD (see test_generated.py)


@functools.cache
def input_crd() -> dict:
    (doc,) = load(INPUT_CRD)
    return doc


def input_schema() -> dict:
    (version,) = input_crd()["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def test_input_crd_names_the_settings_api():
    doc = input_crd()
    api_version = typing.get_args(Settings.model_fields["apiVersion"].annotation)[0]
    assert f"{doc['spec']['group']}/{doc['spec']['versions'][0]['name']}" == api_version
    assert doc["spec"]["names"]["kind"] == Settings.model_fields["kind"].default
    assert doc["metadata"]["name"] == f"{doc['spec']['names']['plural']}.{doc['spec']['group']}"


# --------------------------------------------------------------- make build / make xpkg

_TOOLS = ("sh", "rm", "mkdir", "cp", "grep", "awk", "cat", "env", "sed")


def _bin(tmp_path: Path, fakes: dict[str, str]) -> dict[str, str]:
    """An environment whose PATH has the basic tools, ``make`` and the ``fakes`` scripts only."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in (*_TOOLS, "make"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run make here"
        (bindir / tool).symlink_to(found)
    for name, body in fakes.items():
        script = bindir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    env["PATH"] = str(bindir)
    return env


def make(target: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [env["PATH"] + "/make", "--no-print-directory", "-C", str(ROOT), target, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("target", "fakes", "message"),
    [
        ("build", {}, "make build: docker is not installed"),
        ("build", {"docker": "exit 1"}, "docker is installed but no Docker engine is running"),
        ("xpkg", {}, "make xpkg: the crossplane CLI is not installed"),
        ("xpkg", {"crossplane": "exit 0"}, "make build: docker is not installed"),
        ("xpkg-configuration", {}, "the crossplane CLI is not installed"),
    ],
    ids=["build-no-docker", "build-no-engine", "xpkg-no-cli", "xpkg-no-docker", "cfg-no-cli"],
)
def test_make_names_the_missing_tool_and_fails(tmp_path, target, fakes, message):
    calls = tmp_path / "calls"
    fakes = {k: f'echo "{k} $*" >> {calls}; {v}' for k, v in fakes.items()}
    rsp = make(target, _bin(tmp_path, fakes), f"PKG_STAGE={tmp_path / 'stage'}")
    assert rsp.returncode != 0
    assert message in rsp.stderr
    made = calls.read_text() if calls.exists() else ""
    assert "xpkg build" not in made  # nothing was built, nothing pretends it was


def test_make_xpkg_builds_the_image_then_both_packages(tmp_path):
    """With docker and crossplane present (recording stand-ins), the right commands run."""
    calls = tmp_path / "calls"
    env = _bin(
        tmp_path,
        {
            "docker": f'echo "docker $*" >> {calls}',
            "crossplane": f'echo "crossplane $*" >> {calls}',
        },
    )
    stage = tmp_path / "stage"
    rsp = make("xpkg", env, f"PKG_STAGE={stage}", "IMAGE=example/fn:test")
    assert rsp.returncode == 0, rsp.stderr
    lines = calls.read_text().splitlines()
    assert lines[0] == "docker info"
    assert lines[1] == "docker build -t example/fn:test ."
    fn_build, cfg_build = lines[2:]
    assert f"--package-root={stage}/function" in fn_build
    assert "--embed-runtime-image=example/fn:test" in fn_build
    assert f"--package-root={stage}/configuration" in cfg_build
    assert "--embed-runtime-image" not in cfg_build


def _staged_documents(stage: Path) -> dict[str, list[dict]]:
    return {str(p.relative_to(stage)): load(p) for p in sorted(stage.rglob("*.yaml"))}


def test_xpkg_stage_with_the_default_repository_is_the_repository_files(tmp_path):
    """The Makefile's default repository is the one the files name."""
    stage = tmp_path / "stage"
    rsp = make("xpkg-stage", _bin(tmp_path, {}), f"PKG_STAGE={stage}")
    assert rsp.returncode == 0, rsp.stderr
    assert (stage / "function" / "crossplane.yaml").read_text() == FUNCTION_META.read_text()
    for path in (stage / "configuration").rglob("*.yaml"):
        original = ROOT / "package" / "configuration" / "crossplane.yaml"
        if path.parent.name in {"xrds", "compositions"}:
            original = ROOT / path.parent.name / path.name
        assert path.read_text() == original.read_text(), path
    makefile = (ROOT / "Makefile").read_text()
    assert f"REPO_FUNCTION_NAME    := {xrender.FUNCTION_NAME}" in makefile
    (fn_dep,) = [d for d in load(CONFIGURATION_META)[0]["spec"]["dependsOn"] if "function" in d]
    assert f"REPO_FUNCTION_PACKAGE := {fn_dep['function']}" in makefile
    assert f"XPKG_REPOSITORY ?= {fn_dep['function'].rsplit('/', 1)[0]}" in makefile


def test_xpkg_stage_applies_one_repository_setting_to_every_package_file(tmp_path):
    """XPKG_REPOSITORY moves both packages; the Configuration depends on the Function there,
    and every Composition calls the Function by the name Crossplane gives that dependency."""
    stage = tmp_path / "stage"
    env = _bin(tmp_path, {})
    rsp = make("xpkg-stage", env, f"PKG_STAGE={stage}", "XPKG_REPOSITORY=ghcr.io/acme/klutch")
    assert rsp.returncode == 0, rsp.stderr
    docs = _staged_documents(stage)
    (cfg,) = docs["configuration/crossplane.yaml"]
    (fn_dep,) = [d for d in cfg["spec"]["dependsOn"] if "function" in d]
    assert fn_dep["function"] == "ghcr.io/acme/klutch/function-klutch-aws"
    name = dependency_name(fn_dep["function"])
    assert name == "acme-klutch-function-klutch-aws"
    steps = [
        step
        for path, found in docs.items()
        if path.startswith("configuration/compositions/")
        for d in found
        for step in d["spec"]["pipeline"]
    ]
    assert steps and all(s["functionRef"]["name"] == name for s in steps)
    (meta,) = docs["function/crossplane.yaml"]
    assert name in meta["metadata"]["annotations"]["meta.crossplane.io/readme"]
    text = "".join(p.read_text() for p in stage.rglob("*.yaml"))
    assert xrender.FUNCTION_NAME not in text and "xpkg.upbound.io/anynines" not in text


def test_function_package_readme_names_the_function_and_only_input_settings():
    """The Function package's readme: the name Compositions call, the input's own settings,
    and none of those that moved to the EnvironmentConfig."""
    (meta,) = load(FUNCTION_META)
    readme = meta["metadata"]["annotations"]["meta.crossplane.io/readme"]
    assert xrender.FUNCTION_NAME in readme
    assert "EnvironmentConfig" in readme
    for field in Settings.model_fields:
        if field not in {"apiVersion", "kind", "metadata"}:
            assert field in readme, field
    for moved in ("providerConfigName", "defaultRegion", "dbSubnetGroupName", "serviceRoleArn"):
        assert moved not in readme, moved


def test_xpkg_stage_holds_exactly_each_package(tmp_path):
    stage = tmp_path / "stage"
    rsp = make("xpkg-stage", _bin(tmp_path, {}), f"PKG_STAGE={stage}")
    assert rsp.returncode == 0, rsp.stderr

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    assert files(stage / "function") == {"crossplane.yaml", f"input/{INPUT_CRD.name}"}
    assert files(stage / "configuration") == {
        "crossplane.yaml",
        *(rel(p) for p in yaml_files("xrds", "compositions")),
    }
    for root, kind in (("function", "Function"), ("configuration", "Configuration")):
        metas = [
            d
            for p in (stage / root).rglob("*.yaml")
            for d in load(p)
            if d["apiVersion"].startswith("meta.pkg.crossplane.io/")
        ]
        assert [m["kind"] for m in metas] == [kind]


# --------------------------------------------------------------- Dockerfile


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions of each stage: [(INSTRUCTION, arguments), ...], continuations joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, args = line.partition(" ")
        if op.upper() == "FROM":
            stages.append([])
        stages[-1].append((op.upper(), args.strip()))
    return stages


def test_dockerfile_is_multi_stage_small_non_root_on_9443():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    final = dict(stages[-1])
    assert final["FROM"].startswith("gcr.io/distroless/python3-debian12")
    assert "nonroot" in final["USER"] and final["USER"].split(":")[0] not in {"root", "0"}
    assert final["EXPOSE"] == "9443"
    # the runtime stage copies only the built virtualenv from the build stage
    assert [op for op, _ in stages[-1]] == ["FROM", "COPY", "EXPOSE", "USER", "ENTRYPOINT"]
    assert final["COPY"].startswith("--from=build ")
    # the build stage's Python is the runtime's: Debian 12 and distroless Debian 12 (3.11)
    assert stages[0][0][1].startswith("debian:12")
    assert any("python3-venv" in args for op, args in stages[0] if op == "RUN")


def test_dockerfile_entrypoint_is_the_console_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["function"] == "function.main:cli"
    entry = dict(dockerfile_stages()[-1])["ENTRYPOINT"]
    assert entry == '["/venv/fn/bin/function"]'
    runs = [a for op, a in dockerfile_stages()[0] if op == "RUN"]
    assert any("/venv/fn/bin/pip install --no-cache-dir . " in a for a in runs)


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {p.strip("!").rstrip("/") for p in ignore if p.startswith("!")}
    for op, args in dockerfile_stages()[0]:
        if op == "COPY":
            *sources, _dest = args.split()
            for src in sources:
                assert (ROOT / src).exists(), src
                assert src.rstrip("/") in allowed, f"{src} is excluded by .dockerignore"


def test_no_text_says_a_claims_tags_override_the_platforms():
    """A claim tag with a key of the operator's defaultTags is refused (function/claims.py
    resource_tags), so no comment or page may say claim tags override them."""
    texts = [*yaml_files("compositions", "examples", "package"), *ROOT.glob("*.md")]
    texts += [*(ROOT / "docs").glob("*.md")]
    for path in texts:
        found = re.search(r"tags? override|override (?:them|the platform)", path.read_text())
        assert not found, f"{rel(path)}: {found.group(0) if found else ''}"
