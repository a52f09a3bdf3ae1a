"""Every CEL rule (``x-kubernetes-validations``) of every XRD: each compiles, every example
passes, immutable fields are guarded, and the rules accept and reject what DESIGN says.

The evaluator (API server semantics, cel-python) is ``tests/support/cel.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from function import claims, fn, scheduledbackup
from function.regions import REGIONS
from tests.support.cel import ABSENT, holds, messages, program, rules, violations
from tests.support.xrds import claim_kinds, xrd_api_versions, xrd_schemas
from tools import xrender

# --------------------------------------------------------------------------- generic tests

RULES = rules()


@pytest.mark.parametrize("r", RULES, ids=lambda r: f"{r.kind}:{r.path or '<root>'}")
def test_every_rule_compiles(r):
    assert program(r.rule) is not None
    assert r.message, "every rule has a message a developer can act on"


def test_every_rendered_kind_has_an_xrd_with_rules():
    assert claim_kinds(), "no XRD for any kind in function.fn.RENDERERS"
    for api_version, kind in fn.RENDERERS:
        assert kind in xrd_schemas(), f"{kind} is rendered but has no XRD in xrds/"
        assert xrd_api_versions()[kind] == api_version, (
            f"{api_version}/{kind} is rendered but its XRD defines {xrd_api_versions()[kind]}"
        )


def example_xrs() -> list[tuple[str, dict]]:
    return [(ex.name, ex.xr) for ex in xrender.examples() if ex.xr["kind"] in xrd_schemas()]


@pytest.mark.parametrize(
    ("name", "xr"), example_xrs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_example_passes_every_rule_on_create_and_on_a_no_op_update(name, xr):
    kind = xr["kind"]
    assert violations(kind, xr) == []
    assert violations(kind, xr, copy.deepcopy(xr)) == []


def _immutable_paths(kind: str) -> set[str]:
    """Paths guarded by ``self == oldSelf`` in the kind's XRD."""
    return {r.path for r in RULES if r.kind == kind and r.rule.replace(" ", "") == "self==oldSelf"}


# DESIGN 5: immutable fields are guarded in the XRD (CEL ``self == oldSelf``).
IMMUTABLE = (
    "spec.region",
    "spec.parameters.encryption",
    "spec.config.region",
    "spec.config.encryption",
    "spec.restore",
)


def _declared(schema: dict, path: str) -> bool:
    node = schema
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return False
    return True


@pytest.mark.parametrize("kind", claim_kinds())
def test_immutable_fields_are_guarded_in_the_xrd(kind):
    schema = xrd_schemas()[kind]
    wanted = {p for p in IMMUTABLE if _declared(schema, p)}
    assert wanted <= _immutable_paths(kind), f"{kind}: missing self == oldSelf on {wanted}"


def _change(schema: dict, value: Any) -> Any:
    """A different value of the same shape (enum: another member)."""
    if "enum" in schema:
        return next(v for v in schema["enum"] if v != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x" if value else "x"
    if isinstance(value, dict) and value:
        name = sorted(value)[0]
        sub = (schema.get("properties") or {}).get(name, {})
        return {**value, name: _change(sub, value[name])}
    return {"changed": True}


def _at(doc: dict, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return ABSENT
        doc = doc[part]
    return doc


def _set(doc: dict, path: str, value: Any) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return doc


def _schema_at(schema: dict, path: str) -> dict:
    for part in path.split("."):
        schema = schema["properties"][part]
    return schema


def immutable_cases() -> list[tuple[str, str, dict]]:
    """(kind, path, example XR) for each guarded path an example sets."""
    out = []
    for _, xr in example_xrs():
        for path in sorted(_immutable_paths(xr["kind"])):
            if _at(xr, path) is not ABSENT:
                out.append((xr["kind"], path, xr))
    return out


@pytest.mark.parametrize(
    ("kind", "path", "xr"), immutable_cases(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_changing_a_guarded_field_of_an_example_is_rejected(kind, path, xr):
    schema = xrd_schemas()[kind]
    changed = _set(xr, path, _change(_schema_at(schema, path), _at(xr, path)))
    assert any(p == path for p, _ in violations(kind, changed, xr)), violations(kind, changed, xr)
    assert violations(kind, xr, xr) == []


# --------------------------------------------------------------------------- ObjectStorageInstance

S3 = "XObjectStorageInstance"
ARN = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def s3(**parameters) -> dict:
    spec = {"service": "aws-s3", "plan": "standard", "region": "eu-central-1"}
    if parameters:
        spec["parameters"] = parameters
    return {"apiVersion": "anynines.com/v1", "kind": S3, "spec": spec}


def kms(**key) -> dict:
    return {"type": "kms", "key": key}


needs_s3 = pytest.mark.skipif(S3 not in xrd_schemas(), reason="no ObjectStorageInstance XRD")


@needs_s3
@pytest.mark.parametrize(
    ("encryption", "message"),
    [
        ({"type": "aes256"}, None),
        ({}, None),  # type defaults to aes256
        (kms(managed={}), None),
        (kms(managed={"alias": "photos/key_1"}), None),
        (kms(existing={"id": ARN}), None),
        ({"type": "kms"}, "encryption.key is required when encryption.type is kms"),
        ({"type": "aes256", "key": {"managed": {}}}, "only allowed when encryption.type is kms"),
        (kms(), "set exactly one of encryption.key.managed or encryption.key.existing"),
        (
            kms(managed={}, existing={"id": ARN}),
            "set exactly one of encryption.key.managed or encryption.key.existing",
        ),
        (kms(managed={"alias": "aws/ebs"}), "alias must not start with aws/"),
        (kms(managed={"alias": "alias/x"}), "alias must not start with aws/"),
    ],
)
def test_s3_encryption_rules(encryption, message):
    found = messages(S3, s3(encryption=encryption))
    if message is None:
        assert found == []
    else:
        assert any(message in m for m in found), found


@needs_s3
@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("cost-center", True),
        ("Team Name_2", True),
        ("k" * 128, True),
        ("k" * 129, False),
        ("", False),
        ("a/b", False),
        ("100%", False),
        ("ümlaut", False),
        ("trailing-newline\n", False),  # RE2: '$' is the end of the text
    ],
)
def test_s3_tag_key_rule(key, ok):
    found = messages(S3, s3(tags={key: "v"}))
    assert (found == []) is ok, found


@needs_s3
@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ({"type": "aes256"}, kms(managed={}), "encryption is immutable"),
        (kms(managed={"alias": "a"}), kms(managed={"alias": "b"}), "encryption is immutable"),
        (kms(existing={"id": ARN}), kms(managed={}), "encryption is immutable"),
        (
            kms(existing={"id": ARN}),
            kms(existing={"id": ARN.replace("1234abcd", "9999abcd")}),
            "encryption is immutable",
        ),
        (kms(managed={}), None, "encryption cannot be added or removed after creation"),
        (None, {"type": "aes256"}, "encryption cannot be added or removed after creation"),
    ],
)
def test_s3_encryption_is_immutable(before, after, message):
    old = s3(encryption=before) if before is not None else s3()
    new = s3(encryption=after) if after is not None else s3()
    assert any(message in m for m in messages(S3, new, old)), messages(S3, new, old)
    assert messages(S3, old, old) == []


@needs_s3
def test_s3_region_is_immutable_but_other_fields_may_change():
    old = s3()
    moved = _set(old, "spec.region", "us-east-1")
    assert ("spec.region", "region is immutable") in violations(S3, moved, old)
    edited = _set(old, "spec.plan", "intelligent")
    edited["spec"]["parameters"] = {"tags": {"team": "a"}, "deletionPolicy": "EmptyBucketAndDelete"}
    assert violations(S3, edited, old) == []


def test_a_broken_rule_is_reported_not_crashed():
    # The evaluator counts an evaluation error (missing field) as a violation.
    assert not holds("self.missing == 1", {"present": 1}, ABSENT)
    assert holds("self.present == 1", {"present": 1}, ABSENT)


def pg(**config) -> dict:
    return {
        "apiVersion": "rds.aws.anynines.com/v1",
        "kind": "XPostgresqlInstance",
        "spec": {"serviceVersion": "16", "plan": "single-small", "config": config},
    }


@pytest.mark.parametrize(
    ("config", "ok"),
    [
        ({"backup": {"window": "03:00-03:30"}}, True),
        ({"backup": {"window": "23:45-00:15"}}, True),  # across midnight
        ({"backup": {"window": "03:00-03:29"}}, False),
        ({"backup": {"window": "00:00-00:00"}}, False),
        ({"maintenanceWindow": "sun:04:00-sun:05:00"}, True),
        ({"maintenanceWindow": "Sun:23:45-mon:00:15"}, True),  # across the week's end
        ({"maintenanceWindow": "mon:00:00-mon:00:29"}, False),
        ({"maintenanceWindow": "tue:10:00-tue:10:00"}, False),
    ],
)
def test_postgres_window_length_rules(config, ok):
    found = messages("XPostgresqlInstance", pg(**config))
    assert (found == []) is ok, found


# Issue 27 item 13: the XRD's cron rule is the function's shape (CRON_SHAPE, ASCII only).
def _scheduled(schedule: str) -> dict[str, Any]:
    return {"kind": "XScheduledBackup", "spec": {"instanceRef": "pg", "schedule": schedule}}


def test_the_cron_rule_is_the_functions_shape():
    (rule,) = [r for r in RULES if r.kind == "XScheduledBackup" and r.path == "spec.schedule"]
    # In the CEL string literal each backslash is doubled.
    assert f"'{scheduledbackup.CRON_SHAPE}'" in rule.rule.replace("\\\\", "\\"), rule.rule


@pytest.mark.parametrize(
    ("schedule", "ok"),
    [
        ("cron(0 5 ? * MON-FRI *)", True),
        ("cron(0 12 ? * MON#2 2025-2030)", True),
        ("cron(0 \u0665 ? * * *)", False),  # ARABIC-INDIC DIGIT FIVE
        ("cron(0 5 ? * * \uff12\uff10\uff12\uff15)", False),  # fullwidth digits
        ("cron(0\u20035 ? * * *)", False),  # EM SPACE
    ],
)
def test_cron_rule_takes_ascii_only_as_the_function_does(schedule, ok):
    found = messages("XScheduledBackup", _scheduled(schedule))
    assert (found == []) is ok, found
    assert (scheduledbackup.cron_error(schedule) is None) is ok


# Issue 27 item 13: a KMS key ARN's partition fits its region, in the XRD as in the function
# (claims.arn_partition_error over regions.REGIONS).
KEY_PATHS = {
    "XObjectStorageInstance": "spec.parameters.encryption.key.existing.id",
    "XPostgresqlInstance": "spec.config.encryption.key.existing.id",
}


@pytest.mark.parametrize("kind", sorted(KEY_PATHS))
def test_the_key_arn_partition_rule_is_the_functions(kind):
    (rule,) = [r for r in RULES if r.kind == kind and r.path == KEY_PATHS[kind]]
    key = "1234abcd-12ab-34cd-56ef-1234567890ab"
    for region in REGIONS:
        for arn_partition in sorted(set(REGIONS.values())):
            arn = f"arn:{arn_partition}:kms:{region}:000000000000:key/{key}"
            fits = claims.arn_partition_error(arn) == ""
            assert fits is (REGIONS[region] == arn_partition), arn
            assert holds(rule.rule, arn, ABSENT) is fits, arn


@pytest.mark.parametrize(
    ("before", "after", "ok"),
    [
        ("16.4", "16.6", True),
        ("16.4", "16.10", True),  # compared as numbers, not as text
        ("16.4", "16", True),
        ("16", "16.4", True),  # the function compares with the running minor
        ("16.6", "16.4", False),
        ("16", "15", False),
        ("16.4", "15.12", False),
        ("16", "17", True),  # a major upgrade in place (function/upgrade.py)
        ("16.8", "17.4", True),
        ("9", "10", True),  # majors compared as numbers
        ("14", "16", True),  # the function refuses a skipped major, naming the next one
        ("17", "16.8", False),
        ("10", "9", False),
    ],
)
def test_postgres_service_version_moves_forward(before, after, ok):
    """Issue 25 items 1 and 2: the XRD refuses what the function refuses whatever runs
    (function/postgresql.py ``version_move_refused``: downgrades); the function also compares
    with the version RDS reports running, and decides which newer major may start
    (function/upgrade.py ``refused``)."""
    xr = {"apiVersion": "rds.aws.anynines.com/v1", "kind": "XPostgresqlInstance"}
    old = {**xr, "spec": {"serviceVersion": before, "plan": "single-small"}}
    new = {**xr, "spec": {"serviceVersion": after, "plan": "single-small"}}
    found = [p for p, _ in violations("XPostgresqlInstance", new, old)]
    assert ("spec.serviceVersion" not in found) is ok, found
