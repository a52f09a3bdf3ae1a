"""Every CEL rule (``x-kubernetes-validations``) of every XRD, evaluated as the API server would.

The evaluator here is the one the property tests use to split generated specs into
valid and invalid ones, so it follows the API server's semantics closely enough for both:

- structural defaults (``default``) are applied first, as the API server does on write;
- a rule is evaluated at the node that declares it, with ``self`` bound to that node's
  value, and only when the value is present;
- a transition rule (one that mentions ``oldSelf``) is evaluated only on an update and only
  when the old object has a value at the same place (list items are not correlated).

CEL library: ``cel-python==0.5.0`` (a dev dependency), imported as ``celpy``. Usage:
``env = celpy.Environment(); prg = env.program(env.compile(rule));
prg.evaluate({"self": celpy.json_to_cel(value)})``. It implements ``matches`` with RE2
(``google-re2``), as Kubernetes does, so ``$`` does not match before a trailing newline.
An evaluation error comes back as (or is raised as) ``celpy.CELEvalError``; the API
server rejects the object then too, so we count it as a violation.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import pytest
from celpy import celtypes

from function import fn
from tools import xrender

ROOT = Path(__file__).resolve().parent.parent
XRDS = ROOT / "xrds"
VALIDATIONS = "x-kubernetes-validations"


# --------------------------------------------------------------------------- XRDs


@functools.cache
def xrd_api_versions() -> dict[str, str]:
    """XR kind -> apiVersion (group/referenceable version) its XRD defines."""
    out = {}
    for path in sorted(XRDS.glob("*.yaml")):
        for doc in xrender.load_all(path):
            if doc.get("kind") != "CompositeResourceDefinition":
                continue
            versions = doc["spec"]["versions"]
            version = next((v for v in versions if v.get("referenceable")), versions[0])
            out[doc["spec"]["names"]["kind"]] = f"{doc['spec']['group']}/{version['name']}"
    return out


@functools.cache
def xrd_schemas() -> dict[str, dict]:
    """XR kind -> openAPIV3Schema of its referenceable version, for every XRD in xrds/."""
    out = {}
    for path in sorted(XRDS.glob("*.yaml")):
        for doc in xrender.load_all(path):
            if doc.get("kind") != "CompositeResourceDefinition":
                continue
            versions = doc["spec"]["versions"]
            version = next((v for v in versions if v.get("referenceable")), versions[0])
            out[doc["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return out


def claim_kinds() -> list[str]:
    """The XR kinds the function renders that have an XRD (all of them, once written)."""
    return sorted(kind for _, kind in fn.RENDERERS if kind in xrd_schemas())


@dataclass(frozen=True)
class Rule:
    kind: str
    path: str  # dotted path of the node that declares the rule ("" is the root)
    rule: str
    message: str

    @property
    def transition(self) -> bool:
        return "oldSelf" in self.rule


def _walk(schema: dict, path: str) -> Iterator[tuple[str, dict]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}" if path else name)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk(extra, f"{path}.*")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")


def rules() -> list[Rule]:
    return [
        Rule(kind, path, r["rule"], r.get("message", r["rule"]))
        for kind, schema in sorted(xrd_schemas().items())
        for path, node in _walk(schema, "")
        for r in node.get(VALIDATIONS) or []
    ]


# --------------------------------------------------------------------------- evaluator

_ENV = celpy.Environment()


def _substring(s: celtypes.StringType, start: Any, end: Any = None) -> celtypes.StringType:
    return celtypes.StringType(s[int(start) :] if end is None else s[int(start) : int(end)])


# The parts of the Kubernetes CEL strings library our XRDs use, which cel-python lacks.
K8S_STRING_FUNCTIONS = {
    "substring": _substring,
    "lowerAscii": lambda s: celtypes.StringType(s.lower()),
}


@functools.cache
def program(rule: str) -> celpy.Runner:
    return _ENV.program(_ENV.compile(rule), functions=K8S_STRING_FUNCTIONS)


def with_defaults(schema: dict, value: Any) -> Any:
    """``value`` with the schema's defaults filled in, as the API server stores it."""
    if isinstance(value, dict):
        out = dict(value)
        props = schema.get("properties") or {}
        for name, sub in props.items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = with_defaults(sub, out[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in list(out.items()):
                if name not in props:
                    out[name] = with_defaults(extra, item)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(schema["items"], v) for v in value]
    return value


_ABSENT = object()


def _holds(rule: str, new: Any, old: Any) -> bool:
    bindings = {"self": celpy.json_to_cel(new)}
    if old is not _ABSENT:
        bindings["oldSelf"] = celpy.json_to_cel(old)
    try:
        result = program(rule).evaluate(bindings)
    except celpy.CELEvalError:
        return False
    return not isinstance(result, celpy.CELEvalError) and bool(result) is True


def _check(schema: dict, new: Any, old: Any, path: str, out: list[tuple[str, str]]) -> None:
    for r in schema.get(VALIDATIONS) or []:
        transition = "oldSelf" in r["rule"]
        if transition and old is _ABSENT:
            continue
        if not _holds(r["rule"], new, old if transition else _ABSENT):
            out.append((path, r.get("message", r["rule"])))
    if isinstance(new, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for name, value in new.items():
            sub = props.get(name, extra if isinstance(extra, dict) else None)
            if sub is None or value is None:
                continue
            prior = old.get(name, _ABSENT) if isinstance(old, dict) else _ABSENT
            _check(sub, value, prior, f"{path}.{name}" if path else name, out)
    elif isinstance(new, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(new):
            _check(schema["items"], value, _ABSENT, f"{path}[{i}]", out)


def violations(kind: str, new: dict, old: dict | None = None) -> list[tuple[str, str]]:
    """(path, message) of every CEL rule that ``new`` breaks (an update when ``old`` is given)."""
    schema = xrd_schemas()[kind]
    out: list[tuple[str, str]] = []
    prior = with_defaults(schema, old) if old is not None else _ABSENT
    _check(schema, with_defaults(schema, new), prior, "", out)
    return out


def messages(kind: str, new: dict, old: dict | None = None) -> list[str]:
    return [m for _, m in violations(kind, new, old)]


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
            return _ABSENT
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
            if _at(xr, path) is not _ABSENT:
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
    assert not _holds("self.missing == 1", {"present": 1}, _ABSENT)
    assert _holds("self.present == 1", {"present": 1}, _ABSENT)


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
