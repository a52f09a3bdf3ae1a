"""The guides as written, on the real control plane: ``make e2e``'s first tests
(``conftest.py`` orders this module first, so the namespace ``default`` is the guide's alone).

- The operator guide's install steps are the control plane's set-up (``controlplane.py``
  ``_operator_guide``): what ran, what was skipped and why, and that the EnvironmentConfig on
  the cluster is the guide's.
- The user guide's steps (``tests/support/guide.py`` extracts them from
  ``docs/user-guide.md``; nothing of them is copied here) run in order through bash with the
  harness's kubectl (``runbook.py``): every ``kubectl apply``, ``wait``, ``get`` and
  ``delete`` of every flow, object storage and PostgreSQL, binding, backup, scheduled backup,
  restore, resize and clean-up. Each sample ``kubectl get`` output must be what kubectl prints
  in its deterministic columns (``guide.DETERMINISTIC``). A step marked ``pods`` applies a
  Deployment no kubelet runs: its pod's work is done here with the Secret its ``envFrom`` names
  (``psql`` with the ``PG*`` keys; ``aws s3 ls`` with the AWS keys against moto). After the
  clean-up nothing the guide created is left: claims, their composite and managed resources,
  Deployments and connection Secrets (a bounded wait; what is left is printed).
- The operator guide's first claim (its section 5) the same way, after the install.
"""

from __future__ import annotations

import base64
import re
import ssl
import time
from typing import Any

import pg8000.native
import pytest
import yaml

from tests.e2e import claims, runbook
from tests.e2e.processes import WaitTimeoutError, wait_for
from tests.support import guide

pytestmark = pytest.mark.e2e

CLEANUP_TIMEOUT = 600  # seconds: composed resources go after their claim, in the background
USER_GUIDE = "docs/user-guide.md"
OPERATOR_GUIDE = "docs/operator-guide.md"


# ----- the operator guide: the set-up ---------------------------------------------------------


def test_the_operator_guides_install_steps_are_the_set_up(plane):
    book = plane.operator_guide
    assert book is not None, "controlplane.py did not run the operator guide's install steps"
    install = guide.install_steps(guide.OPERATOR_GUIDE.read_text())
    marked = [s for s in install if s.kind == "sh" and s.mark == "skip"]
    runnable = [line for s in install if s.kind == "sh" and not s.mark for line in s.lines()]
    print("\n".join(["operator guide, skipped:", *book.skipped]))
    took = round(sum(r.seconds for r in book.ran), 1)
    print(f"operator guide, run: {len(book.ran)} commands in {took}s")
    assert [r.line for r in book.ran] == runnable
    assert len(book.skipped) == len(marked)
    assert "kubectl apply -f environmentconfig.yaml" in runnable
    assert "kubectl apply -f crossplane-namespaces.yaml" in runnable
    # The EnvironmentConfig the claims use is the guide's, with the IDs of the network made for
    # it in place of its placeholders.
    (block,) = [s for s in install if s.kind == "file" and s.name == "environmentconfig.yaml"]
    text = block.text
    for placeholder, real in plane.network.items():
        text = text.replace(placeholder, real)
    on_cluster = plane.get("environmentconfigs.apiextensions.crossplane.io", "klutch-aws")
    assert on_cluster["data"] == yaml.safe_load(text)["data"]


# ----- the user guide, top to bottom; the operator guide's first claim ---------------------------


def test_the_user_guide_runs_as_written(plane, tmp_path):
    found = guide.steps(guide.USER_GUIDE.read_text())
    book = run_and_clean_up(plane, tmp_path / "user-guide", found, USER_GUIDE)
    assert len(book.ran) >= 20, [r.line for r in book.ran]


def test_the_operator_guides_first_claim_runs_as_written(plane, tmp_path):
    # Section 5, after the install (the set-up): apply, wait, get, describe, its managed
    # resources, delete.
    found = guide.section_steps(guide.OPERATOR_GUIDE.read_text(), "5.")
    book = run_and_clean_up(plane, tmp_path / "first-claim", found, OPERATOR_GUIDE)
    verbs = [r.line.split()[1] for r in book.ran]
    assert (verbs[0], verbs[-1]) == ("apply", "delete"), verbs
    assert "wait" in verbs, verbs


def run_and_clean_up(plane, work, steps: list[guide.Step], source: str) -> runbook.Runbook:
    """``steps`` run as written, then nothing of what they applied left (bounded wait)."""
    if not plane.fake_aws:
        pytest.skip("tests/e2e/fakeaws is not there: the AWS side cannot become Ready")
    started = time.monotonic()
    book = runbook.Runbook(plane.bins.kubectl, plane.kubeconfig, work)
    created: list[dict[str, Any]] = []
    try:
        run_guide(plane, book, steps, created, source)
    except BaseException:
        # The guide stopped before its clean-up: delete what it created, so the tests after
        # this one find namespace default as they expect (not waited for).
        for doc in reversed(created):
            kind, namespace, name = key(doc)
            resource = claims.RESOURCES.get(kind, f"{kind.lower()}s")
            plane.kubectl(
                "delete", resource, name, "-n", namespace, "--ignore-not-found", "--wait=false"
            )
        raise
    took = round(time.monotonic() - started)
    print(f"{source}: {len(book.ran)} commands, {len(book.skipped)} skipped, {took}s")
    names = sorted(f"{d['kind']} {d['metadata']['name']}" for d in created)
    print(f"{source} created: " + ", ".join(names))
    left: list[str] = []
    cleanup = time.monotonic()
    try:
        wait_for(
            f"nothing {source} created left after its clean-up",
            lambda: not left.__setitem__(slice(None), remains(plane, created)) and not left,
            CLEANUP_TIMEOUT,
            interval=5.0,
            last=lambda: "left: " + "; ".join(left),
        )
    except WaitTimeoutError:
        print("left after the clean-up:\n" + "\n".join(left))
        raise
    print(f"nothing of it left {round(time.monotonic() - cleanup)}s after the clean-up")
    return book


def run_guide(
    plane,
    book: runbook.Runbook,
    steps: list[guide.Step],
    created: list[dict[str, Any]],
    source: str,
) -> None:
    """Every step in order; ``created`` gets what the guide applies (manifests)."""
    files: dict[str, list[dict[str, Any]]] = {}
    last_get = ""
    for step in steps:
        where = f"{source}:{step.line}"
        if step.kind == "file":
            book.write(step)
            files[step.name] = [d for d in yaml.safe_load_all(step.text) if d]
        elif step.kind == "output":
            assert last_get, f"{where}: a sample output after a step without kubectl get"
            book.compare(where, last_get, step.text)
        elif step.mark == "skip":
            book.skip(step, where)
        else:
            last_get = ""
            applied = guide.applied_manifests(step, files)
            created += [d for d in applied if key(d) not in {key(c) for c in created}]
            for line in step.lines():
                book.run(where, line)
                if line.startswith("kubectl get "):
                    last_get = line
            if step.mark == "pods":
                for doc in applied:
                    if doc["kind"] == "Deployment":
                        run_pod(plane, doc, where)


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc["metadata"]
    return doc["kind"], meta.get("namespace") or "default", meta["name"]


# ----- what a Deployment's pod would do ---------------------------------------------------------


def secret(plane, namespace: str, name: str) -> dict[str, str]:
    data = plane.get("secret", name, "-n", namespace).get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def run_pod(plane, deployment: dict[str, Any], where: str) -> None:
    """The pod of ``deployment`` (no kubelet here): its container's environment from the
    Secrets its ``envFrom`` names, then what its command does."""
    namespace = deployment["metadata"].get("namespace") or "default"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        env.update(secret(plane, namespace, source["secretRef"]["name"]))
    command = " ".join(container.get("command") or [])
    print(f"{where}: the pod of Deployment {deployment['metadata']['name']}: {command}")
    if command.split()[2:3] == ["psql"]:
        psql(env, command)
    elif "aws s3 ls" in command:
        aws_s3_ls(plane, env)
    else:
        raise AssertionError(f"{where}: no stand-in for the command {command!r}")


def psql(env: dict[str, str], command: str) -> None:
    """``psql -c '<query>'`` as libpq runs it from the ``PG*`` variables: ``PGSSLMODE=require``
    is TLS without certificate checks (the fake provider's proxy has a throwaway
    certificate). The session is the binding's login role, its database the claim's; its
    ``current_user`` is the group role every session of a binding starts as
    (docs/postgresql-grants.md)."""
    (query,) = re.findall(r"-c '([^']*)'", command)
    assert env["PGSSLMODE"] == "require", env["PGSSLMODE"]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    db = pg8000.native.Connection(
        env["PGUSER"],
        password=env["PGPASSWORD"],
        host=env["PGHOST"],
        port=int(env["PGPORT"]),
        database=env["PGDATABASE"],
        ssl_context=ctx,
        timeout=30,
    )
    try:
        rows = db.run(query)
        session = db.run("SELECT session_user, current_database()")
    finally:
        db.close()
    print(f"psql -c {query!r}: {rows}")
    assert session == [[env["PGUSER"], env["PGDATABASE"]]]
    assert rows[0][1] == env["PGDATABASE"], rows


def aws_s3_ls(plane, env: dict[str, str]) -> None:
    """``aws s3 ls s3://$BUCKET_NAME/`` with the Secret's keys and region, against moto over TLS
    (the Secret's ``S3_ENDPOINT`` is AWS's; ``ControlPlane.binding_s3``): the binding's key
    lists its bucket."""
    bucket = env["BUCKET_NAME"]
    listed = plane.binding_s3(env).list_objects_v2(Bucket=bucket)
    print(f"aws s3 ls s3://{bucket}/: {[o['Key'] for o in listed.get('Contents', [])]}")


# ----- after the clean-up ---------------------------------------------------------------------


def remains(plane, created: list[dict[str, Any]]) -> list[str]:
    """What is left of what the guide created: the objects it applied, the composite and
    managed resources of its claims, its claims' connection Secrets."""
    left = []
    claim_names = set()
    for doc in created:
        kind, namespace, name = key(doc)
        resource = claims.RESOURCES.get(kind, f"{kind.lower()}s")
        if kind in claims.RESOURCES:
            claim_names.add((namespace, name))
            ref = (doc["spec"].get("writeConnectionSecretToRef") or {}).get("name")
            if ref and found(plane, "secret", ref, namespace):
                left.append(f"Secret {namespace}/{ref}")
        if found(plane, resource, name, namespace):
            left.append(f"{kind} {namespace}/{name}")
    for category in ("composite", "managed"):
        for obj in plane.get(category)["items"]:
            labels = obj["metadata"].get("labels") or {}
            owner = (
                labels.get("crossplane.io/claim-namespace"),
                labels.get("crossplane.io/claim-name"),
            )
            if owner in claim_names:
                left.append(f"{obj['kind']} {obj['metadata']['name']} (of {owner[0]}/{owner[1]})")
    return left


def found(plane, resource: str, name: str, namespace: str) -> bool:
    out = plane.kubectl(
        "get", resource, name, "-n", namespace, "--ignore-not-found", "-o", "name"
    ).stdout
    return bool(out.strip())
