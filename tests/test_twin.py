"""Every example through a control-plane twin: Crossplane's request flow and what the
providers really publish (``tools/twin.py``, ``tools/providers.py``,
``tools/xfn.py``; each grounded in the upstream file it cites).

All example XRs live in one fake cluster (a binding finds its instance's XR by the claim
labels), are created, reconciled until nothing changes, edited, reconciled again and deleted.
Twice: as Crossplane v2.3.4 runs a step, and as newer Crossplane does (requirements seeded
from the last reconcile). With the answer cache on, every call is also answered without it
and the two must be byte-identical.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator

import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, resources
from function.resources import READY_WHEN_EXISTS, Kind, readiness
from tests.support import environment as env
from tests.support.examples import examples_of
from tests.support.schemas import require_schemas, schema_for
from tools import providers, xfn
from tools.twin import ControlPlane, Key, Step, example_xrs, result_messages

FLOWS = {"v2.3.4": False, "seeded": True}
# What the operator made and no claim owns: the EnvironmentConfig and the Namespaces (of the
# internal Secrets, and the claims' own; a deleted database's master Secret is kept only with
# deletionPolicy Orphan, a Backup's snapshot record only with Retain).
OPERATORS = ["EnvironmentConfig", "Namespace"]


class CheckedCall:
    """The function as the server runs it (with or without its cache); with the cache,
    every call is checked against a fresh, uncached answer."""

    def __init__(self, cache: bool) -> None:
        self.runner = fn.FunctionRunner(cache_bytes=1 << 22 if cache else 0)
        self.cache = cache
        self.loop = asyncio.new_event_loop()
        self.calls = 0

    def __call__(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        self.calls += 1
        rsp = self.loop.run_until_complete(self.runner.RunFunction(req))
        if self.cache:
            fresh = fn.run(req).SerializeToString(deterministic=True)
            assert rsp.SerializeToString(deterministic=True) == fresh, "cached answer differs"
        return rsp


def _one_tag_per_step(step: Step) -> None:
    """Crossplane tags a step once, before its required-resources loop."""
    tags = {req.meta.tag for req, _ in step.calls}
    assert len(tags) == 1, (step.xr, tags)
    assert len(step.calls) <= xfn.MAX_REQUIREMENTS_ITERATIONS + 1


@pytest.fixture(
    params=[(f, c) for f in FLOWS for c in (True, False)],
    ids=lambda p: f"{p[0]}-cache-{'on' if p[1] else 'off'}",
)
def plane(request) -> Iterator[ControlPlane]:
    flow, cache = request.param
    call = CheckedCall(cache)
    cp = ControlPlane(call=call, seed=FLOWS[flow], on_step=_one_tag_per_step)
    for xr in example_xrs():
        cp.create(xr)
    yield cp
    call.loop.close()


def _assert_all_ready(cp: ControlPlane) -> None:
    for key in cp.xrs():
        rsp = cp.last[key].response
        assert not result_messages(rsp, fnv1.SEVERITY_FATAL), key
        assert not result_messages(rsp, fnv1.SEVERITY_WARNING), key
        unready = [n for n, r in rsp.desired.resources.items() if r.ready != fnv1.READY_TRUE]
        assert rsp.desired.resources and not unready, (key, unready)
        conditions = {c["type"]: c for c in cp.xr(key)["status"]["conditions"]}
        assert conditions["Ready"]["status"] == "True", (key, conditions["Ready"])
        assert conditions["Synced"]["status"] == "True", key


def _external_names(cp: ControlPlane) -> dict:
    return {
        k: (b["metadata"].get("annotations") or {}).get(providers.EXTERNAL_NAME)
        for k, b in cp.cluster.objects.items()
        if k not in cp.composed
    }


def test_every_example_becomes_ready_edits_settle_and_deletion_orphans_only_what_it_keeps(
    plane,
):
    cp = plane
    cp.until_stable()
    _assert_all_ready(cp)
    names = _external_names(cp)

    # A settled control plane asks the function again on every poll: nothing changes.
    assert not cp.round()

    # Edit: a tag added wherever the claim has tags; reconciled, everything stays Ready and
    # no composed resource is renamed or replaced.
    edited = 0
    for key in cp.xrs():
        xr = cp.xr(key)
        if _add_tag(xr["spec"]):
            cp.cluster.put(xr)
            edited += 1
    assert edited
    cp.until_stable()
    _assert_all_ready(cp)
    assert _external_names(cp) == names

    # Delete every XR: no managed resource is left in the cluster; what survives outside is
    # exactly what had deletionPolicy Orphan.
    orphan = {
        b["metadata"]["uid"]
        for k, b in cp.cluster.objects.items()
        if k not in cp.composed and (b.get("spec") or {}).get("deletionPolicy") == "Orphan"
    }
    orphan_claims = {
        (xr["metadata"]["labels"]["crossplane.io/claim-namespace"], xr["metadata"]["name"])
        for k in cp.xrs()
        if ((xr := cp.xr(k))["spec"].get("config") or {}).get("deletionPolicy") == "Orphan"
    }
    retained_backups = {
        (xr["metadata"]["labels"]["crossplane.io/claim-namespace"], xr["metadata"]["name"])
        for k in cp.xrs()
        if (xr := cp.xr(k))["kind"] == "XBackup"
        and (xr["spec"].get("config") or {}).get("deletionPolicy", "Retain") == "Retain"
    }
    assert retained_backups
    for key in cp.xrs():
        cp.delete(key)
    # Only the operator's EnvironmentConfig and the Namespaces stay (the claims never owned
    # them), the master Secret of each orphaned database, with its password, owned by the
    # internal Secrets' Namespace alone, and the snapshot record of each retained Backup
    # (function/snapshot_records.py), owned by its claim's Namespace alone.
    records = {
        k: b
        for k, b in cp.cluster.objects.items()
        if k[1] == "Secret"
        and b["metadata"]["labels"].get("klutch.anynines.com/secret") == "backup-snapshot"
    }
    assert {
        (
            b["metadata"]["labels"]["klutch.anynines.com/namespace"],
            b["metadata"]["labels"]["klutch.anynines.com/backup"],
        )
        for b in records.values()
    } == retained_backups
    for b in records.values():
        assert [r["kind"] for r in b["metadata"]["ownerReferences"]] == ["Namespace"]
    kept = {k: b for k, b in cp.cluster.objects.items() if k[1] == "Secret" and k not in records}
    assert sorted({k[1] for k in cp.cluster.objects} - {"Secret"}) == [
        "EnvironmentConfig",
        "Namespace",
    ]
    assert {
        (
            b["metadata"]["labels"]["crossplane.io/claim-namespace"],
            b["metadata"]["labels"]["crossplane.io/composite"],
        )
        for b in kept.values()
    } == orphan_claims
    for b in kept.values():
        assert b["data"]["password"]
        assert [r["kind"] for r in b["metadata"]["ownerReferences"]] == ["Namespace"]
    assert set(cp.providers.external) == orphan


def _example_binding_and_its_instance() -> tuple[dict, dict]:
    """The example ObjectStorageBinding XR and the ObjectStorageInstance XR it names."""
    xrs = example_xrs()
    binding = next(x for x in xrs if x["kind"] == "XObjectStorageBinding")
    ref = binding["spec"]["instanceRef"]
    ref = ref["name"] if isinstance(ref, dict) else ref
    instance = next(
        x
        for x in xrs
        if x["kind"] == "XObjectStorageInstance"
        and x["metadata"]["labels"]["crossplane.io/claim-name"] == ref
    )
    return binding, instance


def _add_tag(spec: dict) -> bool:
    """Add a tag to the first ``tags`` mapping found in the claim's spec (wherever the claim
    API keeps it)."""
    for value in spec.values():
        if isinstance(value, dict):
            if isinstance(value.get("tags"), dict) or ("tags" in value and not value["tags"]):
                value["tags"] = {**(value.get("tags") or {}), "edited": "yes"}
                return True
            if _add_tag(value):
                return True
    if isinstance(spec.get("tags"), dict):
        spec["tags"]["edited"] = "yes"
        return True
    return False


def test_a_binding_waits_for_its_instance_and_the_loop_gets_the_filled_in_answer():
    """Before the instance is Ready the binding says what it waits for; once it is, the
    second call of the step (the instance XR filled in, same tag) renders the binding. A
    cache keyed by the tag answered that call with the first call's answer (then 'waiting',
    now only the requirements)."""
    call = CheckedCall(cache=True)
    cp = ControlPlane(call=call, on_step=_one_tag_per_step)
    binding, instance = _example_binding_and_its_instance()
    bkey = cp.create(binding)
    cp.round()
    assert any("waiting" in m for m in result_messages(cp.last[bkey].response, 2))
    cp.create(instance)
    cp.until_stable()
    step = cp.last[bkey]
    assert len(step.calls) == 2
    first, last = step.calls[0][1], step.calls[-1][1]
    assert set(first.requirements.resources) == {"instance"} and not first.desired.resources
    assert not any("waiting" in r.message for r in last.results)
    assert set(last.desired.composite.connection_details) >= {"AWS_ACCESS_KEY_ID"}
    call.loop.close()


def _ready(cp: ControlPlane, key: Key) -> dict:
    return {c["type"]: c for c in cp.xr(key)["status"]["conditions"]}["Ready"]


def test_a_waiting_claim_is_not_ready_with_nothing_or_everything_kept():
    """Issue 27 item 2. crossplane v2.3.4 internal/controller/apiextensions/composite/
    reconciler.go (Reconcile) starts from Available and moves to Creating only for an unready
    composed resource, unless the function sets the desired composite's readiness. A binding
    whose instance does not exist composes nothing: before, it was Ready=True with no Secret.
    Once its instance is gone again it keeps its (Ready) resources and must still say it is not
    ready."""
    cp = ControlPlane(call=fn.run)
    binding, instance = _example_binding_and_its_instance()
    bkey = cp.create(binding)
    cp.until_stable()
    rsp = cp.last[bkey].response
    assert not rsp.desired.resources
    assert rsp.desired.composite.ready == fnv1.READY_FALSE
    assert _ready(cp, bkey)["status"] == "False"
    ikey = cp.create(instance)
    cp.until_stable()
    assert _ready(cp, bkey)["status"] == "True"
    assert cp.last[bkey].response.desired.composite.ready == fnv1.READY_UNSPECIFIED
    # The instance's XR turns unready: the binding waits, keeps its Ready resources, not Ready.
    xr = cp.xr(ikey)
    for c in xr["status"]["conditions"]:
        if c["type"] == "Ready":
            c["status"], c["reason"] = "False", "Creating"
    cp.cluster.put(xr)
    cp.reconcile(bkey)
    rsp = cp.last[bkey].response
    assert rsp.desired.resources
    assert all(r.ready == fnv1.READY_TRUE for r in rsp.desired.resources.values())
    assert _ready(cp, bkey)["status"] == "False"


def test_a_provider_config_is_ready_once_it_exists_never_by_a_fabricated_condition():
    cp = ControlPlane(call=fn.run)
    for xr in example_xrs():
        if xr["kind"] == "XPostgresqlInstance":
            cp.create(xr)
    cp.until_stable()
    configs = [
        b
        for (api, kind, _, _), b in cp.cluster.objects.items()
        if readiness(Kind(api, kind)) == READY_WHEN_EXISTS and kind == "ProviderConfig"
    ]
    assert configs
    for body in configs:
        assert "conditions" not in body.get("status", {}), "provider-sql publishes none"
        assert body["status"]["users"] >= 1
    # Being deleted: no longer ready.
    key = cp.xrs()[0]
    name = next(n for n, k in cp.composed[key].items() if k[1] == "ProviderConfig")
    body = cp.cluster.get(cp.composed[key][name])
    body["metadata"]["deletionTimestamp"] = "2025-06-03T00:00:00Z"
    cp.cluster.put(body)
    cp.reconcile(key)
    assert cp.last[key].response.desired.resources[name].ready == fnv1.READY_FALSE


@pytest.mark.parametrize("group_kind", sorted(providers.KINDS), ids="/".join)
def test_the_provider_model_publishes_only_fields_the_crd_has(group_kind):
    """Every computed ``atProvider`` field of the model is in the kind's upstream CRD
    (tests/support/schemas.py), for the version we render."""
    require_schemas()
    group, kind = group_kind
    api = next(
        v.api_version
        for v in vars(resources).values()
        if isinstance(v, resources.Kind) and v.kind == kind and v.api_version.startswith(group)
    )
    model = providers.KINDS[group_kind]
    body = {"apiVersion": api, "kind": kind, "spec": {"forProvider": {"region": "eu-central-1"}}}
    computed = model.computed(body, "x")
    props = schema_for(api, kind)["properties"]["status"]["properties"]
    at = (props.get("atProvider") or {}).get("properties") or {}
    assert set(computed) <= set(at), set(computed) - set(at)


def test_a_step_is_called_at_most_six_times_then_fails():
    """required_resources.go: ``for i := 0; i <= MaxRequirementsIterations; i++`` then an
    error, when the requirements never settle."""
    n = iter(range(100))

    def restless(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = fnv1.RunFunctionResponse()
        rsp.requirements.resources[f"r{next(n)}"].api_version = "v1"
        return rsp

    calls: list = []
    req = xfn.step_request(fnv1.State())
    with pytest.raises(xfn.RequirementsUnstableError):
        xfn.run_step(restless, req, lambda _s: [], on_call=lambda q, r: calls.append(q))
    assert len(calls) == 6
    assert len({q.meta.tag for q in calls}) == 1
    assert list(calls[0].meta.capabilities) == list(xfn.CAPABILITIES)


def test_copies_of_the_examples_are_not_mutated():
    before = copy.deepcopy(example_xrs())
    cp = ControlPlane(call=fn.run)
    for xr in example_xrs():
        cp.create(xr)
    cp.round()
    assert example_xrs() == before


# ------------------------------------------------------------------ parents by selector


def _parents_plane(kinds: tuple[str, ...]) -> ControlPlane:
    cp = ControlPlane(call=fn.run)
    for xr in example_xrs():
        if xr["kind"] in kinds:
            cp.create(xr)
    return cp


def _referencing(cp: ControlPlane) -> list[tuple[dict, str]]:
    """Every composed MR and each top-level field the provider resolves for it."""
    return [
        (b, f)
        for k, b in sorted(cp.cluster.objects.items())
        if k not in cp.composed
        for f in providers.REFERENCES.get((k[0].split("/")[0], k[1]), {})
        if f"{f}Selector" in b["spec"]["forProvider"]
    ]


def test_a_sub_resource_waits_for_its_bucket_instead_of_being_refused_by_aws():
    """The first reconcile of a bucket's sub-resources (provider order: the v1beta1 kinds
    before the v1beta2 Bucket) finds no bucket yet: with a plain ``bucket`` name AWS answers
    NoSuchBucket; with ``bucketSelector`` the provider cannot resolve the reference
    (the Bucket has no ``status.atProvider.id`` yet) and creates nothing, not Ready."""
    cp = _parents_plane(("XObjectStorageInstance",))
    cp.round()
    waiting = [
        b
        for b in cp.cluster.objects.values()
        if b["kind"] in ("BucketPublicAccessBlock", "BucketPolicy", "BucketLifecycleConfiguration")
    ]
    assert waiting
    for body in waiting:
        conditions = {c["type"]: c for c in body["status"]["conditions"]}
        assert conditions["Synced"]["status"] == "False"
        assert "Ready" not in conditions  # never a fabricated condition
        assert body["metadata"]["uid"] not in cp.providers.external
    cp.until_stable()
    _assert_all_ready(cp)
    assert cp.providers.refused == []
    for body, field in _referencing(cp):
        assert body["spec"]["forProvider"][field], (body["kind"], field)


def test_a_grant_waits_for_its_role_instead_of_being_refused_by_postgresql():
    """make e2e: a provider-sql Grant composed together with its Role failed ("role ... does
    not exist") until the Role was made, and provider-sql's rate limiter then held it for
    minutes. The twin refuses such a Grant as PostgreSQL does (providers.PARENTS); the
    function composes a Role's grants once the Role is Ready (pg_grants.after_role)."""
    cp = _parents_plane(("XPostgresqlInstance", "XServiceBinding"))
    cp.until_stable()
    grants = [b for b in cp.cluster.objects.values() if b["kind"] == "Grant"]
    assert len(grants) >= 3  # the group's two and a binding's membership
    assert cp.providers.refused == []
    for grant in grants:
        conditions = {c["type"]: c["status"] for c in grant["status"]["conditions"]}
        assert conditions.get("Ready") == "True", grant["metadata"]["name"]


def test_every_parent_by_selector_resolves_to_the_name_the_function_gives_it():
    """Through the twin (provider-upjet-aws's resolvers), each selector picks this XR's one
    parent: the bucket, the parameter group, the primary of a replica."""
    cp = _parents_plane(("XObjectStorageInstance", "XPostgresqlInstance"))
    cp.until_stable()
    assert cp.providers.refused == []
    resolved = {(b["kind"], f): b["spec"]["forProvider"][f] for b, f in _referencing(cp)}
    assert {f for _, f in resolved} >= {"bucket", "parameterGroupName", "replicateSourceDb"}
    for body, field in _referencing(cp):
        target = cp.cluster.get(
            next(
                k
                for k, b in cp.cluster.objects.items()
                if b["metadata"]["name"] == body["spec"]["forProvider"][f"{field}Ref"]["name"]
            )
        )
        assert target["metadata"]["ownerReferences"] == body["metadata"]["ownerReferences"]


# The parents earlier versions named by plain string.
PLAIN_BEFORE = ("bucket", "parameterGroupName")


def test_resources_that_already_name_their_parent_keep_the_name_through_every_apply():
    """Resources made when the function rendered the plain name (Crossplane owns the field):
    after the upgrade Crossplane's apply never drops the name (the function renders the
    observed value again), so the provider never re-resolves, nothing is replaced."""
    cp = _parents_plane(("XObjectStorageInstance", "XPostgresqlInstance"))
    cp.until_stable()
    before = {b["metadata"]["uid"]: (f, b["spec"]["forProvider"][f]) for b, f in _referencing(cp)}
    externals = {u: e.ext for u, e in cp.providers.external.items()}
    assert before
    # As the earlier function left them: the plain name, owned by Crossplane, no selector.
    for key, body in list(cp.cluster.objects.items()):
        if body["metadata"]["uid"] in before:
            field, _ = before[body["metadata"]["uid"]]
            fp = body["spec"]["forProvider"]
            fp.pop(f"{field}Selector")
            fp.pop(f"{field}Ref")
            cp.cluster.objects[key] = body
    cp.providers.owned.clear()
    for key in cp.xrs():  # Crossplane only: no provider reconcile in between
        cp.reconcile(key)
        for body, field in _referencing(cp):
            if field not in PLAIN_BEFORE:
                continue
            _, value = before[body["metadata"]["uid"]]
            assert body["spec"]["forProvider"].get(field) == value, (body["kind"], field)
    cp.until_stable()
    assert {u: e.ext for u, e in cp.providers.external.items()} == externals
    assert cp.providers.refused == []


# ------------------------------------------------------------------ deletion order (Usages)


def _instance_and_user(user_kind: str, instance_kind: str) -> tuple[ControlPlane, Key, Key]:
    cp = ControlPlane(call=fn.run)
    xrs = example_xrs()
    user = next(x for x in xrs if x["kind"] == user_kind)
    ref = user["spec"]["instanceRef"]
    ref = ref["name"] if isinstance(ref, dict) else ref
    instance = next(
        x
        for x in xrs
        if x["kind"] == instance_kind and x["metadata"]["labels"]["crossplane.io/claim-name"] == ref
    )
    ikey, ukey = cp.create(instance), cp.create(user)
    cp.until_stable()
    _assert_all_ready(cp)
    return cp, ikey, ukey


PAIRS = [
    ("XServiceBinding", "XPostgresqlInstance"),
    ("XScheduledBackup", "XPostgresqlInstance"),
    ("XObjectStorageBinding", "XObjectStorageInstance"),
]


@pytest.mark.parametrize(("user", "instance"), PAIRS, ids=[p[0] for p in PAIRS])
def test_an_instance_deleted_first_stays_until_what_uses_it_is_gone(user, instance):
    """Crossplane's Usage webhook refuses the instance's deletion while the binding (or
    schedule) exists; everything keeps working; once the user is deleted (a ServiceBinding's
    roles dropped through the instance's ProviderConfig and master Secret), the refused
    deletion is replayed and nothing is left, nothing stuck."""
    cp, ikey, ukey = _instance_and_user(user, instance)
    assert not cp.delete(ikey)
    assert cp.refused_deletions == [ikey]
    cp.until_stable()
    _assert_all_ready(cp)
    assert cp.delete(ukey)
    assert cp.stuck == []
    # the instance went with the replayed deletion; what the operator made stays
    assert sorted({k[1] for k in cp.cluster.objects}) == OPERATORS


@pytest.mark.parametrize(("user", "instance"), PAIRS, ids=[p[0] for p in PAIRS])
def test_what_uses_an_instance_deleted_first_goes_cleanly_then_the_instance(user, instance):
    cp, ikey, ukey = _instance_and_user(user, instance)
    assert cp.delete(ukey)
    assert cp.delete(ikey)
    assert cp.refused_deletions == [] and cp.stuck == []
    assert sorted({k[1] for k in cp.cluster.objects}) == OPERATORS


def test_a_backup_keeps_its_instance_only_while_the_snapshot_is_taken():
    """RDS cannot delete an instance during a snapshot of it; once the snapshot exists the
    Backup no longer needs the instance (a Backup with deletionPolicy Retain may outlive it)."""
    cp = ControlPlane(call=fn.run)
    xrs = example_xrs()
    backup = next(x for x in xrs if x["kind"] == "XBackup")
    ref = backup["spec"]["instanceRef"]
    instance = next(
        x
        for x in xrs
        if x["kind"] == "XPostgresqlInstance"
        and x["metadata"]["labels"]["crossplane.io/claim-name"] == ref
    )
    ikey, bkey = cp.create(instance), cp.create(backup)
    for _ in range(10):
        if any(k[1] == "ClusterUsage" for k in cp.composed[bkey].values()):
            break
        cp.round()
    cp.round()  # the usage controller labels the instance
    assert not cp.delete(ikey)
    cp.until_stable()
    _assert_all_ready(cp)
    assert not any(k[1] == "ClusterUsage" for k in cp.composed[bkey].values())
    assert ikey not in cp.composed  # the refused deletion was replayed once the Usage went
    assert cp.cluster.get(bkey) is not None and cp.stuck == []


def test_create_delete_rounds_of_retained_backups_reach_the_limit():
    """Issue 27 item 6: a Retain Backup's snapshot stays in AWS when its claim is deleted, and
    so does its record (owned by the claim's Namespace); the next Backup counts it. Before,
    only live claims counted and every round passed."""
    data = env.example_data()
    data["limits"] = {**data.get("limits", {}), "maxManualBackupsPerInstance": 2}
    cp = ControlPlane(call=fn.run, environment=[env.config(data)])
    (pg,) = [
        x for x in example_xrs() if x["metadata"]["labels"]["crossplane.io/claim-name"] == "pg-db"
    ]
    cp.create(pg)
    cp.until_stable()
    template = examples_of("XBackup")[0].xr
    for n in range(3):
        bk = copy.deepcopy(template)
        bk["metadata"]["name"] = f"round-{n}"
        bk["metadata"]["uid"] = f"00000000-0000-4000-8000-00000000000{n}"
        bk["metadata"]["labels"]["crossplane.io/claim-name"] = f"round-{n}"
        key = cp.create(bk)
        cp.until_stable()
        last = cp.last[key].response
        refused = [m for m in result_messages(last, fnv1.SEVERITY_FATAL) if "manual snapshots" in m]
        if n < 2:
            assert not refused, refused
            assert cp.xr(key)["status"].get("snapshotArn"), n
            assert cp.delete(key)
            cp.until_stable()
        else:
            (msg,) = refused
            assert "pg-db already has 2 manual snapshots (at most 2" in msg, msg
    # both retained snapshots are counted by their records; the refused Backup has none
    records = [
        b
        for k, b in cp.cluster.objects.items()
        if k[1] == "Secret"
        and b["metadata"]["labels"].get("klutch.anynines.com/secret") == "backup-snapshot"
    ]
    assert sorted(b["metadata"]["labels"]["klutch.anynines.com/backup"] for b in records) == [
        "round-0",
        "round-1",
    ]


def test_no_answer_puts_a_reference_inside_a_list_item():
    """Issue 27 item 3 (DESIGN section 6): a ``*Ref``/``*Selector`` inside a list item (backup
    Plan ``rule[].targetVaultNameSelector``, bucket encryption ``rule[].applyServerSideEncryption
    ByDefault.kmsMasterKeyIdSelector``) loops forever: the list is atomic in the v2.6.0 CRDs and
    crossplane-runtime's APISimpleReferenceResolver force-applies the whole list with the value,
    Crossplane its own without it (tools/providers.py). Every desired resource of every
    call, every example, from creation until everything is Ready (replicas, managed keys and
    the role of a ScheduledBackup included)."""
    cp = ControlPlane(call=fn.run)
    for xr in example_xrs():
        cp.create(xr)
    cp.until_stable()
    _assert_all_ready(cp)
    kinds: set[str] = set()
    found: list[str] = []
    for step in cp.steps:
        for _, rsp in step.calls:
            for name, r in rsp.desired.resources.items():
                body = resource.struct_to_dict(r.resource)
                kinds.add(f"{body['apiVersion']}/{body['kind']}")
                found += [f"{step.xr} {name}: {p}" for p in providers.list_references(body)]
    assert found == []
    # The kinds that have a list with a reference in their CRD were among them.
    assert {
        "backup.aws.upbound.io/v1beta2/Plan",
        "s3.aws.upbound.io/v1beta2/BucketServerSideEncryptionConfiguration",
    } <= kinds
