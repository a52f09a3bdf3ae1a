"""ObjectStorageBinding: what the renderer makes, waiting for the instance, bad input."""

from __future__ import annotations

import copy
import itertools
import json
import typing

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import given, settings
from hypothesis import strategies as st

from function import iam_policy, names
from function.objectstoragebinding import POLICY_LABEL, resource_key
from tests.support.cel import violations
from tests.support.iam import (
    BUCKET,
    BUCKET_ARN,
    KEY_ARN,
    LONGEST,
    binding_xr,
    instance_xr,
    policy_docs,
    render_binding,
)
from tests.support.responses import desired, fatal_messages, render_local, status, warnings
from tests.support.xrds import spec_schema, xrd
from tools import xrender

KIND = "XObjectStorageBinding"
ACCESS_KEY = {
    "apiVersion": "iam.aws.upbound.io/v1beta1",
    "kind": "AccessKey",
    "metadata": {"annotations": {"crossplane.io/composition-resource-name": "access-key"}},
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}
FAKE_ID, FAKE_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


WHO = names.Identity("klutch", "team-a", "photos-app", binding_xr()["metadata"]["uid"])


def observed_key() -> dict:
    doc = copy.deepcopy(ACCESS_KEY)
    doc["metadata"]["annotations"][xrender.CONNECTION_ANNOTATION] = (
        f"username: {FAKE_ID}\npassword: {FAKE_SECRET}\n"
    )
    return doc


def run(xr=None, instances=None, observed=None):
    required = None if instances is None else {"instance": instances}
    return render_local(xr or binding_xr(), observed=observed, required=required)


def conditions(rsp) -> dict[str, fnv1.Condition]:
    return {c.type: c for c in rsp.conditions}


# ------------------------------------------------------------------ what is rendered


def test_renders_user_policy_attachment_and_key_from_the_instance_status():
    rsp = run(instances=[instance_xr()])
    assert not fatal_messages(rsp) and not warnings(rsp)
    out = desired(rsp)
    assert set(out) == {"user", "policy", "policy-attachment", "access-key", "usage-user"}
    user = names.iam_user_name(WHO)
    assert out["user"]["metadata"]["annotations"]["crossplane.io/external-name"] == user
    assert len(user) <= names.IAM_USER_MAX
    policy = json.loads(out["policy"]["spec"]["forProvider"]["policy"])
    assert {s["Sid"] for s in policy["Statement"]} == {"List", "Objects"}  # readWrite default
    assert out["policy"]["spec"]["forProvider"]["policy"] == iam_policy.compact(policy)
    attach = out["policy-attachment"]["spec"]["forProvider"]
    assert attach["policyArnSelector"] == {
        "matchControllerRef": True,
        "matchLabels": {POLICY_LABEL: "policy"},
    }
    assert out["policy"]["metadata"]["labels"] == {POLICY_LABEL: "policy"}
    key = out["access-key"]["spec"]
    assert key["forProvider"] == {"userSelector": {"matchControllerRef": True}}
    assert key["writeConnectionSecretToRef"] == {
        "name": names.internal_secret_name("accesskey", WHO),
        "namespace": "crossplane-system",
    }
    assert status(rsp)["bucketName"] == BUCKET
    cond = conditions(rsp)["DependencyReady"]
    assert (cond.status, cond.reason) == (fnv1.STATUS_CONDITION_TRUE, "Available")
    req = rsp.requirements.resources["instance"]
    assert (req.api_version, req.kind) == ("anynines.com/v1", "XObjectStorageInstance")
    assert dict(req.match_labels.labels) == {
        "crossplane.io/claim-name": "photos",
        "crossplane.io/claim-namespace": "team-a",
    }


def test_split_policies_are_each_attached_to_exactly_their_own_policy():
    out = render_binding("writeOnly", LONGEST)
    policies = sorted(k for k, b in out.items() if b["kind"] == "Policy")
    assert len(policies) >= 2
    labels = [out[k]["metadata"]["labels"][POLICY_LABEL] for k in policies]
    assert labels == policies  # unique label per policy
    external = {out[k]["metadata"]["annotations"]["crossplane.io/external-name"] for k in policies}
    assert len(external) == len(policies)
    for k in policies:
        att = out[k.replace("policy", "policy-attachment", 1)]["spec"]["forProvider"]
        assert att["policyArnSelector"]["matchLabels"] == {POLICY_LABEL: k}


def observed_attachment(key: str = "policy-attachment", ready: bool = True) -> dict:
    """A UserPolicyAttachment as its provider reports it (Ready once attached in AWS)."""
    return {
        "apiVersion": "iam.aws.upbound.io/v1beta1",
        "kind": "UserPolicyAttachment",
        "metadata": {"annotations": {"crossplane.io/composition-resource-name": key}},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_connection_details_only_once_the_access_key_has_them():
    rsp = run(instances=[instance_xr()])
    assert dict(rsp.desired.composite.connection_details) == {}
    rsp = run(instances=[instance_xr()], observed=[observed_key(), observed_attachment()])
    assert dict(rsp.desired.composite.connection_details) == {
        "AWS_ACCESS_KEY_ID": FAKE_ID.encode(),
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET.encode(),
        "AWS_REGION": b"eu-central-1",
        "BUCKET_NAME": BUCKET.encode(),
        "BUCKET_ARN": BUCKET_ARN.encode(),
        "S3_ENDPOINT": b"https://s3.eu-central-1.amazonaws.com",
    }
    # The XRD declares exactly these keys.
    assert xrd(KIND)["spec"]["connectionSecretKeys"] == sorted(
        rsp.desired.composite.connection_details,
        key=xrd(KIND)["spec"]["connectionSecretKeys"].index,
    )
    # Never in status, results or conditions.
    text = str(status(rsp)) + str(list(rsp.results)) + str(list(rsp.conditions))
    assert FAKE_SECRET not in text and FAKE_ID not in text


def _ordered_policies(out: dict[str, dict]) -> list[str]:
    count = sum(1 for b in out.values() if b["kind"] == "Policy")
    return [resource_key("policy", i) for i in range(count)]


def test_credentials_wait_for_every_split_policy_to_be_attached():
    """Issue 27 item 8: a later policy may hold the Deny statements that narrow the Allows of
    an earlier one; the Secret is published only once every attachment is Ready."""
    xr = binding_xr("writeOnly", LONGEST)
    policies = _ordered_policies(render_binding("writeOnly", LONGEST))
    assert len(policies) >= 2
    attachments = [k.replace("policy", "policy-attachment", 1) for k in policies]
    for pending in attachments:
        observed = [observed_key()] + [observed_attachment(a, a != pending) for a in attachments]
        rsp = run(xr, instances=[instance_xr()], observed=observed)
        assert dict(rsp.desired.composite.connection_details) == {}, pending
    missing = [observed_key()] + [observed_attachment(a) for a in attachments[:-1]]
    rsp = run(xr, instances=[instance_xr()], observed=missing)
    assert dict(rsp.desired.composite.connection_details) == {}
    ready = [observed_key()] + [observed_attachment(a) for a in attachments]
    rsp = run(xr, instances=[instance_xr()], observed=ready)
    assert rsp.desired.composite.connection_details["AWS_ACCESS_KEY_ID"] == FAKE_ID.encode()


def test_deny_statements_are_packed_first():
    """Issue 27 item 8: every Deny comes before every Allow across the split policies, so the
    Denies sit in the first policies (writeOnly with the longest prefixes needs two)."""
    split = 0
    for level in iam_policy.PERMISSIONS:
        out = render_binding(level, LONGEST)
        keys = _ordered_policies(out)
        docs = [json.loads(out[k]["spec"]["forProvider"]["policy"]) for k in keys]
        effects = [s["Effect"] for d in docs for s in d["Statement"]]
        assert "Deny" in effects, level
        assert effects == sorted(effects, key=lambda e: e != "Deny"), (level, effects)
        split += len(docs) > 1
    assert split, "no level splits: the test shows nothing"


def test_china_endpoint():
    assert (
        iam_policy.s3_endpoint("cn-north-1", "aws-cn") == "https://s3.cn-north-1.amazonaws.com.cn"
    )


def test_same_request_same_bytes():
    a = run(instances=[instance_xr(kms=KEY_ARN)], observed=[observed_key()])
    b = run(instances=[instance_xr(kms=KEY_ARN)], observed=[observed_key()])
    assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


# ------------------------------------------------------------------ waiting for the instance


def _not_ready() -> dict:
    inst = instance_xr()
    inst["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "Creating"}]
    return inst


def _no_status() -> dict:
    inst = instance_xr()
    del inst["status"]["bucketArn"]
    return inst


def _kms_pending() -> dict:
    inst = instance_xr(kms=KEY_ARN)
    del inst["status"]["kmsKeyArn"]
    return inst


@pytest.mark.parametrize(
    ("instances", "why"),
    [
        (None, ""),  # Crossplane has not looked it up yet
        ([], "does not exist"),
        ([_not_ready()], "not ready"),
        ([_no_status()], "its status is not complete yet"),  # bucketArn missing
        ([_kms_pending()], "kmsKeyArn"),
        ([instance_xr(), instance_xr()], "2 composite resources match"),
    ],
    ids=["unresolved", "missing", "not-ready", "no-status", "kms-pending", "ambiguous"],
)
def test_waits_plainly_and_publishes_nothing(instances, why):
    rsp = run(instances=instances, observed=[])
    assert not fatal_messages(rsp)
    (msg,) = warnings(rsp)
    assert msg.startswith("waiting for ObjectStorageInstance photos in namespace team-a")
    assert why in msg
    cond = conditions(rsp)["DependencyReady"]
    assert cond.status == fnv1.STATUS_CONDITION_FALSE and cond.message == msg
    assert cond.reason == "WaitingForDependency"
    assert desired(rsp) == {}
    assert dict(rsp.desired.composite.connection_details) == {}


def test_vanished_instance_deletes_nothing_and_keeps_the_secret():
    first = run(instances=[instance_xr()], observed=[observed_key(), observed_attachment()])
    assert first.desired.composite.connection_details
    observed = []
    for name, body in desired(first).items():
        body.setdefault("metadata", {}).setdefault("annotations", {})[
            "crossplane.io/composition-resource-name"
        ] = name
        observed.append(observed_key() if name == "access-key" else body)
    xr = binding_xr()
    xr["status"] = status(first)
    rsp = run(xr, instances=[], observed=observed)
    assert warnings(rsp)
    assert set(desired(rsp)) == set(desired(first))  # nothing deleted
    assert dict(rsp.desired.composite.connection_details) == dict(
        first.desired.composite.connection_details
    )


# ------------------------------------------------------------------ bad input


def _scoped(*entries) -> dict:
    return binding_xr("readOnly", entries)


@pytest.mark.parametrize(
    ("xr", "field", "words"),
    [
        (_scoped(*((f"p{i}/", "readOnly") for i in range(11))), "spec.scopedAccess", "at most 10"),
        (_scoped(("a/", "readOnly"), ("a/b/", "admin")), "spec.scopedAccess", "is inside"),
        (_scoped(("a/", "readOnly"), ("a/", "admin")), "spec.scopedAccess", "repeats"),
        (binding_xr("superuser"), "spec.permissions", "'listOnly'"),
        (_scoped(("a/", "owner")), "spec.scopedAccess.0.permissions", "'readWrite'"),
        (_scoped(("a/*", "readOnly")), "spec.scopedAccess.0.prefix", "pattern"),
        (_scoped(("${aws:username}/", "readOnly")), "spec.scopedAccess.0.prefix", "pattern"),
        ({**binding_xr(), "spec": {"permissions": "readOnly"}}, "spec.instanceRef", "required"),
    ],
    ids=[
        "11-entries",
        "nested",
        "repeated",
        "level",
        "scoped-level",
        "wildcard",
        "variable",
        "ref",
    ],
)
def test_bad_input_is_fatal_and_names_the_field(xr, field, words):
    rsp = run(xr, instances=[instance_xr()])
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(field) and words in msg, msg
    assert desired(rsp) == {}


def test_xr_without_claim_namespace_is_fatal():
    xr = binding_xr()
    del xr["metadata"]["labels"]["crossplane.io/claim-namespace"]
    (msg,) = fatal_messages(run(xr, instances=[instance_xr()]))
    assert "crossplane.io/claim-namespace" in msg


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["instanceRef", "permissions", "scopedAccess", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
            max_leaves=8,
        ),
    )
)
def test_any_spec_gets_a_response(spec):
    xr = binding_xr()
    xr["spec"] = spec
    rsp = run(xr, instances=[instance_xr()])
    assert isinstance(rsp, fnv1.RunFunctionResponse)
    assert not any("internal error" in m for m in fatal_messages(rsp))


# ------------------------------------------------------------------ XRD


def test_xrd_enums_and_limits_match_the_function():
    spec = spec_schema(KIND)["properties"]
    levels = list(typing.get_args(iam_policy.Level))
    assert levels == list(iam_policy.PERMISSIONS)
    assert spec["permissions"]["enum"] == levels
    assert spec["permissions"]["default"] == "readWrite"
    scoped = spec["scopedAccess"]
    assert scoped["maxItems"] == 10
    assert scoped["items"]["properties"]["permissions"]["enum"] == levels
    assert xrd(KIND)["spec"]["defaultCompositionRef"]["name"] == "aws-objectstoragebinding"


@pytest.mark.parametrize(
    ("entries", "ok"),
    [
        ([("a/", "readOnly"), ("b/", "admin")], True),
        ([("a/", "readOnly"), ("ab/", "admin")], True),  # siblings: "ab/" is not under "a/"
        ([("a", "readOnly"), ("ab/", "admin")], False),  # "ab/" starts with "a"
        ([("a/", "readOnly"), ("a/b/", "admin")], False),
        ([("a/", "readOnly"), ("a/", "readOnly")], False),
    ],
)
def test_xrd_rejects_nested_or_repeated_prefixes(entries, ok):
    xr = _scoped(*entries)
    assert (violations(KIND, xr) == []) == ok, violations(KIND, xr)
    rsp = run(xr, instances=[instance_xr()])
    assert (fatal_messages(rsp) == []) == ok


def test_the_kms_grant_is_on_the_instance_key():
    docs = policy_docs(render_binding("readOnly", kms=KEY_ARN))
    (kms,) = [s for d in docs for s in d["Statement"] if s["Sid"] == "BucketKey"]
    assert kms["Resource"] == KEY_ARN
    assert kms["Action"] == ["kms:Decrypt"]


def test_split_packs_statements_in_order_into_compact_documents_within_the_limit():
    stmts = [
        {"Sid": f"S{i}", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["x" * 900]}
        for i in range(20)
    ]
    docs = iam_policy.split(stmts)
    assert len(docs) > 1
    parsed = [json.loads(d) for d in docs]
    assert [s for p in parsed for s in p["Statement"]] == stmts
    for doc, body in zip(docs, parsed, strict=True):
        assert doc == iam_policy.compact(body)
        assert len(doc) <= iam_policy.MAX_POLICY_CHARS
    # Greedy packing: no document could have taken the next one's first statement.
    for body, nxt in itertools.pairwise(parsed):
        grown = {**body, "Statement": [*body["Statement"], nxt["Statement"][0]]}
        assert len(iam_policy.compact(grown)) > iam_policy.MAX_POLICY_CHARS


# ------------------------------------------------------------------ re-pointing the binding

# Arguments of Terraform's aws_iam_policy that force a replacement (``ForceNew``:
# terraform-provider-aws internal/service/iam/policy.go: description, name, name_prefix, path),
# and the external name upjet takes the policy name from. upjet never replaces a resource, so a
# change to any of them would leave the old policy in place while the Secret names the new bucket.
POLICY_FORCE_NEW = ("description", "name", "namePrefix", "path")


def _rendered_for_bucket(bucket: str) -> dict[str, dict]:
    inst = instance_xr()
    inst["status"] |= {"bucketName": bucket, "bucketArn": f"arn:aws:s3:::{bucket}"}
    rsp = run(instances=[inst])
    assert not fatal_messages(rsp)
    return desired(rsp)


def test_re_pointing_the_binding_changes_only_what_aws_updates_in_place():
    before = _rendered_for_bucket(BUCKET)
    after = _rendered_for_bucket("klutch-videos-9f8e7d6c")
    assert set(before) == set(after)
    for key, old in before.items():
        new = after[key]
        if old["kind"] != "Policy":
            assert new == old, key
            continue
        assert new["metadata"] == old["metadata"], key  # the external name: the policy name
        old_fp, new_fp = old["spec"]["forProvider"], new["spec"]["forProvider"]
        for field in POLICY_FORCE_NEW:
            assert new_fp.get(field) == old_fp.get(field), (key, field)
        assert BUCKET not in json.dumps({k: v for k, v in new_fp.items() if k != "policy"})
        changed = {k for k in old_fp.keys() | new_fp.keys() if old_fp.get(k) != new_fp.get(k)}
        assert changed == {"policy"}, (key, changed)
