"""tests/e2e/motoserver.py: moto's server over TLS evaluates a bucket policy as AWS does for a
request over TLS (``aws:SecureTransport`` true), and nothing else differently."""

from __future__ import annotations

import json

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws
from moto.s3.models import FakeBucket

from function.objectstorage import tls_only_policy
from tests.e2e import motoserver

BUCKET = "e2e-tls-only"
ARN = f"arn:aws:s3:::{BUCKET}"


def _deny(condition: dict | None = None, action: str = "s3:*") -> dict:
    stmt = {"Effect": "Deny", "Principal": "*", "Action": action, "Resource": f"{ARN}/*"}
    if condition is not None:
        stmt["Condition"] = condition
    return stmt


def test_a_tls_only_deny_does_not_apply_over_tls() -> None:
    assert motoserver.applies_over_tls(_deny({"Bool": {"aws:SecureTransport": "false"}})) is None
    assert motoserver.applies_over_tls(_deny({"Bool": {"aws:SecureTransport": ["False"]}})) is None


def test_a_condition_that_holds_over_tls_is_dropped_and_the_rest_kept() -> None:
    stmt = _deny(
        {
            "Bool": {"aws:SecureTransport": "true", "aws:MultiFactorAuthPresent": "false"},
            "StringEquals": {"s3:x-amz-acl": "public-read"},
        }
    )
    assert motoserver.applies_over_tls(stmt) == {
        **_deny(),
        "Condition": {
            "StringEquals": {"s3:x-amz-acl": "public-read"},
            "Bool": {"aws:MultiFactorAuthPresent": "false"},
        },
    }
    assert motoserver.applies_over_tls(_deny({"Bool": {"aws:SecureTransport": "true"}})) == (
        _deny()
    )


def test_statements_without_the_key_are_unchanged() -> None:
    plain = _deny(action="s3:DeleteObject")
    assert motoserver.applies_over_tls(plain) is plain
    doc = {"Version": "2012-10-17", "Statement": plain}
    assert json.loads(motoserver.policy_over_tls(json.dumps(doc)))["Statement"] == [plain]


def _s3_with(policy: str):
    s3 = boto3.client(
        "s3",
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    s3.put_bucket_policy(Bucket=BUCKET, Policy=policy)
    return s3


def _put_refused(s3) -> bool:
    try:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    except botocore.exceptions.ClientError as err:
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        return True
    return False


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch):
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    # install() replaces a method of moto's class: put it back after the test.
    monkeypatch.setattr(FakeBucket, "get_permission", FakeBucket.get_permission)
    with mock_aws():
        yield


def test_moto_alone_refuses_every_object_request_of_a_tls_only_bucket(moto_s3) -> None:
    # What make e2e showed (PutObject 403 for the readWrite binding): moto ignores the Bool
    # operator and evaluates the policy without a request context, so the Deny always applies.
    assert _put_refused(_s3_with(tls_only_policy(ARN)))


def test_installed_the_tls_only_bucket_allows_and_another_deny_still_refuses(moto_s3) -> None:
    motoserver.install()
    assert not _put_refused(_s3_with(tls_only_policy(ARN)))
    other = {"Version": "2012-10-17", "Statement": [_deny(action="s3:PutObject")]}
    boto3.client("s3", region_name="eu-central-1").put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps(other)
    )
    assert _put_refused(boto3.client("s3", region_name="eu-central-1"))
