"""``crossplane render`` (the CLI, with Crossplane core's own reconciler as its engine) of every
example against the running function gives what ``tests/golden`` holds, and
``crossplane resource validate`` (``beta validate`` before CLI v2.3) of what it rendered passes
against the providers' CRDs, offline.

Upstream facts this relies on (crossplane/cli v2.5.0 ``cmd/crossplane/render``):
- ``--crossplane-binary`` runs ``crossplane internal render`` of that binary instead of a
  Docker image (``engine.go`` NewEngineFromFlags, ``engine_local.go``); core v2.3.4 has that
  command (``cmd/crossplane/internal.go``).
- the engine dials each function insecurely (crossplane v2.3.4 ``internal/render/runner.go``,
  ``insecure.NewCredentials``) at the Function's ``render.crossplane.io/runtime-development-
  target`` annotation (``runtime_development.go``), which ``-a`` overrides: so this module
  serves the same code a second time, ``function --insecure`` on a loopback port, beside the
  mutual-TLS one Crossplane calls.
- observed connection details reach the function only from Secrets named by an observed
  resource's ``spec.writeConnectionSecretToRef`` (crossplane v2.3.4 ``internal/render/
  composite/render.go``: ``NewSecretConnectionDetailsFetcher`` over the in-memory store, which
  holds ``--function-credentials`` Secrets too). The examples keep them in an annotation for
  ``tools/xrender.py``; here they become such a Secret.
- ``validate`` looks for Crossplane's own CRDs in its cache dir under
  ``<image with : replaced by @>/package.yaml`` and downloads only on a miss
  (``cmd/crossplane/validate/cache.go`` LocalCache.Exists/getCachePath): the cache is seeded
  from ../shared/schemas/crossplane-v2.3.4.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.controlplane import ROOT, SCHEMAS, ControlPlane
from tests.e2e.processes import free_port, tail, wait_for
from tools import golden, xrender

pytestmark = pytest.mark.e2e

EXAMPLES = xrender.examples()
TARGET_ANNOTATION = "render.crossplane.io/runtime-development-target"
CROSSPLANE_IMAGE = "xpkg.crossplane.io/crossplane/crossplane:v2.3.4"
EXIT_PIPELINE_FATAL = 3  # crossplane/cli v2.5.0 render.go ExitCodePipelineFatal


@pytest.fixture(scope="module")
def render_target(plane: ControlPlane) -> str:
    """The function served without TLS on a loopback port, for the render engine."""
    cli = plane.bins.crossplane_cli
    assert os.access(cli, os.X_OK), f"{cli}: missing (run `bash tests/e2e/build.sh cli`)"
    port = free_port()
    proc = plane.process(
        "function-render",
        [
            str(Path(sys.executable).parent / "function"),
            "--insecure",
            "--address",
            f"127.0.0.1:{port}",
        ],
    )

    def listening() -> bool:
        proc.check_alive()
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for("the insecure function for render", listening, 60, last=lambda: tail(proc.log, 5))
    return f"127.0.0.1:{port}"


def _file_named(folder: Path, field: str, value: str) -> Path:
    for path in sorted(folder.glob("*.yaml")):
        doc = xrender.load_all(path)[0]
        if _dig(doc, field) == value:
            return path
    raise LookupError(f"no file in {folder} with {field} = {value}")


def _dig(doc: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        doc = (doc or {}).get(part)
    return doc


def _observed_with_secrets(ex: xrender.Example, tmp: Path) -> tuple[Path | None, Path | None]:
    """The example's observed resources, with the connection-details annotation turned into a
    Secret named by ``spec.writeConnectionSecretToRef``; and the file of those Secrets."""
    if not ex.observed:
        return None, None
    observed, secrets = [], []
    for original in ex.observed:
        doc = yaml.safe_load(yaml.safe_dump(original))
        annotations = doc["metadata"].get("annotations") or {}
        details = annotations.pop(xrender.CONNECTION_ANNOTATION, None)
        if details:
            name = f"observed-{doc['metadata']['name']}"
            doc.setdefault("spec", {})["writeConnectionSecretToRef"] = {
                "name": name,
                "namespace": "crossplane-system",
            }
            secrets.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": name, "namespace": "crossplane-system"},
                    "data": {k: xrender.b64(str(v)) for k, v in yaml.safe_load(details).items()},
                }
            )
        observed.append(doc)
    obs = tmp / "observed.yaml"
    obs.write_text(yaml.safe_dump_all(observed, sort_keys=False))
    if not secrets:
        return obs, None
    sec = tmp / "secrets.yaml"
    sec.write_text(yaml.safe_dump_all(secrets, sort_keys=False))
    return obs, sec


def _render(plane: ControlPlane, ex: xrender.Example, target: str, tmp: Path):
    folder = ex.path.parent
    composition = _file_named(
        ROOT / "compositions", "metadata.name", ex.composition["metadata"]["name"]
    )
    xrd = _file_named(ROOT / "xrds", "spec.names.kind", ex.xr["kind"])
    args = [
        str(plane.bins.crossplane_cli),
        "render",
        str(ex.path),
        str(composition),
        str(folder / "functions.yaml"),
        f"--crossplane-binary={plane.bins.crossplane}",
        "-a",
        f"{TARGET_ANNOTATION}={target}",
        f"--xrd={xrd}",
        "--include-function-results",
        "--timeout=60s",
        f"--cache-dir={tmp / 'xpkg'}",
        "-e",
        str(xrender.ENVIRONMENT_CONFIG),
    ]
    if (folder / "required.yaml").exists():
        args += ["-e", str(folder / "required.yaml")]
    observed, secrets = _observed_with_secrets(ex, tmp)
    if observed:
        args += ["-o", str(observed)]
    if secrets:
        args += [f"--function-credentials={secrets}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


CROSSPLANE_LABEL = "crossplane.io/"


def _composed(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The composed resources by composition resource name."""
    out = {}
    for doc in docs:
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        if xrender.NAME_ANNOTATION in annotations:
            out[annotations[xrender.NAME_ANNOTATION]] = doc
    return out


def _as_function_rendered(doc: dict[str, Any], golden: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without what Crossplane adds to a composed resource (crossplane v2.3.4
    internal/controller/apiextensions/composite/composition_render.go
    RenderComposedResourceMetadata: generated name, owner reference, crossplane.io/ labels,
    the composition-resource-name annotation); a name or namespace the function set itself stays."""
    doc = yaml.safe_load(yaml.safe_dump(doc))
    meta = doc.get("metadata") or {}
    wanted = golden.get("metadata") or {}
    meta.get("annotations", {}).pop(xrender.NAME_ANNOTATION, None)
    for key in ("name", "generateName", "namespace"):
        if key not in wanted:
            meta.pop(key, None)
    # Crossplane's owner reference is the controller one (its XR); others are the function's.
    owners = [o for o in meta.pop("ownerReferences", []) if not o.get("controller")]
    if owners:
        meta["ownerReferences"] = owners
    labels = {
        k: v for k, v in (meta.get("labels") or {}).items() if not k.startswith(CROSSPLANE_LABEL)
    }
    meta["labels"] = labels
    for key in ("labels", "annotations"):
        if not meta.get(key):
            meta.pop(key, None)
    if not meta:
        doc.pop("metadata", None)
    return xrender.tidy(doc)


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda ex: ex.name)
def test_render_of_the_example_is_the_golden_file(plane, render_target, ex, tmp_path):
    want = yaml.safe_load(golden.path_of(ex).read_text())
    fatal = [r for r in want.get("results") or [] if r.get("severity") == "SEVERITY_FATAL"]
    done = _render(plane, ex, render_target, tmp_path)
    if fatal:
        assert done.returncode == EXIT_PIPELINE_FATAL, done.stderr
        for r in fatal:
            assert r["message"] in done.stderr, done.stderr
        return
    assert done.returncode == 0, f"crossplane render {ex.name} failed:\n{done.stderr}"
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    (xr,) = [d for d in docs if d["kind"] == ex.xr["kind"]]
    desired = want.get("desired") or {}
    expected = {
        name: xrender.tidy(r["resource"]) for name, r in (desired.get("resources") or {}).items()
    }
    rendered = _composed(docs)
    assert sorted(rendered) == sorted(expected), f"{ex.name}: composed resource names differ"
    composed = {name: _as_function_rendered(rendered[name], expected[name]) for name in expected}
    for name, resource in expected.items():
        assert composed[name] == resource, (
            f"{ex.name}: {name} as Crossplane composed it differs from the golden file:\n"
            f"--- rendered\n{yaml.safe_dump(composed[name], sort_keys=False)}"
            f"--- golden\n{yaml.safe_dump(resource, sort_keys=False)}"
        )
    status = ((desired.get("composite") or {}).get("resource") or {}).get("status") or {}
    for key, value in status.items():
        assert xr.get("status", {}).get(key) == value, f"{ex.name}: XR status.{key}"
    got = {(c["type"], c["status"], c.get("reason")) for c in xr["status"].get("conditions") or []}
    for c in want.get("conditions") or []:
        status_word = {"STATUS_CONDITION_TRUE": "True", "STATUS_CONDITION_FALSE": "False"}
        key = (c["type"], status_word.get(c["status"], "Unknown"), c.get("reason"))
        assert key in got, f"{ex.name}: the function's condition {key} is not on the XR: {got}"
    results = {d.get("message") for d in docs if d["kind"] == "Result"}
    for r in want.get("results") or []:
        assert r["message"] in results, f"{ex.name}: result {r['message']!r} not rendered"
    (tmp_path / "rendered.yaml").write_text(done.stdout)


def _seed_validate_cache(cache: Path) -> None:
    # <cache>/<image with ":" as "@">/package.yaml (validate/cache.go getCachePath, Store).
    target = cache / CROSSPLANE_IMAGE.replace(":", "@")
    target.mkdir(parents=True, exist_ok=True)
    crds = sorted((SCHEMAS / "crossplane-v2.3.4" / "crds").glob("*.yaml"))
    (target / "package.yaml").write_text(
        "".join(p.read_text().rstrip("\n") + "\n---\n" for p in crds)
    )


def test_rendered_resources_validate_against_the_provider_crds(plane, render_target, tmp_path):
    rendered = []
    for ex in EXAMPLES:
        work = tmp_path / ex.name.replace("/", "_")
        work.mkdir()
        done = _render(plane, ex, render_target, work)
        if done.returncode != 0:
            continue  # a fatal example renders nothing to validate
        # The composed resources: the XR comes out with its status only.
        rendered += list(_composed([d for d in yaml.safe_load_all(done.stdout) if d]).values())
    assert rendered
    resources = tmp_path / "resources.yaml"
    resources.write_text(yaml.safe_dump_all(rendered, sort_keys=False))
    cache = tmp_path / "validate-cache"
    _seed_validate_cache(cache)
    extensions = ",".join(
        str(p)
        for p in (
            SCHEMAS / "provider-upjet-aws-v2.6.0",
            SCHEMAS / "provider-sql-v0.16.0",
        )
    )
    done = subprocess.run(
        [
            str(plane.bins.crossplane_cli),
            "resource",
            "validate",
            extensions,
            str(resources),
            f"--cache-dir={cache}",
            f"--crossplane-image={CROSSPLANE_IMAGE}",
            "--skip-success-results",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout + done.stderr
    assert "downloading" not in out, f"validate tried to download schemas:\n{out}"
    assert done.returncode == 0, f"crossplane resource validate failed:\n{out}"
    # A core kind (the master Secret) has no CRD; every other kind must have had a schema
    # (pkg/validate/output/render.go: "[!] could not find CRD/XRD for: <gvk>").
    missing = re.findall(r"could not find CRD/XRD for: (\S+), Kind=(\S+)", out)
    assert all(gv == "/v1" for gv, _ in missing), f"kinds without a schema: {missing}\n{out}"
    assert re.search(r", 0 failure cases", out), out
    kinds = sorted({d["kind"] for d in rendered})
    print(f"validated {len(rendered)} rendered resources of kinds {kinds}:\n{out}")
