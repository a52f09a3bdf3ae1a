"""ObjectStorageInstance: what each claim field renders, bad input, determinism."""

from __future__ import annotations

import copy
import json
import re

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import given, settings
from hypothesis import strategies as st

from function import claims, names
from function.objectstorage import PLAN_TRANSITIONS
from tests.support.responses import desired, fatal_messages, render_local, status, warnings

XR = {
    "apiVersion": "anynines.com/v1",
    "kind": "XObjectStorageInstance",
    "metadata": {
        "name": "photos-x7k2p",
        "uid": "0b0b5c1e-3f6e-4a47-9c7a-2d1f2e3a4b5c",
        "labels": {
            "crossplane.io/claim-name": "photos",
            "crossplane.io/claim-namespace": "team-a",
        },
    },
    "spec": {"service": "aws-s3", "plan": "standard", "region": "eu-central-1"},
}


WHO = names.Identity("klutch", "team-a", "photos", XR["metadata"]["uid"])
OWNER = claims.ownership_tags(claims.OBJECT_STORAGE_INSTANCE, "team-a", "photos")
KEY_ARN = "arn:aws:kms:eu-central-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def xr_with(**spec) -> dict:
    xr = copy.deepcopy(XR)
    xr["spec"].update(spec)
    return xr


def kms(**key) -> dict:
    return {"encryption": {"type": "kms", "key": key}}


def test_standard_bucket_is_hardened():
    out = desired(render_local(XR))
    assert set(out) == {
        "bucket",
        "public-access-block",
        "ownership-controls",
        "bucket-policy",
        "lifecycle",
        "encryption",
    }
    bucket = out["bucket"]
    name = bucket["metadata"]["annotations"]["crossplane.io/external-name"]
    assert name.startswith("klutch-photos-")
    pab = out["public-access-block"]["spec"]["forProvider"]
    assert all(
        pab[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    assert out["ownership-controls"]["spec"]["forProvider"]["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    sse = out["encryption"]["spec"]["forProvider"]["rule"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    policy = json.loads(out["bucket-policy"]["spec"]["forProvider"]["policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(deny["Resource"]) == {f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"}
    for body in out.values():
        assert body["spec"]["forProvider"]["region"] == "eu-central-1"
        assert body["spec"]["providerConfigRef"] == {"name": "default"}
        if body["kind"] != "Bucket":
            assert body["spec"]["forProvider"].get("bucket", name) == name


@pytest.mark.parametrize("plan", sorted(PLAN_TRANSITIONS))
def test_plan_sets_lifecycle_transition(plan):
    rules = desired(render_local(xr_with(plan=plan)))["lifecycle"]["spec"]["forProvider"]["rule"]
    transitions = [t for r in rules for t in r.get("transition", [])]
    expected = {
        "standard": [],
        "infrequentaccess": [{"days": 30, "storageClass": "STANDARD_IA"}],
        "intelligent": [{"days": 0, "storageClass": "INTELLIGENT_TIERING"}],
        "archiveinstant": [{"days": 0, "storageClass": "GLACIER_IR"}],
        "archiveflexible": [{"days": 0, "storageClass": "GLACIER"}],
        "archivedeep": [{"days": 0, "storageClass": "DEEP_ARCHIVE"}],
    }[plan]
    assert transitions == expected
    # Every plan aborts stale multipart uploads, so a plan change never leaves one behind.
    assert any("abortIncompleteMultipartUpload" in r for r in rules)


def test_keep_bucket_orphans_everything_including_the_key():
    params = {"deletionPolicy": "DeleteInstanceKeepBucket", **kms(managed={})}
    out = desired(render_local(xr_with(parameters=params)))
    assert {b["spec"]["deletionPolicy"] for b in out.values()} == {"Orphan"}
    assert out["bucket"]["spec"]["forProvider"]["forceDestroy"] is False


def test_empty_and_delete_force_destroys_and_schedules_key_deletion():
    params = {"deletionPolicy": "EmptyBucketAndDelete", **kms(managed={"alias": "k"})}
    out = desired(render_local(xr_with(parameters=params)))
    assert {b["spec"]["deletionPolicy"] for b in out.values()} == {"Delete"}
    assert out["bucket"]["spec"]["forProvider"]["forceDestroy"] is True
    assert out["kms-key"]["spec"]["forProvider"]["deletionWindowInDays"] == 30


def test_default_deletion_policy_keeps_the_bucket():
    out = desired(render_local(XR))
    assert out["bucket"]["spec"]["deletionPolicy"] == "Orphan"


def test_managed_kms_key_with_alias():
    rsp = render_local(xr_with(parameters=kms(managed={"alias": "photos-key"})))
    out = desired(rsp)
    assert out["kms-key"]["spec"]["forProvider"]["enableKeyRotation"] is True
    alias = out["kms-alias"]
    name = alias["metadata"]["annotations"]["crossplane.io/external-name"]
    # The claim's own alias, derived from its identity; the user's alias readable inside.
    assert name == names.managed_kms_alias(WHO, "photos-key")
    assert name.startswith("alias/klutch/team-a/photos-key-") and name != "alias/photos-key"
    assert alias["spec"]["forProvider"]["targetKeyIdSelector"] == {"matchControllerRef": True}
    assert "kmsKeyArn" not in status(rsp)  # unknown until the key exists
    # The encryption names the key by its ARN, so it waits for the Key to be observed.
    assert "encryption" not in out
    assert rsp.desired.composite.ready == fnv1.READY_FALSE
    arn = "arn:aws:kms:eu-central-1:123456789012:key/abc"
    key = {**out["kms-key"], "status": {"atProvider": {"arn": arn}}}
    key["metadata"] = {"annotations": {"crossplane.io/composition-resource-name": "kms-key"}}
    rsp = render_local(xr_with(parameters=kms(managed={"alias": "photos-key"})), observed=[key])
    sse = desired(rsp)["encryption"]["spec"]["forProvider"]["rule"][0]
    assert sse["bucketKeyEnabled"] is True
    assert sse["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": arn,
    }
    assert status(rsp)["kmsKeyArn"] == arn


def test_a_managed_key_named_by_arn_is_still_read_as_managed_once_observed():
    """The encryption as rendered (the managed key's ARN, no selector) is no edit of the
    encryption: no immutability warning, the managed key stays."""
    arn = "arn:aws:kms:eu-central-1:123456789012:key/abc"
    xr = xr_with(parameters=kms(managed={"alias": "photos-key"}))
    first = desired(render_local(xr))
    key = {**first["kms-key"], "status": {"atProvider": {"arn": arn}}}
    key["metadata"] = {"annotations": {"crossplane.io/composition-resource-name": "kms-key"}}
    second = desired(render_local(xr, observed=[key]))
    alias, enc = second["kms-alias"], second["encryption"]
    alias["metadata"]["annotations"]["crossplane.io/composition-resource-name"] = "kms-alias"
    enc["metadata"] = {"annotations": {"crossplane.io/composition-resource-name": "encryption"}}
    rsp = render_local(xr, observed=[key, alias, enc])
    assert warnings(rsp) == []
    assert {"kms-key", "kms-alias", "encryption"} <= set(desired(rsp))
    # Without the Key's ARN (its status not read yet), the configuration keeps the key it names:
    # withholding it would delete it.
    rsp = render_local(xr, observed=[{**key, "status": {}}, alias, enc])
    rule = desired(rsp)["encryption"]["spec"]["forProvider"]["rule"][0]
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == arn


def test_managed_kms_key_without_alias_gets_a_generated_one():
    out = desired(render_local(xr_with(parameters=kms(managed={}))))
    alias = out["kms-alias"]["metadata"]["annotations"]["crossplane.io/external-name"]
    assert alias == names.managed_kms_alias(WHO, None)
    assert re.fullmatch(rf"alias/klutch/team-a/photos-[0-9a-f]{{{names.HASH_HEX}}}", alias)


def test_existing_kms_key():
    arn = KEY_ARN
    rsp = render_local(xr_with(parameters=kms(existing={"id": arn})))
    out = desired(rsp)
    assert "kms-key" not in out and "kms-alias" not in out
    sse = out["encryption"]["spec"]["forProvider"]["rule"][0]["applyServerSideEncryptionByDefault"]
    assert sse == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": arn}
    assert status(rsp)["kmsKeyArn"] == arn


def test_tags_join_operator_defaults_and_ownership_on_every_taggable_resource():
    fn_input = {"defaultTags": {"managed-by": "klutch", "cost-center": "platform"}}
    params = {"tags": {"app": "photos"}, **kms(managed={})}
    out = desired(render_local(xr_with(parameters=params), fn_input))
    want = {"managed-by": "klutch", "cost-center": "platform", "app": "photos", **OWNER}
    assert out["bucket"]["spec"]["forProvider"]["tags"] == want
    assert out["kms-key"]["spec"]["forProvider"]["tags"] == want


def test_claim_tags_cannot_override_operator_defaults():
    fn_input = {"defaultTags": {"managed-by": "klutch", "cost-center": "platform"}}
    params = {"tags": {"cost-center": "team-a", "app": "photos"}}
    (msg,) = fatal_messages(render_local(xr_with(parameters=params), fn_input))
    assert msg.startswith("spec.parameters.tags: the key 'cost-center' is set by the platform")


def test_status_and_readiness_from_observed_state():
    observed_bucket = {
        "apiVersion": "s3.aws.upbound.io/v1beta2",
        "kind": "Bucket",
        "metadata": {"annotations": {"crossplane.io/composition-resource-name": "bucket"}},
        "spec": {"forProvider": {"region": "eu-central-1"}},
        "status": {
            "atProvider": {"arn": "arn:aws:s3:::observed-arn"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        },
    }
    observed_key = {
        "apiVersion": "kms.aws.upbound.io/v1beta1",
        "kind": "Key",
        "metadata": {"annotations": {"crossplane.io/composition-resource-name": "kms-key"}},
        "status": {
            "atProvider": {"arn": "arn:aws:kms:eu-central-1:123456789012:key/abc"},
            "conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}],
        },
    }
    rsp = render_local(
        xr_with(parameters=kms(managed={})), observed=[observed_bucket, observed_key]
    )
    st_ = status(rsp)
    assert st_["bucketArn"] == "arn:aws:s3:::observed-arn"
    assert st_["region"] == "eu-central-1"
    assert st_["kmsKeyArn"] == "arn:aws:kms:eu-central-1:123456789012:key/abc"
    assert st_["bucketName"].startswith("klutch-photos-")
    ready = {n: r.ready for n, r in rsp.desired.resources.items()}
    assert ready["bucket"] == fnv1.READY_TRUE
    assert ready["kms-key"] == fnv1.READY_FALSE  # observed but not Ready
    assert ready["encryption"] == fnv1.READY_FALSE  # not observed yet


def test_same_request_twice_gives_the_same_bytes():
    xr = xr_with(parameters={"tags": {"b": "2", "a": "1"}, **kms(managed={"alias": "x"})})
    one = render_local(xr).SerializeToString(deterministic=True)
    two = render_local(copy.deepcopy(xr)).SerializeToString(deterministic=True)
    assert one == two


def test_names_do_not_change_between_reconciles():
    first = desired(render_local(XR))
    later_xr = xr_with(plan="intelligent", parameters={"tags": {"x": "y"}})
    later_xr["metadata"]["resourceVersion"] = "42"
    later = desired(render_local(later_xr))
    ext = "crossplane.io/external-name"
    assert (
        first["bucket"]["metadata"]["annotations"][ext]
        == later["bucket"]["metadata"]["annotations"][ext]
    )


@pytest.mark.parametrize(
    ("spec", "field", "allowed"),
    [
        ({"region": "mars-1"}, "spec.region", "eu-central-1"),
        ({"plan": "gold"}, "spec.plan", "'archivedeep'"),
        ({"service": "gcs"}, "spec.service", "'aws-s3'"),
        (
            {"parameters": {"encryption": {"type": "kms"}}},
            "spec.parameters.encryption",
            "'managed' or 'existing'",
        ),
        (
            {
                "parameters": kms(
                    managed={},
                    existing={"id": KEY_ARN},
                )
            },
            "spec.parameters.encryption.key",
            "exactly one of 'managed' or 'existing'",
        ),
        (
            {"parameters": kms(managed={"alias": "aws/x"})},
            "spec.parameters.encryption.key.managed.alias",
            "aws/",
        ),
        (
            {"parameters": kms(existing={"id": "my-key"})},
            "spec.parameters.encryption.key.existing.id",
            "KMS key ARN",
        ),
        ({"parameters": {"tags": {"k": "v" * 257}}}, "spec.parameters.tags.k", "256"),
        ({"parameters": {"tags": {"100%": "v"}}}, "spec.parameters.tags.100%", "A-Za-z0-9 _-"),
        (
            {"parameters": {"deletionPolicy": "Nuke"}},
            "spec.parameters.deletionPolicy",
            "'EmptyBucketAndDelete'",
        ),
        (
            {"parameters": {"encryption": {"type": "des"}}},
            "spec.parameters.encryption.type",
            "'aes256' or 'kms'",
        ),
    ],
)
def test_bad_input_is_fatal_and_names_the_field(spec, field, allowed):
    rsp = render_local(xr_with(**spec))
    (msg,) = fatal_messages(rsp)
    assert msg.startswith(field), msg
    assert allowed in msg
    assert not rsp.desired.resources  # nothing rendered, nothing removed


def test_missing_required_fields_are_named():
    xr = copy.deepcopy(XR)
    xr["spec"] = {}
    (msg,) = fatal_messages(render_local(xr))
    for field in ("spec.service", "spec.plan", "spec.region"):
        assert field in msg


def test_bad_operator_input_is_fatal():
    (msg,) = fatal_messages(render_local(XR, {"namingPrefix": "Not Valid"}))
    assert msg.startswith("input.namingPrefix")


def test_changed_region_keeps_the_existing_one_and_warns():
    observed = {
        "apiVersion": "s3.aws.upbound.io/v1beta2",
        "kind": "Bucket",
        "metadata": {"annotations": {"crossplane.io/composition-resource-name": "bucket"}},
        "spec": {"forProvider": {"region": "eu-central-1"}},
    }
    rsp = render_local(xr_with(region="us-east-1"), observed=[observed])
    assert any("spec.region" in w for w in warnings(rsp))
    regions = {b["spec"]["forProvider"]["region"] for b in desired(rsp).values()}
    assert regions == {"eu-central-1"}


def test_changed_encryption_keeps_the_existing_one_and_warns():
    observed = {
        "apiVersion": "s3.aws.upbound.io/v1beta2",
        "kind": "BucketServerSideEncryptionConfiguration",
        "metadata": {"annotations": {"crossplane.io/composition-resource-name": "encryption"}},
        "spec": {
            "forProvider": {
                "rule": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
            }
        },
    }
    rsp = render_local(xr_with(parameters=kms(managed={})), observed=[observed])
    assert any("spec.parameters.encryption" in w for w in warnings(rsp))
    out = desired(rsp)
    assert "kms-key" not in out
    rule = out["encryption"]["spec"]["forProvider"]["rule"][0]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
CLAIM_NAME = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(name=CLAIM_NAME, uid=st.uuids().map(str))
def test_bucket_names_are_valid_for_any_claim_name(name, uid):
    bucket = names.bucket_name(names.Identity("klutch", "", name, uid))
    assert BUCKET_RE.match(bucket), bucket
    assert "--" not in bucket and ".." not in bucket
    assert bucket == names.bucket_name(names.Identity("klutch", "", name, uid))


def test_long_claim_names_still_get_distinct_buckets():
    long = "a" * 253
    one = names.bucket_name(names.Identity("klutch", "", long, "uid-1"))
    two = names.bucket_name(names.Identity("klutch", "", long, "uid-2"))
    assert one != two and len(one) == len(two) == 63


def test_claim_tags_plus_default_tags_over_the_aws_limit_are_fatal():
    # The platform adds its default tag, the ownership tags, and the provider its own three.
    room = claims.MAX_TAGS - 1 - len(OWNER) - len(claims.PROVIDER_TAGS)
    tags = {f"t{i}": "v" for i in range(room + 1)}
    (msg,) = fatal_messages(render_local(xr_with(parameters={"tags": tags})))
    assert msg.startswith("spec.parameters.tags: AWS allows at most 50 tags")
    assert "managed-by" in msg and claims.NAMESPACE_TAG in msg
    tags = {f"t{i}": "v" for i in range(room)}
    assert not fatal_messages(render_local(xr_with(parameters={"tags": tags})))
