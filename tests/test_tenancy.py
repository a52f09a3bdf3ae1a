"""Tenancy: no claim reaches what another namespace or the operator owns (DESIGN §5, issue 14).

Names: 64-bit uid hashes in every cluster- or account-wide name, within every length limit;
claims created before keep their 32-bit names (``names.created_with_legacy_names``). KMS
aliases: derived from the claim's identity. Tags: the operator's default tags and the
ownership tags always win, and a claim that tries to set one is refused. Validation: a
trailing newline is never accepted. Two or more namespaces throughout.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from function import claims, environment, names, restore
from function.core import ObservedResource, Request, short_hash
from function.settings import Settings
from tests.support import environment as env
from tests.support.claims import postgresql_xr
from tests.support.examples import example_xrs, fn_input, required_candidates
from tests.support.examples import render_created as render
from tests.support.responses import desired, fatal_messages, render_created, status
from tests.support.schemas import require_schemas, schema_for
from tools.xrender import select

NAME_ANNOTATION = "crossplane.io/composition-resource-name"
EXTERNAL_NAME = "crossplane.io/external-name"
KINDS = [k.xr_kind for k in claims.CLAIM_KINDS]
CLAIM_KIND = {k.xr_kind: k for k in claims.CLAIM_KINDS}


def in_namespace(xr: dict, namespace: str, uid: str) -> dict:
    """``xr`` as the XR of a claim of the same name in ``namespace`` (its own uid)."""
    out = copy.deepcopy(xr)
    meta = out["metadata"]
    meta["uid"] = uid
    meta.setdefault("labels", {})["crossplane.io/claim-namespace"] = namespace
    return out


def uid_of(*parts: str) -> str:
    h = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def as_observed(resources: dict[str, dict]) -> list[dict]:
    """Desired composed resources as Crossplane observes them once created."""
    out = []
    for name, body in resources.items():
        doc = copy.deepcopy(body)
        doc.setdefault("metadata", {}).setdefault("annotations", {})[NAME_ANNOTATION] = name
        out.append(doc)
    return out


def name_strings(resources: dict[str, dict]) -> set[str]:
    """Every string of the desired resources that holds a generated name."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key in NAME_KEYS:
            found.add(value)

    walk(resources)
    return found


NAME_KEYS = {
    EXTERNAL_NAME,
    "name",
    "identifier",
    "finalSnapshotIdentifier",
    "parameterGroupName",
    "bucket",
    "role",
    "dbInstanceIdentifier",
    "ruleName",
}


def rendered(kind: str, xr: dict, observed: list[dict] | None = None) -> dict[str, dict]:
    rsp = render(kind, xr, observed)
    assert not fatal_messages(rsp), fatal_messages(rsp)
    return desired(rsp)


def cases() -> list[tuple[str, int, dict]]:
    return [(kind, i, xr) for kind in KINDS for i, xr in enumerate(example_xrs(kind))]


CASES = cases()
CASE_IDS = [f"{kind}-{i}" for kind, i, _ in CASES]


# ------------------------------------------------------------------ names: 64 bits, kept


@pytest.mark.parametrize(("kind", "index", "xr"), CASES, ids=CASE_IDS)
def test_a_new_claim_gets_64_bit_names_everywhere(kind, index, xr):
    out = rendered(kind, xr)
    if not out:
        pytest.skip("renders nothing without the resources it requires")
    uid = xr["metadata"]["uid"]
    long_hash, short = short_hash(uid, names.HASH_HEX), short_hash(uid, 8)
    text = json.dumps(out)
    assert long_hash in text
    # A 32-bit hash never stands alone: wherever the uid's hash appears, it has 64 bits.
    assert not re.search(rf"(?<![0-9a-f]){short}(?![0-9a-f])", text)


def legacy_marker(uid: str) -> dict:
    """An observed composed resource with a version-1 name (a 32-bit hash): the XR was created
    before the 64-bit names. No renderer reads this key."""
    return {
        "apiVersion": "s3.aws.upbound.io/v1beta2",
        "kind": "Bucket",
        "metadata": {
            "annotations": {
                NAME_ANNOTATION: "created-before",
                EXTERNAL_NAME: f"klutch-old-{short_hash(uid, names.LEGACY_HASH_HEX)}",
            }
        },
    }


@pytest.mark.parametrize(("kind", "index", "xr"), CASES, ids=CASE_IDS)
def test_an_existing_claim_keeps_every_name(kind, index, xr):
    """A claim created before the 64-bit names: its composed resources carry 32-bit names,
    and every name (and so every resource) stays exactly as it was."""
    uid = xr["metadata"]["uid"]
    before = rendered(kind, xr, [legacy_marker(uid)])  # what the function rendered before
    if not before:
        pytest.skip("renders nothing without the resources it requires")
    assert re.search(rf"[-_]{short_hash(uid, 8)}(?![0-9a-f])", json.dumps(before))
    after = rendered(kind, xr, as_observed(before))
    assert name_strings(after) == name_strings(before)
    assert after == before
    # ... and a claim observed with 64-bit names keeps those.
    new = rendered(kind, xr)
    assert rendered(kind, xr, as_observed(new)) == new


def test_version_1_names_are_the_names_of_before():
    """Anchors: what the function rendered before the 64-bit names, for one bucket."""
    xr = with_alias(BUCKET_XR, None, "team-a", uid_of("a"))
    out = desired(render_created(xr, observed=[legacy_marker(uid_of("a"))]))
    old = f"klutch-photos-{short_hash(uid_of('a'), 8)}"
    assert out["bucket"]["metadata"]["annotations"][EXTERNAL_NAME] == old
    assert out["kms-alias"]["metadata"]["annotations"][EXTERNAL_NAME] == f"alias/{old}"


def test_the_legacy_rule_reads_the_observed_names_only():
    xr = in_namespace(example_xrs("XObjectStorageInstance")[0], "team-a", uid_of("a"))
    old = f"klutch-photos-{short_hash(uid_of('a'), 8)}"
    new = f"klutch-photos-{short_hash(uid_of('a'), 16)}"

    def req(external: str | None) -> Request:
        observed = {}
        if external:
            body = {"metadata": {"annotations": {EXTERNAL_NAME: external}}}
            observed["bucket"] = ObservedResource(body)
        return Request(xr=xr, settings=Settings(), observed=observed)

    assert names.created_with_legacy_names(req(old))
    assert not names.created_with_legacy_names(req(new))
    assert not names.created_with_legacy_names(req(None))
    assert names.identity(req(old)).hash_len == names.LEGACY_HASH_HEX
    assert names.identity(req(new)).hash_len == names.HASH_HEX


def render_in(kind: str, xr: dict, namespace: str, uid: str, **kw: Any) -> dict[str, dict]:
    """Render ``xr`` as a claim of ``namespace``, with the claims it references (the
    examples' required resources) moved to that namespace too."""
    xr = in_namespace(xr, namespace, uid)
    candidates = copy.deepcopy(required_candidates(kind))
    for doc in candidates:
        labels = doc.get("metadata", {}).get("labels") or {}
        if "crossplane.io/claim-namespace" in labels:
            labels["crossplane.io/claim-namespace"] = namespace
    # The claim's Namespace exists (a claim lives in it; a Retain Backup owns its snapshot
    # record with it, function/snapshot_records.py).
    candidates.append(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "uid": f"ns-{namespace}"},
        }
    )
    required: dict[str, list[dict]] = {}
    rsp = render_created(xr, fn_input(kind), None, required, **kw)
    for _ in range(5):
        wanted = {n: select(sel, candidates) for n, sel in rsp.requirements.resources.items()}
        if "environment" in kw:  # the given EnvironmentConfig, not the examples'
            wanted[environment.REQUIREMENT] = list(kw["environment"])
        if wanted == required:
            break
        required = wanted
        rsp = render_created(xr, fn_input(kind), None, required, **kw)
    assert not fatal_messages(rsp), fatal_messages(rsp)
    return desired(rsp)


@pytest.mark.parametrize(("kind", "index", "xr"), CASES, ids=CASE_IDS)
def test_same_claim_name_in_two_namespaces_gets_different_names_everywhere(kind, index, xr):
    a = render_in(kind, xr, "team-a", uid_of(kind, "a"))
    b = render_in(kind, xr, "team-b", uid_of(kind, "b"))
    assert a and b
    shared = {"klutch_app_owner"}  # the per-instance group role: one per database, by design
    ours_a = {n for n in name_strings(a) if uid_hash(kind, "a") in n}
    ours_b = {n for n in name_strings(b) if uid_hash(kind, "b") in n}
    assert ours_a and ours_b
    assert not (ours_a & ours_b)
    # Every generated name of one claim is absent from the other's resources.
    assert not ((ours_a - shared) & name_strings(b))


def uid_hash(kind: str, tenant: str) -> str:
    return short_hash(uid_of(kind, tenant), names.HASH_HEX)


# ------------------------------------------------------------------ names: valid for AWS

PREFIX = st.from_regex(r"[a-z][a-z0-9-]{0,14}[a-z0-9]", fullmatch=True).filter(
    lambda p: p not in {"aws", "sthree"} and not p.startswith("amzn-s3-demo")
)
NAMESPACE = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
CLAIM = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True)
USER_ALIAS = st.from_regex(r"[A-Za-z0-9/_-]{1,250}", fullmatch=True).filter(
    lambda a: not a.startswith("aws/")
)
IDENTITY = st.builds(
    names.Identity,
    prefix=PREFIX,
    namespace=NAMESPACE,
    claim=CLAIM,
    uid=st.uuids().map(str),
    hash_len=st.sampled_from([names.HASH_HEX, names.LEGACY_HASH_HEX]),
)

DNS_LABELS = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
RDS_ID = re.compile(r"[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)")
K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


@settings(max_examples=300, deadline=None)
@given(who=IDENTITY, alias=st.none() | USER_ALIAS)
def test_every_name_meets_its_limit_and_keeps_the_whole_hash(who, alias):
    h = who.hash
    assert len(h) == who.hash_len

    bucket = names.bucket_name(who)
    assert 3 <= len(bucket) <= names.BUCKET_MAX and DNS_LABELS.fullmatch(bucket), bucket
    assert "--" not in bucket and bucket.endswith(h)

    for ident in (
        names.rds_identifier(who),
        names.rds_parameter_group_name(who),
        names.final_snapshot_identifier(who),
        *(names.rds_replica_identifier(names.rds_identifier(who), i) for i in (1, 15)),
    ):
        assert RDS_ID.fullmatch(ident) and len(ident) <= names.RDS_IDENTIFIER_MAX, ident
        assert h in ident
    snapshot = names.snapshot_identifier(who)
    assert re.fullmatch(r"[a-z][a-z0-9-]*(?<!-)", snapshot)
    assert len(snapshot) <= names.SNAPSHOT_IDENTIFIER_MAX and "--" not in snapshot

    user = names.iam_user_name(who)
    assert len(user) <= names.IAM_USER_MAX and re.fullmatch(r"[\w+=,.@-]+", user)
    assert user.endswith(h)

    backup = names.backup_name(who)
    assert 2 <= len(backup) <= names.BACKUP_NAME_MAX and re.fullmatch(r"[A-Za-z0-9_-]+", backup)
    assert backup.endswith(h)

    role = names.pg_role_name(who)
    assert re.fullmatch(r"[a-z][a-z0-9_]{0,62}", role) and not role.startswith(("pg_", "rds"))
    assert role.endswith(h)

    for k8s in (
        names.internal_secret_name("postgresql-connection", who),
        names.sql_provider_config_name(who),
    ):
        assert K8S_NAME.fullmatch(k8s) and len(k8s) <= names.K8S_NAME_MAX and k8s.endswith(h)

    kms_alias = names.managed_kms_alias(who, alias)
    assert re.fullmatch(r"alias/[A-Za-z0-9/_-]+", kms_alias) and len(kms_alias) <= 256
    assert not kms_alias.startswith("alias/aws/")
    if not who.legacy:
        assert kms_alias.startswith(f"alias/{who.prefix}/{who.namespace}/")
        assert kms_alias.endswith(f"-{h}")
        if alias:  # the user's alias stays readable: as much of it as fits
            own = kms_alias.removeprefix(f"alias/{who.prefix}/{who.namespace}/")[: -len(h) - 1]
            assert own and (own in alias or not alias.strip("/-"))

    assert names.bucket_name(who) == bucket  # deterministic


@pytest.mark.parametrize("prefix", ["aws", "sthree", "amzn-s3-demo-x"])
def test_a_naming_prefix_aws_reserves_is_refused(prefix):
    xr = example_xrs("XObjectStorageInstance")[0]
    (msg,) = fatal_messages(render_created(xr, {"namingPrefix": prefix}))
    assert "namingPrefix" in msg and "reserved by AWS" in msg


# ------------------------------------------------------------------ KMS alias takeover

BUCKET_XR = {
    "apiVersion": "anynines.com/v1",
    "kind": "XObjectStorageInstance",
    "metadata": {
        "name": "photos-x7k2p",
        "uid": uid_of("photos", "team-a"),
        "labels": {
            "crossplane.io/claim-name": "photos",
            "crossplane.io/claim-namespace": "team-a",
        },
    },
    "spec": {"service": "aws-s3", "plan": "standard", "region": "eu-central-1"},
}
PG_XR = postgresql_xr(uid=uid_of("pg-db", "team-a"))


def with_alias(xr: dict, alias: str | None, namespace: str, uid: str) -> dict:
    out = in_namespace(xr, namespace, uid)
    managed = {"alias": alias} if alias else {}
    if out["kind"] == "XObjectStorageInstance":
        out["spec"]["parameters"] = {"encryption": {"type": "kms", "key": {"managed": managed}}}
    else:
        out["spec"]["config"] = {"encryption": {"key": {"managed": managed}}}
    return out


def alias_of(xr: dict) -> str:
    rsp = render_created(xr)
    assert not fatal_messages(rsp), fatal_messages(rsp)
    return desired(rsp)["kms-alias"]["metadata"]["annotations"][EXTERNAL_NAME]


@pytest.mark.parametrize("xr", [BUCKET_XR, PG_XR], ids=["bucket", "postgresql"])
def test_the_same_alias_in_two_namespaces_gives_two_aliases(xr):
    a = alias_of(with_alias(xr, "shared-key", "team-a", uid_of("a")))
    b = alias_of(with_alias(xr, "shared-key", "team-b", uid_of("b")))
    assert a != b
    assert "/team-a/shared-key-" in a and "/team-b/shared-key-" in b
    # Two claims of one namespace asking for one alias do not share it either.
    assert a != alias_of(with_alias(xr, "shared-key", "team-a", uid_of("a2")))


@pytest.mark.parametrize("xr", [BUCKET_XR, PG_XR], ids=["bucket", "postgresql"])
def test_an_alias_naming_another_tenants_or_the_operators_alias_is_not_that_alias(xr):
    victim = alias_of(with_alias(xr, "orders", "team-b", uid_of("b")))
    for attempt in (
        victim.removeprefix("alias/"),  # the other tenant's full derived alias
        victim.removeprefix("alias/").replace("team-b", "team-a"),
        "platform-key",  # the operator's alias/platform-key
        "klutch/team-b/orders",
    ):
        got = alias_of(with_alias(xr, attempt, "team-a", uid_of("a")))
        assert got not in {victim, f"alias/{attempt}"}
        assert got.startswith("alias/klutch/team-a/")
        assert got.endswith(short_hash(uid_of("a"), names.HASH_HEX))


@pytest.mark.parametrize("alias", ["aws/ebs", "alias/x", "a b", "key\n"])
def test_an_alias_aws_reserves_or_out_of_charset_is_refused(alias):
    (msg,) = fatal_messages(render_created(with_alias(BUCKET_XR, alias, "team-a", uid_of("a"))))
    assert msg.startswith("spec.parameters.encryption.key.managed.alias")


def test_an_existing_claim_keeps_its_alias_as_it_was_created():
    """A claim created with the alias as given (version 1) keeps it: no new alias, no warning."""
    xr = with_alias(BUCKET_XR, "photos-key", "team-a", uid_of("a"))
    legacy_bucket = f"klutch-photos-{short_hash(uid_of('a'), 8)}"
    observed = [
        {
            "apiVersion": "s3.aws.upbound.io/v1beta2",
            "kind": "Bucket",
            "metadata": {"annotations": {NAME_ANNOTATION: "bucket", EXTERNAL_NAME: legacy_bucket}},
        },
        {
            "apiVersion": "kms.aws.upbound.io/v1beta1",
            "kind": "Alias",
            "metadata": {  # the provider strips alias/ once the alias exists
                "annotations": {NAME_ANNOTATION: "kms-alias", EXTERNAL_NAME: "photos-key"}
            },
        },
        {
            "apiVersion": "s3.aws.upbound.io/v1beta2",
            "kind": "BucketServerSideEncryptionConfiguration",
            "metadata": {"annotations": {NAME_ANNOTATION: "encryption"}},
            "spec": {
                "forProvider": {
                    "rule": [
                        {
                            "applyServerSideEncryptionByDefault": {
                                "sseAlgorithm": "aws:kms",
                                "kmsMasterKeyIdSelector": {"matchControllerRef": True},
                            }
                        }
                    ]
                }
            },
        },
    ]
    rsp = render_created(xr, observed=observed)
    assert not fatal_messages(rsp) and not [r for r in rsp.results if r.severity == 2]
    out = desired(rsp)
    assert out["kms-alias"]["metadata"]["annotations"][EXTERNAL_NAME] == "photos-key"
    assert status(rsp)["bucketName"] == legacy_bucket


def test_a_new_claims_alias_survives_the_immutable_encryption_guard():
    """The user's alias is read back from what was created: no spurious 'immutable' warning,
    even when it is long enough to be shortened or equals the claim's name."""
    for alias in ("photos", "k" * 250, "a/b/c"):
        xr = with_alias(BUCKET_XR, alias, "team-a", uid_of("a"))
        first = desired(render_created(xr))
        rsp = render_created(xr, observed=as_observed(first))
        assert not list(rsp.results), [r.message for r in rsp.results]
        assert desired(rsp) == first


# ------------------------------------------------------------------ tags: ownership wins


def taggable(body: dict) -> bool:
    """The upstream CRD of the resource's kind has ``spec.forProvider.tags`` (a Kubernetes
    core object, such as the master Secret, is no AWS resource: it has no tags)."""
    if body["apiVersion"] == "v1":
        return False
    schema = schema_for(body["apiVersion"], body["kind"])
    fp = schema["properties"]["spec"]["properties"].get("forProvider", {})
    return "tags" in (fp.get("properties") or {})


@pytest.mark.parametrize(("kind", "index", "xr"), CASES, ids=CASE_IDS)
def test_every_taggable_resource_carries_the_ownership_tags(kind, index, xr):
    require_schemas()
    xr = in_namespace(xr, "team-a", uid_of(kind, "a"))
    out = rendered(kind, xr)
    owner = claims.ownership_tags(
        CLAIM_KIND[kind],
        "team-a",
        xr["metadata"]["labels"].get("crossplane.io/claim-name", xr["metadata"]["name"]),
    )
    tagged = [n for n, body in out.items() if taggable(body)]
    assert tagged or not out
    for name in tagged:
        tags = out[name]["spec"]["forProvider"]["tags"]
        assert owner.items() <= tags.items(), name
        assert tags["managed-by"] == "klutch", name
    fps = [(b.get("spec") or {}).get("forProvider", {}) for b in out.values()]
    for rule in (r for fp in fps for r in fp.get("rule", [])):
        if "recoveryPointTags" in rule:  # AWS Backup's recovery points are tagged too
            assert owner.items() <= rule["recoveryPointTags"].items()


def tags_xr(xr: dict, tags: dict[str, str]) -> dict:
    out = in_namespace(xr, "team-a", uid_of("a"))
    if out["kind"] == "XObjectStorageInstance":
        out["spec"]["parameters"] = {"tags": tags}
    else:
        out["spec"]["config"] = {"tags": tags}
    return out


TAG_FIELD = {
    "XObjectStorageInstance": "spec.parameters.tags",
    "XPostgresqlInstance": "spec.config.tags",
}


@pytest.mark.parametrize("xr", [BUCKET_XR, PG_XR], ids=["bucket", "postgresql"])
@pytest.mark.parametrize(
    "key",
    [
        "managed-by",  # an operator default
        "cost-center",  # an operator default of this platform (fn input below)
        "crossplane-kind",  # what the provider sets
        "crossplane-providerconfig",
        claims.NAMESPACE_TAG,  # an ownership tag: not even a valid claim key
        claims.CLAIM_NAME_TAG,
        "aws:createdBy",
    ],
)
def test_tag_spoofing_is_refused_naming_the_field(xr, key):
    fn_input = {"defaultTags": {"managed-by": "klutch", "cost-center": "platform"}}
    rsp = render_created(tags_xr(xr, {"app": "a", key: "team-b"}), fn_input)
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(TAG_FIELD[xr["kind"]]), msg
    assert not rsp.desired.resources


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("plain", True),
        ("with spaces and _ . : / = + - @", True),
        ("Ünïcödé 日本語 ٣", True),
        ("", True),
        ("v" * 256, True),
        ("v" * 257, False),
        ("semi;colon", False),
        ("tab\there", False),
        ("trailing\n", False),
        ("100%", False),
    ],
)
def test_tag_values_stay_within_the_aws_character_set(value, ok):
    rsp = render_created(tags_xr(BUCKET_XR, {"team": value}))
    fatal = fatal_messages(rsp)
    assert (not fatal) is ok, fatal
    if not ok:
        assert fatal[0].startswith("spec.parameters.tags.team")


def test_ownership_tags_name_each_tenant():
    a = desired(render_created(tags_xr(BUCKET_XR, {})))
    b_xr = in_namespace(BUCKET_XR, "team-b", uid_of("b"))
    b = desired(render_created(b_xr))
    ta, tb = (x["bucket"]["spec"]["forProvider"]["tags"] for x in (a, b))
    assert ta[claims.NAMESPACE_TAG] == "team-a" and tb[claims.NAMESPACE_TAG] == "team-b"
    assert ta[claims.CLAIM_KIND_TAG] == "ObjectStorageInstance"
    assert ta[claims.CLAIM_NAME_TAG] == tb[claims.CLAIM_NAME_TAG] == "photos"


# ------------------------------------------------------------------ full-string validation

BINDING_XR = {
    "apiVersion": "rds.aws.anynines.com/v1",
    "kind": "XServiceBinding",
    "metadata": {
        "name": "pg-binding-x",
        "uid": uid_of("pg-binding"),
        "labels": {
            "crossplane.io/claim-name": "pg-binding",
            "crossplane.io/claim-namespace": "team-a",
        },
    },
    "spec": {"instanceRef": "pg-db"},
}
KEY_ARN = "arn:aws:kms:eu-central-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def edited(xr: dict, path: str, value: Any) -> dict:
    out = copy.deepcopy(xr)
    *parents, last = path.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return out


@pytest.mark.parametrize(
    ("xr", "path", "value"),
    [
        (BUCKET_XR, "spec.region", "eu-central-1\n"),
        (BUCKET_XR, "spec.plan", "standard\n"),
        (BUCKET_XR, "spec.parameters.tags", {"team\n": "a"}),
        (BUCKET_XR, "spec.parameters.tags", {"team": "a\n"}),
        (
            BUCKET_XR,
            "spec.parameters.encryption",
            {"type": "kms", "key": {"managed": {"alias": "photos\n"}}},
        ),
        (
            BUCKET_XR,
            "spec.parameters.encryption",
            {"type": "kms", "key": {"existing": {"id": KEY_ARN + "\n"}}},
        ),
        (PG_XR, "spec.serviceVersion", "16\n"),
        (PG_XR, "spec.config", {"database": {"name": "app\n"}}),
        (PG_XR, "spec.config", {"maintenanceWindow": "sun:04:00-sun:05:00\n"}),
        (PG_XR, "spec.config", {"backup": {"window": "01:00-02:00\n"}}),
        (PG_XR, "spec.config", {"region": "eu-west-1\n"}),
        (BINDING_XR, "spec.instanceRef", "pg-db\n"),
    ],
)
def test_a_trailing_newline_is_refused_naming_the_field(xr, path, value):
    rsp = render_created(edited(xr, path, value))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(path), msg
    assert not rsp.desired.resources


def test_pydantic_patterns_never_accept_a_trailing_newline():
    """pydantic-core matches ``pattern=`` with Rust's regex, where ``$`` is the end of the text
    (Python's ``re`` would let ``$`` match before a final newline)."""
    for annotated in (claims.ClaimName, claims.TagKey, claims.TagValue):
        adapter = TypeAdapter(annotated)
        adapter.validate_python("ok")
        with pytest.raises(ValueError):
            adapter.validate_python("ok\n")


# ------------------------------------------------------------------ existing KMS keys

ALLOWED_ACCOUNT = "000000000000"
PATTERN = f"arn:aws:kms:eu-central-1:{ALLOWED_ACCOUNT}:key/1234abcd-*"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ID = "9999abcd-12ab-34cd-56ef-1234567890ab"
EXISTING_KEY_FIELD = {
    "XObjectStorageInstance": "spec.parameters.encryption.key.existing.id",
    "XPostgresqlInstance": "spec.config.encryption.key.existing.id",
}


def key_arn(region: str = "eu-central-1", account: str = ALLOWED_ACCOUNT, key: str = KEY_ID):
    return f"arn:aws:kms:{region}:{account}:key/{key}"


def with_existing_key(xr: dict, arn: str) -> dict:
    out = copy.deepcopy(xr)
    key = {"key": {"existing": {"id": arn}}}
    if out["kind"] == "XObjectStorageInstance":
        out["spec"]["parameters"] = {"encryption": {"type": "kms", **key}}
    else:
        out["spec"]["config"] = {"region": "eu-central-1", "encryption": key}
    return out


def kms_environment(accounts: list[str], patterns: list[str]) -> list[dict]:
    kms = {"allowedAccounts": accounts, "allowedKeyArnPatterns": patterns}
    return [env.with_data(kms=kms)]


@pytest.mark.parametrize("xr", [BUCKET_XR, PG_XR], ids=["bucket", "postgresql"])
@pytest.mark.parametrize(
    ("arn", "why"),
    [
        (key_arn(account="111111111111"), "account is not one"),
        (key_arn(region="eu-west-1"), "in region 'eu-west-1'"),
        (key_arn(key=OTHER_KEY_ID), "matches none of the key ARN patterns"),
    ],
    ids=["other-account", "other-region", "outside-patterns"],
)
def test_an_existing_key_the_platform_does_not_allow_is_refused(xr, arn, why):
    rsp = render_created(
        with_existing_key(xr, arn), environment=kms_environment([ALLOWED_ACCOUNT], [PATTERN])
    )
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(EXISTING_KEY_FIELD[xr["kind"]]), msg
    assert why in msg, msg
    assert not rsp.desired.resources
    # Issue 27 item 12: the operator's accounts are never shown to a tenant.
    assert ALLOWED_ACCOUNT not in msg.replace(arn, ""), msg


@pytest.mark.parametrize("xr", [BUCKET_XR, PG_XR], ids=["bucket", "postgresql"])
def test_no_existing_key_is_allowed_without_allowed_accounts(xr):
    rsp = render_created(with_existing_key(xr, key_arn()), environment=kms_environment([], []))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(EXISTING_KEY_FIELD[xr["kind"]]) and "allows no existing" in msg, msg


@pytest.mark.parametrize("xr", [BUCKET_XR, PG_XR], ids=["bucket", "postgresql"])
@pytest.mark.parametrize("patterns", [[], [PATTERN]], ids=["any-key", "pattern"])
def test_an_allowed_existing_key_renders(xr, patterns):
    arn = key_arn()
    rsp = render_created(
        with_existing_key(xr, arn), environment=kms_environment([ALLOWED_ACCOUNT], patterns)
    )
    assert not fatal_messages(rsp), fatal_messages(rsp)
    assert arn in json.dumps(desired(rsp))


@pytest.mark.parametrize("xr", [BUCKET_XR, PG_XR], ids=["bucket", "postgresql"])
def test_an_existing_claim_whose_key_is_no_longer_allowed_is_fatal_and_keeps_everything(xr):
    arn = key_arn()
    allowed = kms_environment([ALLOWED_ACCOUNT], [])
    first = desired(render_created(with_existing_key(xr, arn), environment=allowed))
    withdrawn = kms_environment(["111111111111"], [])
    claim = with_existing_key(xr, arn)
    rsp = render_created(claim, environment=withdrawn, observed=as_observed(first))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(EXISTING_KEY_FIELD[xr["kind"]]), msg


# ------------------------------------------------------------------ per-namespace ProviderConfigs

TEMPLATE = "aws-{namespace}"
PER_NAMESPACE = [env.with_data(providerConfigNameTemplate=TEMPLATE)]
OPERATOR_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "operator-guide.md"
TAG_CONDITION = re.compile(r"^(aws:ResourceTag|aws:RequestTag|rds:[a-z-]+-tag)/(?P<key>.+)$")


def aws_managed(body: dict) -> bool:
    return ".aws.upbound.io/" in body["apiVersion"]


@pytest.mark.parametrize(("kind", "index", "xr"), CASES, ids=CASE_IDS)
def test_every_aws_resource_uses_the_namespaces_provider_config(kind, index, xr):
    out = render_in(kind, xr, "team-a", uid_of(kind, "a"), environment=PER_NAMESPACE)
    for body in (b for b in out.values() if aws_managed(b)):
        assert body["spec"]["providerConfigRef"]["name"] == "aws-team-a", body["kind"]


@pytest.mark.parametrize(
    ("restore_spec", "field", "value"),
    [
        (
            {"backup": {"arn": "arn:aws:rds:eu-central-1:000000000000:snapshot:awsbackup:job-1"}},
            "snapshotIdentifier",
            "arn:aws:rds:eu-central-1:000000000000:snapshot:awsbackup:job-1",
        ),
        (
            {"pointInTime": {"sourceIdentifier": "legacy-db", "latest": True}},
            "restoreToPointInTime",
            {"sourceDbInstanceIdentifier": "legacy-db", "useLatestRestorableTime": True},
        ),
    ],
    ids=["snapshot-arn", "db-identifier"],
)
def test_a_raw_restore_source_renders_only_with_per_namespace_provider_configs(
    restore_spec, field, value
):
    xr = copy.deepcopy(PG_XR)
    xr["spec"]["restore"] = restore_spec
    no_claims = {r: [] for r in NAMESPACE_CLAIM_REQUIREMENTS}
    refused = render_created(xr, required=no_claims)
    (msg,) = fatal_messages(refused)
    assert msg.startswith("spec.restore."), msg
    out = desired(render_created(xr, environment=PER_NAMESPACE))
    assert out["instance"]["spec"]["initProvider"][field] == value
    assert all(
        b["spec"]["providerConfigRef"]["name"] == "aws-team-a"
        for b in out.values()
        if aws_managed(b)
    )


NAMESPACE_CLAIM_REQUIREMENTS = (
    restore.BACKUP_REQUIREMENT,
    restore.SOURCE_REQUIREMENT,
    restore.SOURCE_BACKUPS_REQUIREMENT,
)


def policy_tag_conditions() -> dict[str, set[str]]:
    """Tag key -> the values the operator guide's namespace policy requires of it."""
    text = OPERATOR_GUIDE.read_text()
    block = text.split("### The IAM policy of a namespace", 1)[1].split("```json", 1)[1]
    policy = json.loads(block.split("```", 1)[0])
    found: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        for conditions in statement.get("Condition", {}).values():
            for key, wanted in conditions.items():
                m = TAG_CONDITION.match(key)
                if m:
                    values = wanted if isinstance(wanted, list) else [wanted]
                    found.setdefault(m.group("key"), set()).update(values)
    return found


def test_the_namespace_policy_conditions_on_the_ownership_tag():
    assert policy_tag_conditions() == {claims.NAMESPACE_TAG: {"team-a"}}


@pytest.mark.parametrize(("kind", "index", "xr"), CASES, ids=CASE_IDS)
def test_every_taggable_resource_carries_the_tags_the_namespace_policy_relies_on(kind, index, xr):
    require_schemas()
    out = render_in(kind, xr, "team-a", uid_of(kind, "a"), environment=PER_NAMESPACE)
    conditions = policy_tag_conditions()
    for name, body in out.items():
        if not taggable(body):
            continue
        tags = body["spec"]["forProvider"]["tags"]
        for key, values in conditions.items():
            assert tags.get(key) in values, (name, key)
