"""Reconcile sequences, per example of every kind: create, observe, edit.

1. create: the XR alone; nothing observed, so nothing is ready.
2. observe: the providers report every rendered resource back (Ready, ``atProvider`` with
   arn/id, external names, connection details); names and external names stay, and each
   desired resource is ready exactly when its observed one is (the XR is ready exactly when
   every composed resource is: Crossplane derives it from these flags).
3. edit: tags added and immutable fields changed on the claim; names, external names and
   every field that would force AWS to replace the resource stay as created, and the
   function warns naming each immutable field it kept.
"""

from __future__ import annotations

import copy

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function.resources import READY_WHEN_EXISTS, Kind, readiness
from tests.support.examples import example_xrs, render, render_created
from tests.support.responses import desired, fatal_messages, warnings
from tests.support.xrds import claim_kinds, spec_schema
from tools import xrender

EXT = "crossplane.io/external-name"

# provider kind -> forProvider fields whose change makes AWS replace the resource.
FORCES_REPLACEMENT = {
    "Bucket": ("region",),
    "Key": ("region", "customerMasterKeySpec", "keyUsage", "multiRegion"),
    "Alias": ("region",),
    "Instance": (
        "region",
        "engine",
        "dbName",
        "storageEncrypted",
        "kmsKeyId",
        "kmsKeyIdSelector",
        "snapshotIdentifier",
        "restoreToPointInTime",
        "username",
    ),
    "ParameterGroup": ("region", "family", "name"),
    "Snapshot": ("region", "dbInstanceIdentifier", "dbSnapshotIdentifier"),
    "Vault": ("region", "kmsKeyArn"),
    "User": ("path",),
}

CASES = [
    pytest.param(xr, id=f"{xr['kind']}-{xr['metadata']['name']}")
    for kind in claim_kinds()
    for xr in example_xrs(kind)
]


def observed_from(rsp: fnv1.RunFunctionResponse, ready: set[str] | None = None) -> list[dict]:
    """The rendered resources as the providers report them (``ready``: which are Ready)."""
    out = []
    for name, rendered in desired(rsp).items():
        body = copy.deepcopy(rendered)
        meta = body.setdefault("metadata", {})
        annotations = meta.setdefault("annotations", {})
        annotations[xrender.NAME_ANNOTATION] = name
        # A provider sets the external name to the AWS id when the composition gave none.
        annotations.setdefault(EXT, f"{name}-id")
        meta["name"] = f"xr-{name}"
        body.setdefault("status", {})
        body["status"]["atProvider"] = {
            **((body.get("spec") or {}).get("forProvider") or {}),
            "arn": f"arn:aws:test:eu-central-1:123456789012:{name}",
            "id": annotations[EXT],
        }
        ok = ready is None or name in ready
        if _exists_is_ready(body):
            # crossplane-runtime's ProviderConfig reconciler publishes users, no conditions
            # (pkg/reconciler/providerconfig/reconciler.go): see tests/support/providers.py.
            body["status"] = {"users": 1}
            out.append(body)
            continue
        body["status"]["conditions"] = [
            {
                "type": "Ready",
                "status": "True" if ok else "False",
                "reason": "Available" if ok else "Creating",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
            },
            {
                "type": "Synced",
                "status": "True",
                "reason": "ReconcileSuccess",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
            },
        ]
        out.append(body)
    return out


def _exists_is_ready(body: dict) -> bool:
    return readiness(Kind(body["apiVersion"], body["kind"])) == READY_WHEN_EXISTS


def _ext(body: dict) -> str | None:
    return ((body.get("metadata") or {}).get("annotations") or {}).get(EXT)


def _ready(rsp: fnv1.RunFunctionResponse) -> dict[str, int]:
    return {n: r.ready for n, r in rsp.desired.resources.items()}


@pytest.mark.parametrize("xr", CASES)
def test_create_then_observe(xr):
    kind = xr["kind"]
    initial = render(kind, xr)
    assert not fatal_messages(initial)
    assert desired(initial), "something is rendered on create"
    assert set(_ready(initial).values()) == {fnv1.READY_FALSE}, "nothing observed, nothing ready"
    # What Crossplane applied without a provider (the master Secret) is observed next: from
    # then on everything is rendered (a PostgresqlInstance's primary waits for its Secret).
    created = render_created(kind, xr)
    first = desired(created)

    observed = observe_all(kind, xr, created)
    again = desired(observed)
    # Only a Usage without a user (``by``) may go: it lasts only while something is underway
    # (a Backup's snapshot being taken; function/refs.py ``usage``).
    transient = {
        k for k, b in first.items() if b["kind"] == "ClusterUsage" and "by" not in b["spec"]
    }
    # What waits for another resource to be observed comes then, and the first answer said it
    # waits (XR not ready): read replicas (a Ready primary, function/postgresql.py _replicas)
    # and a managed key's bucket encryption (the key's ARN, function/objectstorage.py).
    late = set(again) - set(first)
    assert all(k.startswith("replica-") or k == "encryption" for k in late), late
    if late:
        assert created.desired.composite.ready == fnv1.READY_FALSE
    assert set(again) - late == set(first) - transient, (
        "no other resource appears or disappears once observed"
    )
    for name, body in first.items():
        if name in transient:
            continue
        if _ext(body) is not None:
            assert _ext(again[name]) == _ext(body), name
        assert _replacing(body) == _replacing(again[name]), name
    assert set(_ready(observed).values()) == {fnv1.READY_TRUE}


def observe_all(kind: str, xr: dict, created: fnv1.RunFunctionResponse):
    """Render until what is observed is what is desired (resources may depend on others)."""
    rsp = created
    for _ in range(4):
        rsp_next = render(kind, xr, observed_from(rsp))
        if set(rsp_next.desired.resources) == set(rsp.desired.resources):
            return rsp_next
        rsp = rsp_next
    return rsp_next


def _replacing(body: dict) -> dict:
    fp = (body.get("spec") or {}).get("forProvider") or {}
    return {f: fp.get(f) for f in FORCES_REPLACEMENT.get(body["kind"], ())}


@pytest.mark.parametrize("xr", CASES)
def test_each_resource_is_ready_exactly_when_observed_ready(xr):
    kind = xr["kind"]
    full = observe_all(kind, xr, render_created(kind, xr))
    names = sorted(full.desired.resources)
    kinds = desired(full)
    for missing in (n for n in names if not _exists_is_ready(kinds[n])):
        rsp = render(kind, xr, observed_from(full, ready=set(names) - {missing}))
        ready = _ready(rsp)
        assert ready[missing] == fnv1.READY_FALSE, missing
        assert all(ready[n] == fnv1.READY_TRUE for n in names if n != missing and n in ready)


OTHER_REGION = {"eu-central-1": "us-west-2"}


def _edit(xr: dict) -> tuple[dict, list[str]]:
    """The claim after a developer edit: a tag added, immutable fields changed."""
    xr = copy.deepcopy(xr)
    spec = xr["spec"]
    props = spec_schema(xr["kind"]).get("properties") or {}
    changed = []
    # Object storage keeps its optional fields under spec.parameters, databases under spec.config.
    for group in ("parameters", "config"):
        params = (props.get(group) or {}).get("properties") or {}
        if "tags" in params:
            spec.setdefault(group, {}).setdefault("tags", {})["edited"] = "yes"
        if "region" in params and (spec.get(group) or {}).get("region"):
            spec[group]["region"] = OTHER_REGION.get(spec[group]["region"], "eu-central-1")
            changed.append(f"spec.{group}.region")
    if "region" in props and spec.get("region"):
        spec["region"] = OTHER_REGION.get(spec["region"], "eu-central-1")
        changed.append("spec.region")
    return xr, changed


@pytest.mark.parametrize("xr", CASES)
def test_a_spec_edit_keeps_names_and_everything_that_forces_replacement(xr):
    kind = xr["kind"]
    live = observe_all(kind, xr, render_created(kind, xr))
    before = desired(live)
    edited, changed = _edit(xr)
    rsp = render(kind, edited, observed_from(live))
    assert not fatal_messages(rsp)
    after = desired(rsp)
    assert set(after) == set(before)
    for name, body in before.items():
        assert _ext(after[name]) == _ext(body), name
        assert _replacing(after[name]) == _replacing(body), name
    for field in changed:
        assert any(field in w for w in warnings(rsp)), (field, warnings(rsp))
    assert set(_ready(rsp).values()) == {fnv1.READY_TRUE}


PG = "XPostgresqlInstance"
S3 = "XObjectStorageInstance"


def _only(kind: str) -> dict:
    assert kind in claim_kinds(), f"{kind} is not rendered"
    return copy.deepcopy(example_xrs(kind)[0])


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        (S3, "spec.parameters.encryption", {"type": "aes256"}),
        (S3, "spec.region", "ap-south-1"),
        (PG, "spec.config.encryption", {}),  # the AWS-managed key
        (PG, "spec.config.region", "ap-south-1"),
        (
            PG,
            "spec.restore",
            {"backup": {"arn": "arn:aws:rds:eu-west-1:123456789012:snapshot:other"}},
        ),
    ],
)
def test_an_immutable_field_changed_later_is_kept_with_a_warning(kind, field, value):
    xr = _only(kind)
    if kind == S3:
        xr["spec"].setdefault("parameters", {})["encryption"] = {
            "type": "kms",
            "key": {"managed": {}},
        }
    if kind == PG:
        xr["spec"].setdefault("config", {})["encryption"] = {"key": {"managed": {}}}
    live = observe_all(kind, xr, render_created(kind, xr))
    edited = copy.deepcopy(xr)
    node = edited
    *parents, last = field.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    rsp = render(kind, edited, observed_from(live))
    assert not fatal_messages(rsp), fatal_messages(rsp)
    assert any(field in w for w in warnings(rsp)), warnings(rsp)
    before, after = desired(live), desired(rsp)
    assert set(after) == set(before)
    for name, body in before.items():
        assert _replacing(after[name]) == _replacing(body), name
