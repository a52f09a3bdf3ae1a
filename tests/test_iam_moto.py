"""ObjectStorageBinding policies under AWS semantics.

Three independent checks of what the rendered policies allow:

1. moto with IAM enforcement on: create the bucket, the user, the policies and the access
   key from what the function rendered, then call S3 with the binding's own key. moto
   enforces Action/NotAction, Resource and explicit Deny, but skips ``StringLike``
   conditions (a statement with one always applies) and ignores ``NotResource``. Our
   policies use no ``NotResource``; listing is judged by moto only where no listing
   statement carries a condition, and by the evaluator below everywhere.
2. A small IAM evaluator (explicit Deny > Allow > implicit deny, Action/NotAction,
   Resource wildcards, ``StringLike``/``StringEquals`` conditions) run over every level,
   scoped narrower/wider/side-by-side prefixes and random bindings (hypothesis), compared
   with a reference model of DESIGN section 2 that does not look at the policy code.
3. parliament lints every rendered policy; the static rules (no ``s3:*``, ``iam:*``,
   ``Resource: "*"``, only the bucket, its objects and its key) are checked on each.
"""

from __future__ import annotations

import copy
import itertools
import json
from fnmatch import fnmatchcase

import boto3
import parliament
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication

from function.iam_policy import MAX_POLICY_CHARS, PERMISSIONS
from tests import schemas
from tests.conftest import desired, fatal_messages, render_local

LEVELS = list(PERMISSIONS)
REGION = "eu-central-1"
BUCKET = "klutch-photos-1a2b3c4d"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/ffffffff-12ab-34cd-56ef-1234567890ab"
OPS = ("list", "get", "put", "delete")

# ------------------------------------------------------------------ rendering a binding


def instance_xr(plan: str = "standard", kms: str | None = None) -> dict:
    status = {
        "bucketName": BUCKET,
        "bucketArn": BUCKET_ARN,
        "region": REGION,
        "plan": plan,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
    }
    spec = {"service": "aws-s3", "plan": plan, "region": REGION}
    if kms:
        status["kmsKeyArn"] = kms
        spec["parameters"] = {"encryption": {"type": "kms", "key": {"existing": {"id": kms}}}}
    return {
        "apiVersion": "anynines.com/v1",
        "kind": "XObjectStorageInstance",
        "metadata": {
            "name": "photos-abcde",
            "labels": {
                "crossplane.io/claim-name": "photos",
                "crossplane.io/claim-namespace": "team-a",
            },
        },
        "spec": spec,
        "status": status,
    }


BINDING_XR = {
    "apiVersion": "anynines.com/v1",
    "kind": "XObjectStorageBinding",
    "metadata": {
        "name": "photos-app-q9z8x",
        "uid": "5d1e0c1a-7b8f-4a3e-9f0e-1c2d3e4f5a6b",
        "labels": {
            "crossplane.io/claim-name": "photos-app",
            "crossplane.io/claim-namespace": "team-a",
        },
    },
    "spec": {"instanceRef": "photos"},
}


def binding_xr(level: str | None = None, scoped=()) -> dict:
    xr = copy.deepcopy(BINDING_XR)
    if level:
        xr["spec"]["permissions"] = level
    if scoped:
        xr["spec"]["scopedAccess"] = [{"prefix": p, "permissions": lv} for p, lv in scoped]
    return xr


def render_binding(level: str, scoped=(), plan="standard", kms=None) -> dict[str, dict]:
    rsp = render_local(binding_xr(level, scoped), required={"instance": [instance_xr(plan, kms)]})
    assert not fatal_messages(rsp)
    return desired(rsp)


def policy_docs(resources: dict[str, dict]) -> list[dict]:
    return [
        json.loads(body["spec"]["forProvider"]["policy"])
        for _, body in sorted(resources.items())
        if body["kind"] == "Policy"
    ]


# ------------------------------------------------------------------ reference model (DESIGN 2)

# What each level may do, straight from DESIGN section 2 (not from function/iam_policy.py).
MAY = {
    "listOnly": {"list"},
    "readOnly": {"list", "get"},
    "writeOnly": {"put", "delete"},
    "readWrite": {"list", "get", "put", "delete"},
    "admin": {"list", "get", "put", "delete", "restore"},
}


def effective(level: str, scoped, key_or_prefix: str) -> str:
    for prefix, lv in scoped:
        if key_or_prefix.startswith(prefix):
            return lv
    return level


def expected(level: str, scoped, op: str, key: str) -> bool:
    return op in MAY[effective(level, scoped, key)]


# ------------------------------------------------------------------ our IAM evaluator

ACTION = {
    "get": "s3:GetObject",
    "put": "s3:PutObject",
    "delete": "s3:DeleteObject",
    "restore": "s3:RestoreObject",
    "abort": "s3:AbortMultipartUpload",
}


def _as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def _condition_holds(cond: dict | None, context: dict[str, str]) -> bool:
    for operator, tests in (cond or {}).items():
        for key, values in tests.items():
            if key not in context:
                return False
            got = context[key]
            if operator == "StringLike":
                ok = any(fnmatchcase(got, v) for v in _as_list(values))
            elif operator == "StringEquals":
                ok = got in _as_list(values)
            else:
                raise AssertionError(f"evaluator does not know condition operator {operator}")
            if not ok:
                return False
    return True


def _matches(stmt: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    assert "NotResource" not in stmt and "Principal" not in stmt
    if "Action" in stmt:
        hit = any(fnmatchcase(action.lower(), a.lower()) for a in _as_list(stmt["Action"]))
    else:
        hit = not any(fnmatchcase(action.lower(), a.lower()) for a in _as_list(stmt["NotAction"]))
    return (
        hit
        and any(fnmatchcase(resource, r) for r in _as_list(stmt["Resource"]))
        and _condition_holds(stmt.get("Condition"), context)
    )


def allowed(docs: list[dict], action: str, resource: str, context=None) -> bool:
    """IAM identity-policy evaluation: explicit Deny, then Allow, else implicit deny."""
    stmts = [s for d in docs for s in d["Statement"]]
    ctx = context or {}
    if any(s["Effect"] == "Deny" and _matches(s, action, resource, ctx) for s in stmts):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, action, resource, ctx) for s in stmts)


def evaluate(docs: list[dict], op: str, key: str) -> bool:
    """``key`` is the object key, or the ``prefix`` parameter of a list request."""
    if op == "list":
        ctx = {"s3:prefix": key} if key else {}
        return allowed(docs, "s3:ListBucket", BUCKET_ARN, ctx)
    return allowed(docs, ACTION[op], f"{BUCKET_ARN}/{key}")


# ------------------------------------------------------------------ cases

# (bucket-wide level, scoped entries): every level alone, then scoped prefixes that are
# narrower, wider, and two side by side.
CASES = [(lv, ()) for lv in LEVELS] + [
    ("readWrite", (("logs/", "readOnly"),)),  # narrower
    ("admin", (("audit/", "listOnly"),)),  # narrower, down to names only
    ("listOnly", (("uploads/", "readWrite"),)),  # wider
    ("writeOnly", (("inbox/", "readOnly"),)),  # wider for reads, narrower for writes
    ("readOnly", (("a/", "writeOnly"), ("b/", "admin"))),  # two side by side
    ("readWrite", (("a/", "listOnly"), ("b/", "readOnly"))),  # two narrower side by side
]
KEYS = ("top.txt", "logs/x.txt", "audit/x", "uploads/x", "inbox/x", "a/x", "b/x", "ab/x")


def case_id(case) -> str:
    level, scoped = case
    return level + "".join(f"+{p}{lv}" for p, lv in scoped)


# ------------------------------------------------------------------ 1. moto, IAM enforced


def _denied(err: ClientError) -> bool:
    return err.response["Error"]["Code"] in ("AccessDenied", "403")


def _try(fn) -> bool:
    try:
        fn()
    except ClientError as err:
        if not _denied(err):
            raise
        return False
    return True


def _list_has_condition(docs: list[dict]) -> bool:
    return any(
        "Condition" in s and "s3:ListBucket" in _as_list(s.get("Action", []))
        for d in docs
        for s in d["Statement"]
    )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_binding_key_can_do_exactly_its_level_in_moto(case):
    level, scoped = case
    rendered = render_binding(level, scoped)
    docs = policy_docs(rendered)
    user = rendered["user"]["metadata"]["annotations"]["crossplane.io/external-name"]
    with mock_aws():
        admin_s3 = boto3.client("s3", region_name=REGION)
        admin_s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        for key in KEYS:
            admin_s3.put_object(Bucket=BUCKET, Key=key, Body=b"seed")
        admin_s3.create_bucket(
            Bucket="other-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        admin_s3.put_object(Bucket="other-bucket", Key="top.txt", Body=b"seed")
        iam = boto3.client("iam", region_name=REGION)
        iam.create_user(UserName=user)
        for i, doc in enumerate(docs):
            arn = iam.create_policy(PolicyName=f"{user}-{i}", PolicyDocument=json.dumps(doc))
            iam.attach_user_policy(UserName=user, PolicyArn=arn["Policy"]["Arn"])
        key = iam.create_access_key(UserName=user)["AccessKey"]
        s3 = boto3.client(
            "s3",
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        calls = {
            "get": lambda k: s3.get_object(Bucket=BUCKET, Key=k),
            "put": lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=b"new"),
            "delete": lambda k: s3.delete_object(Bucket=BUCKET, Key=k),
            "list": lambda p: s3.list_objects_v2(Bucket=BUCKET, Prefix=p),
        }
        judged = 0
        with enable_iam_authentication():
            for op, k in itertools.product(("get", "put", "delete"), KEYS):
                assert _try(lambda op=op, k=k: calls[op](k)) == expected(level, scoped, op, k), (
                    op,
                    k,
                )
                judged += 1
            if not _list_has_condition(docs):
                for p in ("", *(p for p, _ in scoped)):
                    assert _try(lambda p=p: calls["list"](p)) == expected(level, scoped, "list", p)
                    judged += 1
            # Nothing outside the bucket: no other bucket, no IAM.
            assert not _try(s3.list_buckets)
            assert not _try(lambda: s3.get_object(Bucket="other-bucket", Key="top.txt"))
            assert not _try(lambda: s3.list_objects_v2(Bucket="other-bucket"))
            assert not _try(
                lambda: boto3.client(
                    "iam",
                    region_name=REGION,
                    aws_access_key_id=key["AccessKeyId"],
                    aws_secret_access_key=key["SecretAccessKey"],
                ).list_users()
            )
        assert judged >= len(KEYS) * 3


def test_moto_enforcement_is_really_on():
    """Guard against a silently disabled check: an unattached user is denied everything."""
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        iam = boto3.client("iam", region_name=REGION)
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        s3 = boto3.client(
            "s3",
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        with enable_iam_authentication():
            assert not _try(lambda: s3.put_object(Bucket=BUCKET, Key="k", Body=b"x"))


# ------------------------------------------------------------------ 2. our evaluator


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("plan", ["standard", "archivedeep"])
def test_evaluator_agrees_with_design_for_every_op_and_key(case, plan):
    level, scoped = case
    docs = policy_docs(render_binding(level, scoped, plan=plan))
    for op, key in itertools.product(OPS, KEYS):
        assert evaluate(docs, op, key) == expected(level, scoped, op, key), (op, key)
    # Listing follows the same rule through s3:prefix (the condition moto skips).
    for prefix in ("", "logs/", "logs/2024/", "a/", "b/deep/", "uploads/", "audit/", "ab"):
        assert evaluate(docs, "list", prefix) == expected(level, scoped, "list", prefix), prefix
    # Restore: reading levels on archive plans; admin always (s3:*Object).
    for key in KEYS:
        lv = effective(level, scoped, key)
        want = lv == "admin" or (plan == "archivedeep" and "get" in MAY[lv])
        assert evaluate(docs, "restore", key) == want, key
        # Multipart abort goes with writing.
        assert evaluate(docs, "abort", key) == ("put" in MAY[lv]), key


@pytest.mark.parametrize("level", LEVELS)
def test_kms_key_gets_exactly_what_the_level_needs(level):
    docs = policy_docs(render_binding(level, kms=KEY_ARN))
    via = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    reads, writes = "get" in MAY[level], "put" in MAY[level]
    assert allowed(docs, "kms:Decrypt", KEY_ARN, via) == (reads or writes)  # multipart needs it
    assert allowed(docs, "kms:GenerateDataKey", KEY_ARN, via) == writes
    for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncryptFrom"):
        assert not allowed(docs, action, OTHER_KEY_ARN, via)
        assert not allowed(docs, action, KEY_ARN, {})  # only through S3
    for action in ("kms:Encrypt", "kms:CreateGrant", "kms:ScheduleKeyDeletion"):
        assert not allowed(docs, action, KEY_ARN, via)


def test_no_kms_statement_without_a_key():
    docs = policy_docs(render_binding("admin"))
    assert not any(
        a.startswith("kms:")
        for d in docs
        for s in d["Statement"]
        for a in _as_list(s["Action"])
        if "Action" in s
    )


_PREFIX = st.text(alphabet="abc/", min_size=1, max_size=4)


@st.composite
def bindings(draw):
    level = draw(st.sampled_from(LEVELS))
    prefixes = draw(st.lists(_PREFIX, max_size=4, unique=True))
    prefixes = [p for p in prefixes if not any(q != p and p.startswith(q) for q in prefixes)]
    scoped = tuple((p, draw(st.sampled_from(LEVELS))) for p in prefixes)
    return level, scoped


@settings(max_examples=60, deadline=None)
@given(bindings(), st.lists(st.text(alphabet="abc/", max_size=5), min_size=1, max_size=6))
def test_random_bindings_follow_the_design(binding, keys):
    level, scoped = binding
    docs = policy_docs(render_binding(level, scoped))
    for op, key in itertools.product(OPS, keys):
        if op != "list" and not key:
            continue
        assert evaluate(docs, op, key) == expected(level, scoped, op, key), (op, key)


# ------------------------------------------------------------------ 3. lint and static rules

LONG = tuple((f"{i}" + "p" * 98 + "/", LEVELS[i % len(LEVELS)]) for i in range(10))
# The longest prefixes the XRD allows (256 characters): the set no longer fits one policy.
LONGEST = tuple((f"{i}" + "q" * 254 + "/", LEVELS[(i + 2) % len(LEVELS)]) for i in range(10))


def all_rendered_docs() -> list[tuple[str, dict]]:
    out = []
    for (level, scoped), plan, kms in itertools.product(
        [*CASES, ("readOnly", LONG), ("admin", LONG), ("writeOnly", LONGEST)],
        ["standard", "archiveflexible"],
        [None, KEY_ARN],
    ):
        for doc in policy_docs(render_binding(level, scoped, plan=plan, kms=kms)):
            out.append((f"{case_id((level, scoped[:2]))}/{plan}/{bool(kms)}", doc))
    return out


DOCS = all_rendered_docs()


def test_parliament_finds_nothing_in_any_rendered_policy():
    for name, doc in DOCS:
        findings = parliament.analyze_policy_string(json.dumps(doc)).findings
        assert findings == [], (name, [(f.issue, f.detail) for f in findings])


def test_every_statement_stays_on_the_bucket_and_its_key():
    for name, doc in DOCS:
        assert len(json.dumps(doc, separators=(",", ":"))) <= MAX_POLICY_CHARS, name
        for s in doc["Statement"]:
            actions = _as_list(s.get("Action", s.get("NotAction")))
            assert not {"*", "s3:*", "iam:*", "kms:*"} & set(actions), name
            assert not any(a.startswith("iam:") for a in actions), name
            for r in _as_list(s["Resource"]):
                assert r in (BUCKET_ARN, KEY_ARN) or r.startswith(f"{BUCKET_ARN}/"), (name, r)
            if s["Effect"] == "Allow":
                assert "NotAction" not in s, name


@pytest.mark.parametrize(("level", "scoped"), [("readOnly", LONG), ("writeOnly", LONGEST)])
def test_ten_long_prefixes_render_a_valid_policy_set(level, scoped):
    rendered = render_binding(level, scoped, kms=KEY_ARN)
    docs = policy_docs(rendered)
    sizes = [len(json.dumps(d, separators=(",", ":"))) for d in docs]
    assert all(n <= MAX_POLICY_CHARS for n in sizes), sizes
    if scoped is LONGEST:
        assert len(docs) >= 2, sizes  # split: one policy would exceed AWS's limit
    attachments = [b for b in rendered.values() if b["kind"] == "UserPolicyAttachment"]
    assert len(attachments) == len(docs)
    for body in rendered.values():
        assert schemas.errors(body) == [], body["kind"]
    for op, key in itertools.product(OPS, [p + "k" for p, _ in scoped] + ["other"]):
        assert evaluate(docs, op, key) == expected(level, scoped, op, key), (op, key)
