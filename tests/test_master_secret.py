"""The master password Secret of a PostgresqlInstance (issue 16 item 6, function/master_secret.py).

The function composes the Secret the rds Instance's ``passwordSecretRef`` names, before the
Instance, without a password; the provider fills it in without owning it (provider-upjet-aws
v2.6.0 ``config/cluster/common/common.go`` ``PasswordGenerator``, modelled in
``tools/providers.py``); with ``deletionPolicy: Orphan`` its Namespace owns it too, so
it outlives the claim (Kubernetes' garbage collector, modelled in ``tools/twin.py``).
"""

from __future__ import annotations

import base64
import copy

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, master_secret, postgresql
from function.postgresql import MASTER_USERNAME
from tests.support.claims import postgresql_xr
from tests.support.responses import (
    applied_core_objects,
    desired,
    fatal_messages,
    local_call,
    render_local,
    render_primary_ready,
)
from tools import providers, xrender
from tools.twin import ControlPlane, example_xrs

XR = postgresql_xr()
NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "crossplane-system", "uid": "11111111-2222-3333-4444-555555555555"},
}
PASSWORD = "Pa55-w0rd/only+the+provider+knows"


def xr_policy(policy: str) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"]["config"] = {"deletionPolicy": policy}
    return xr


def with_namespace(required=None) -> dict:
    return {**(required or {}), master_secret.NAMESPACE_REQUIREMENT: [NAMESPACE]}


def filled(secret: dict) -> dict:
    """The Secret as observed once the provider wrote the password into it."""
    body = copy.deepcopy(secret)
    body["data"][master_secret.PASSWORD_KEY] = base64.b64encode(PASSWORD.encode()).decode()
    return body


def _forms(secret: str) -> set[str]:
    return {secret, base64.b64encode(secret.encode()).decode()}


# --- what the function renders ------------------------------------------------------------


def test_the_first_reconcile_composes_the_secret_without_a_password_and_no_instance():
    out = desired(render_local(XR))
    assert "instance" not in out
    body = out[master_secret.KEY]
    assert (body["apiVersion"], body["kind"]) == ("v1", "Secret")
    assert body["metadata"]["namespace"] == "crossplane-system"
    assert master_secret.PASSWORD_KEY not in body["data"]
    assert "stringData" not in body
    decoded = {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
    assert decoded == {"username": MASTER_USERNAME, "dbname": "app"}
    labels = body["metadata"]["labels"]
    assert labels[master_secret.PURPOSE_LABEL] == master_secret.PURPOSE
    assert labels[master_secret.REGION_LABEL] == "eu-central-1"
    assert body["metadata"]["annotations"][master_secret.CLAIM_ANNOTATION] == "team-a/pg-db"
    assert "ownerReferences" not in body["metadata"]  # Delete/SnapshotAndDelete: the XR's only


def test_once_the_secret_is_observed_the_instance_names_it_as_its_password_secret():
    first = render_local(XR)
    rsp = render_local(XR, observed=applied_core_objects(first))
    out = desired(rsp)
    secret = out[master_secret.KEY]
    fp = out["instance"]["spec"]["forProvider"]
    assert fp["autoGeneratePassword"] is True
    assert fp["passwordSecretRef"] == {
        "name": secret["metadata"]["name"],
        "namespace": secret["metadata"]["namespace"],
        "key": master_secret.PASSWORD_KEY,
    }
    assert secret["metadata"]["labels"][master_secret.IDENTIFIER_LABEL] == fp["identifier"]
    # A Secret has no Ready condition: ready once it exists (resources.READINESS).
    assert rsp.desired.resources[master_secret.KEY].ready == fnv1.READY_TRUE


def test_an_existing_instance_is_never_withheld_while_its_secret_is_not_observed():
    """An install from before: the Instance exists, the Secret is not composed yet."""
    first = render_local(XR)
    created = desired(render_local(XR, observed=applied_core_objects(first)))
    instance = created["instance"]
    instance["metadata"]["annotations"] = {
        **instance["metadata"].get("annotations", {}),
        "crossplane.io/composition-resource-name": "instance",
    }
    out = desired(render_local(XR, observed=[instance]))
    assert "instance" in out and master_secret.KEY in out


def test_replicas_take_no_password():
    xr = copy.deepcopy(XR)
    xr["spec"]["plan"] = "cluster-nano"
    out = desired(render_primary_ready(xr))
    assert "replica-1" in out
    fp = out["replica-1"]["spec"]["forProvider"]
    assert "autoGeneratePassword" not in fp and "passwordSecretRef" not in fp


def test_orphan_asks_for_the_namespace_with_its_other_requirement_in_one_call():
    """The first call of a step asks for the Namespace and the namespace's ScheduledBackups at
    once and answers nothing else (Crossplane throws that answer away and calls again)."""
    xr = xr_policy("Orphan")
    rsp = local_call(xrender.build_request(xr, {}))
    sel = rsp.requirements.resources[master_secret.NAMESPACE_REQUIREMENT]
    assert (sel.api_version, sel.kind, sel.match_name) == ("v1", "Namespace", "crossplane-system")
    assert set(rsp.requirements.resources) == {
        master_secret.NAMESPACE_REQUIREMENT,
        postgresql.SCHEDULED_BACKUPS_REQUIREMENT,
    }
    assert not rsp.desired.resources and not rsp.results and not rsp.conditions
    # An existing claim keeps what exists, unchanged, password never echoed.
    first = render_local(xr, required=with_namespace())
    observed = [filled(o) for o in applied_core_objects(first)]
    rsp = render_local(xr, observed=observed, required=with_namespace())
    body = desired(rsp)[master_secret.KEY]
    assert master_secret.PASSWORD_KEY not in body["data"]
    assert body["metadata"]["ownerReferences"] == observed[0]["metadata"]["ownerReferences"]


def test_orphan_makes_the_namespace_an_owner_and_delete_does_not():
    out = desired(render_local(xr_policy("Orphan"), required=with_namespace()))
    (ref,) = out[master_secret.KEY]["metadata"]["ownerReferences"]
    assert ref == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "name": "crossplane-system",
        "uid": NAMESPACE["metadata"]["uid"],
    }  # no controller flag: Crossplane adds the XR as controller
    for policy in ("Delete", "SnapshotAndDelete"):
        rsp = render_local(xr_policy(policy), required=with_namespace())
        assert master_secret.NAMESPACE_REQUIREMENT not in rsp.requirements.resources
        assert "ownerReferences" not in desired(rsp)[master_secret.KEY]["metadata"]


def test_orphan_with_a_missing_namespace_is_a_fatal_naming_the_setting():
    rsp = render_local(xr_policy("Orphan"), required={master_secret.NAMESPACE_REQUIREMENT: []})
    (msg,) = fatal_messages(rsp)
    assert "internalSecretNamespace" in msg and "crossplane-system" in msg
    assert not rsp.desired.resources


@pytest.mark.parametrize("environment", ["resolved", None], ids=["render", "keep-desired"])
def test_the_password_of_an_observed_secret_never_reaches_the_answer(environment):
    """Neither a normal answer nor one that keeps what exists (``fn._as_desired``, while the
    EnvironmentConfig is not resolved) carries the password, in any form: it would be in the
    answer cache too."""
    first = render_local(XR)
    observed = [filled(o) for o in applied_core_objects(first)]
    kwargs = {} if environment == "resolved" else {"environment": None}
    rsp = render_local(XR, observed=observed, **kwargs)
    text = str(rsp)
    assert not [f for f in _forms(PASSWORD) if f in text]
    body = desired(rsp)[master_secret.KEY]
    assert set(body["data"]) == {"username", "dbname"}
    if environment is None:
        assert body["data"] == {k: observed[0]["data"][k] for k in ("username", "dbname")}


def test_as_desired_echoes_only_the_composed_keys_of_a_secret():
    observed = filled(desired(render_local(XR))[master_secret.KEY])
    observed["stringData"] = {"token": "x"}
    echoed = fn._as_desired(observed)
    assert set(echoed["data"]) == {"username", "dbname"} and "stringData" not in echoed
    other = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"password": "y"}}
    assert fn._as_desired(other)["data"] == {"password": "y"}


# --- the provider's PasswordGenerator and Kubernetes' garbage collector (the twin) ---------


def _pg_example() -> dict:
    return copy.deepcopy(next(x for x in example_xrs() if x["kind"] == "XPostgresqlInstance"))


def _plane(policy: str, call=fn.run) -> tuple[ControlPlane, tuple]:
    xr = _pg_example()
    xr["spec"].setdefault("config", {})["deletionPolicy"] = policy
    cp = ControlPlane(call=call)
    return cp, cp.create(xr)


def _instance_password(cp: ControlPlane, key) -> str:
    body = cp.cluster.get(cp.composed[key]["instance"])
    return cp.cluster.connection_details(body)["password"].decode()


def _secret_password(body: dict) -> str:
    return base64.b64decode(body["data"]["password"]).decode()


def test_the_model_fills_an_existing_secret_without_owning_it_and_owns_one_it_creates():
    """providers.password_generator, case by case as common.go has them."""
    cp = ControlPlane(call=fn.run)
    mr = {
        "apiVersion": "rds.aws.upbound.io/v1beta3",
        "kind": "Instance",
        "metadata": {"name": "db", "uid": "mr-uid"},
        "spec": {
            "forProvider": {
                "autoGeneratePassword": True,
                "passwordSecretRef": {"name": "s", "namespace": "ns", "key": "password"},
            }
        },
    }
    key = providers.secret_key("ns", "s")
    providers.password_generator(mr, cp.cluster)  # not found: created, the MR its owner
    made = cp.cluster.get(key)
    assert made["metadata"]["ownerReferences"] == [
        {"apiVersion": mr["apiVersion"], "kind": "Instance", "name": "db", "uid": "mr-uid"}
    ]
    pw = made["data"]["password"]
    providers.password_generator(mr, cp.cluster)  # set: untouched
    assert cp.cluster.get(key)["data"]["password"] == pw
    cp.cluster.put(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t", "namespace": "ns"}}
    )
    mr["spec"]["forProvider"]["passwordSecretRef"]["name"] = "t"
    providers.password_generator(mr, cp.cluster)  # exists without the key: filled, not owned
    theirs = cp.cluster.get(providers.secret_key("ns", "t"))
    assert theirs["data"]["password"] and "ownerReferences" not in theirs["metadata"]
    mr["spec"]["forProvider"]["autoGeneratePassword"] = False
    mr["spec"]["forProvider"]["passwordSecretRef"]["name"] = "u"
    providers.password_generator(mr, cp.cluster)  # toggle off: nothing
    assert cp.cluster.get(providers.secret_key("ns", "u")) is None


def test_the_garbage_collector_deletes_a_dependent_only_once_every_owner_is_gone():
    cp = ControlPlane(call=fn.run)
    c = cp.cluster
    owner = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "o", "namespace": "a"}}
    c.put(owner)
    ns_uid = c.get(("v1", "Namespace", "", "crossplane-system"))["metadata"]["uid"]

    def dependent(name: str, namespace: str, *refs: dict) -> tuple:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": list(refs)},
        }
        c.put(body)
        return ("v1", "Secret", namespace, name)

    gone = {"apiVersion": "x/v1", "kind": "X", "name": "gone", "uid": "gone-uid"}
    ns = {"apiVersion": "v1", "kind": "Namespace", "name": "crossplane-system", "uid": ns_uid}
    same = {"apiVersion": "v1", "kind": "Secret", "name": "o", "uid": owner["metadata"]["uid"]}
    kept = dependent("kept", "a", gone, ns)
    collected = dependent("collected", "a", gone)
    same_ns = dependent("same-ns", "a", gone, same)
    other_ns = dependent("other-ns", "b", gone, same)  # a namespaced owner elsewhere: absent
    c.collect_garbage()
    assert c.get(kept)["metadata"]["ownerReferences"] == [ns]  # the dangling one removed
    assert c.get(collected) is None and c.get(other_ns) is None
    assert c.get(same_ns) is not None


def test_the_secret_exists_before_the_instance_so_the_provider_never_owns_it():
    cp, key = _plane("SnapshotAndDelete")
    cp.reconcile(key)
    assert master_secret.KEY in cp.composed[key] and "instance" not in cp.composed[key]
    cp.until_stable()
    body = cp.cluster.get(cp.composed[key][master_secret.KEY])
    assert [(r["kind"], r.get("controller")) for r in body["metadata"]["ownerReferences"]] == [
        ("XPostgresqlInstance", True)
    ]
    # The database's password is the one in the Secret (provider-sql logs in with it).
    assert _secret_password(body) == _instance_password(cp, key)


@pytest.mark.parametrize("policy", ["Orphan", "Delete", "SnapshotAndDelete"])
def test_deleting_the_claim_keeps_the_password_exactly_with_the_database(policy):
    cp, key = _plane(policy)
    cp.until_stable()
    secret_key = cp.composed[key][master_secret.KEY]
    password = _instance_password(cp, key)
    cp.delete(key)
    kept_db = any(e.kind == "Instance" for e in cp.providers.external.values())
    assert kept_db is (policy == "Orphan")
    kept = cp.cluster.get(secret_key)
    assert (kept is not None) is kept_db
    if kept is not None:
        assert _secret_password(kept) == password
        assert [r["kind"] for r in kept["metadata"]["ownerReferences"]] == ["Namespace"]
        cp.delete_namespace(secret_key[2])  # removed with its namespace
        assert cp.cluster.get(secret_key) is None


def test_switching_the_policy_adds_and_removes_the_namespace_owner():
    cp, key = _plane("Orphan")
    cp.until_stable()
    secret_key = cp.composed[key][master_secret.KEY]

    def owner_kinds() -> list[str]:
        return sorted(r["kind"] for r in cp.cluster.get(secret_key)["metadata"]["ownerReferences"])

    assert owner_kinds() == ["Namespace", "XPostgresqlInstance"]
    xr = cp.xr(key)
    xr["spec"]["config"]["deletionPolicy"] = "Delete"
    cp.cluster.put(xr)
    cp.until_stable()
    assert owner_kinds() == ["XPostgresqlInstance"]
    cp.delete(key)
    assert cp.cluster.get(secret_key) is None


def _previous_version(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    """The function before the master Secret: everything it renders today but the Secret, with
    the Instance at once (as if the Secret were observed), and the provider creating the
    Secret itself."""
    req = copy.deepcopy(req)
    if master_secret.KEY not in req.observed.resources:
        req.observed.resources[master_secret.KEY].resource.update(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "placeholder"}}
        )
    rsp = fn.run(req)
    if master_secret.KEY in rsp.desired.resources:  # not in an answer of requirements only
        del rsp.desired.resources[master_secret.KEY]
    return rsp


@pytest.mark.parametrize("policy", ["Orphan", "Delete"])
def test_an_install_from_before_keeps_its_password_and_its_secret_is_then_kept_as_new(policy):
    cp, key = _plane(policy, call=_previous_version)
    cp.until_stable()
    instance = cp.composed[key]["instance"]
    password = _instance_password(cp, key)
    ref = cp.cluster.get(instance)["spec"]["forProvider"]["passwordSecretRef"]
    secret_key = providers.secret_key(ref["namespace"], ref["name"])
    before = cp.cluster.get(secret_key)
    assert [r["kind"] for r in before["metadata"]["ownerReferences"]] == ["Instance"]

    cp.call = fn.run  # the upgrade
    cp.until_stable()
    assert cp.composed[key][master_secret.KEY] == secret_key  # the same Secret, now composed
    after = cp.cluster.get(secret_key)
    assert _secret_password(after) == password  # never regenerated
    owners = sorted(
        (r["kind"], bool(r.get("controller"))) for r in after["metadata"]["ownerReferences"]
    )
    expected = [("Instance", False), ("XPostgresqlInstance", True)]
    if policy == "Orphan":
        expected.insert(1, ("Namespace", False))
    assert owners == expected
    cp.delete(key)
    kept = cp.cluster.get(secret_key)
    assert (kept is not None) is (policy == "Orphan")
    if kept is not None:
        assert _secret_password(kept) == password
