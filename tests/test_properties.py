"""Property tests: any claim, valid or not, any request, however malformed, gets an answer.

Specs are generated from each kind's XRD OpenAPI schema (``xrds/``) by the small
schema -> strategy generator below, for every XR kind in ``function.fn.RENDERERS``;
a kind added later is covered as soon as it has an XRD. A generated spec is *valid*
when it passes the OpenAPI schema (checked with jsonschema) and every CEL rule
(evaluated with cel-python, see tests/support/cel.py).

Claims:
- every request gets a RunFunctionResponse, from ``fn.run`` and from the servicer alike,
  and no request ever reaches the function's last-resort ``internal error`` handler;
- an invalid spec gives a fatal result whose message names the offending ``spec.`` field;
- a valid spec gives no fatal result, and every rendered resource validates against its
  upstream CRD schema;
- the same request twice gives the same response bytes.

Each generated-spec property runs ``EXAMPLES`` (1,000) examples per kind with a fixed seed
(``derandomize``), so ``make test`` is reproducible; set ``HYPOTHESIS_PROFILE=explore``
to search with fresh randomness, ``quick`` for 50 examples while editing.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from typing import Any

import jsonschema
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from function import fn
from function.core import parse
from function.environment import Environment
from function.regions import REGIONS
from function.settings import Settings
from tests.support import environment as env
from tests.support import schemas
from tests.support.cel import violations
from tests.support.examples import (
    answer,
    example_xrs,
    examples_of,
    fn_input,
    render,
    render_primary_ready,
    required_candidates,
)
from tests.support.responses import desired, fatal_messages
from tests.support.xrds import claim_kinds, spec_schema, xrd_api_versions
from tools import xrender

EXAMPLES = 1000
_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
}
settings.register_profile("ci", max_examples=EXAMPLES, derandomize=True, **_COMMON)
settings.register_profile("explore", max_examples=EXAMPLES, **_COMMON)
settings.register_profile("quick", max_examples=50, **_COMMON)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
MALFORMED = settings(PROFILE, max_examples=EXAMPLES // 2)

KINDS = claim_kinds()


# --------------------------------------------------------------------------- examples per kind


def _refs(value: Any, path: tuple[str, ...], out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k.endswith("Ref") and k not in ("compositionRef", "claimRef"):
                out.setdefault((*path, k), []).append(v)
            else:
                _refs(v, (*path, k), out)


@functools.cache
def pinned(kind: str) -> dict[tuple[str, ...], list]:
    """Reference fields (``*Ref``) take the values the examples give, so they resolve."""
    out: dict[tuple[str, ...], list] = {}
    for ex in examples_of(kind):
        _refs(ex.xr.get("spec") or {}, ("spec",), out)
    return out


def claim_namespace(kind: str) -> str:
    for ex in examples_of(kind):
        return ex.xr["metadata"]["labels"]["crossplane.io/claim-namespace"]
    return "default"


# --------------------------------------------------------------------------- schema -> strategy

JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JUNK = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYISH = st.from_regex(r"[A-Za-z0-9 _-]{1,24}", fullmatch=True) | st.text(min_size=1, max_size=12)


def _string(schema: dict) -> st.SearchStrategy[str]:
    lo, hi = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        base = st.from_regex(schema["pattern"], fullmatch=True)
        return base.filter(lambda s: len(s) >= lo and (hi is None or len(s) <= hi))
    if schema.get("format") == "date-time":
        return st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
    short = st.text(min_size=lo, max_size=max(lo, min(hi or 24, 24)))
    longest = st.text(min_size=hi, max_size=hi) if hi else st.text(min_size=1000, max_size=3000)
    return short | longest


def _object(schema: dict, path: tuple[str, ...], kind: str) -> st.SearchStrategy[dict]:
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    extra = schema.get("additionalProperties")
    if props:
        return st.fixed_dictionaries(
            {k: valid(s, (*path, k), kind) for k, s in props.items() if k in required},
            optional={k: valid(s, (*path, k), kind) for k, s in props.items() if k not in required},
        )
    if isinstance(extra, dict):
        values = valid(extra, (*path, "*"), kind)
        most = schema.get("maxProperties")
        small = st.dictionaries(KEYISH, values, max_size=min(most or 5, 5))
        if not most:
            return small
        # Huge maps: exactly as many entries as the schema allows.
        keys = st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True)
        return small | st.dictionaries(keys, values, min_size=most, max_size=most)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return st.dictionaries(st.text(max_size=12), JUNK, max_size=4)
    return st.just({})


def api_version(kind: str) -> str:
    """The apiVersion of ``kind``'s XRs (its XRD's group and referenceable version)."""
    return xrd_api_versions()[kind]


@functools.cache
def _settings(kind: str) -> Settings:
    return parse(Settings, fn_input(kind), "input")


@functools.cache
def _environment() -> Environment:
    """The examples' EnvironmentConfig, which every render here reads."""
    return Environment.model_validate(env.example_data())


@functools.cache
def catalogue(kind: str) -> dict[tuple[str, ...], list[str]]:
    """Fields whose allowed values the operator defines (the XRD cannot list them)."""
    s = _settings(kind)
    return {
        ("spec", "plan"): sorted(s.postgresql.plans),
        # A major follows its newest minor; a minor is pinned: both are offered.
        ("spec", "serviceVersion"): sorted(
            {v for major, ver in s.postgresql.versions.items() for v in (major, *ver.minors)}
        ),
        # The environment's regions (the XRD offers every AWS region; the operator allows some;
        # a PostgreSQL instance also needs the region's network).
        ("spec", "region"): list(_environment().allowedRegions),
        ("spec", "config", "region"): _environment().postgresql_regions(),
    }


def catalogue_violations(kind: str, xr: dict) -> list[str]:
    """Fields of a spec that the operator's catalogue and settings refuse, though the XRD
    cannot (plans and what they allow are the operator's): the function must refuse them,
    naming the field."""
    e = _environment()
    if kind == "XScheduledBackup":
        spec = xr["spec"]
        out = []
        if spec.get("retentionDays", 7) > e.limits.scheduledBackupMaxRetentionDays:
            out.append("spec.retentionDays")
        return out
    if kind == "XObjectStorageInstance":
        region = xr["spec"].get("region")
        out = ["spec.region"] if region and region not in e.allowedRegions else []
        key = _existing_key(xr["spec"].get("parameters"))
        if key and not _key_fits(e, key, region):
            out.append("spec.parameters.encryption.key.existing.id")
        return out
    if kind != "XPostgresqlInstance":
        return []
    s = _settings(kind).postgresql
    spec = xr["spec"]
    plan = s.plans[spec["plan"]]
    config = spec.get("config") or {}
    compute = config.get("compute") or {}
    out = []
    if plan.cluster and config.get("multiAZ") is False:
        out.append("spec.config.multiAZ")
    count = (compute.get("replicas") or {}).get("count", plan.defaultReplicas)  # {}: the default
    if count > plan.maxReplicas:
        out.append("spec.config.compute.replicas.count")
    region = config.get("region") or e.defaultRegion
    if region not in e.postgresql_regions():
        out.append("spec.config.region")
    elif config.get("publiclyAccessible") and e.regions[region].publicNetwork is None:
        out.append("spec.config.publiclyAccessible")
    if (config.get("backup") or {}).get("retentionDays", 7) > (
        e.limits.automatedBackupMaxRetentionDays
    ):
        out.append("spec.config.backup.retentionDays")
    if compute.get("encryptedStorage") is False and not s.allowUnencryptedStorage:
        out.append("spec.config.compute.encryptedStorage")
    key = _existing_key(config)
    if key and not _key_fits(e, key, region):
        out.append("spec.config.encryption.key.existing.id")
    return out + _restore_violations(kind, spec)


def _existing_key(group: dict | None) -> str | None:
    """The ARN of ``<group>.encryption.key.existing.id``, if the claim names one."""
    key = ((group or {}).get("encryption") or {}).get("key") or {}
    return (key.get("existing") or {}).get("id")


def _key_fits(e, arn: str, region: str | None) -> bool:
    """An existing key is usable in its own region only (the ARN's fourth field), and only
    when the operator's EnvironmentConfig allows it (its account, its patterns)."""
    return arn.split(":")[3] == region and e.kms_key_allowed(arn)


# A restore's source (the Backup or PostgresqlInstance it names) fixes the region and the
# database of the new instance: those are known only from the required resources.
_RESTORE_SOURCES = {
    ("backup", "name"): ("XBackup", "spec.restore.backup.name"),
    ("pointInTime", "sourceInstanceRef"): (
        "XPostgresqlInstance",
        "spec.restore.pointInTime.sourceInstanceRef",
    ),
}


def _restore_violations(kind: str, spec: dict) -> list[str]:
    restore = spec.get("restore") or {}
    config = spec.get("config") or {}
    region = config.get("region") or _environment().defaultRegion
    database = (config.get("database") or {}).get("name", "app")
    out = []
    if restore and (config.get("encryption") or {}).get("key") is not None:
        out.append("spec.config.encryption.key")  # a restore keeps its source's key
    version = str(spec.get("serviceVersion"))
    for (mode, ref), (source_kind, field) in _RESTORE_SOURCES.items():
        name = (restore.get(mode) or {}).get(ref)
        if name is None:
            continue
        for doc in required_candidates(kind):
            labels = (doc.get("metadata") or {}).get("labels") or {}
            if doc["kind"] != source_kind or labels.get("crossplane.io/claim-name") != name:
                continue
            status = doc.get("status") or {}
            if status.get("region") != region:
                out.append(field)
            elif status.get("databaseName") not in (None, database):
                out.append("spec.config.database.name")
            # A restore starts at the source's version: its major, or that very minor.
            source = str(status.get("engineVersion") or "")
            if source and (
                version.split(".", maxsplit=1)[0] != source.split(".", maxsplit=1)[0]
                or ("." in version and version != source)
            ):
                out.append("spec.serviceVersion")
    return out


# Fields the function checks more strictly than the kind's XRD can or does; valid specs take
# the examples' values there (or omit the field). The XRD checks each window's length, the
# function also that the two do not overlap; the restore source needs the required resources (does
# the Backup exist, same region, time after creation), and reserved database names are a
# long list: both are the function's job.
XRD_GAPS: dict[str, set[tuple[str, ...]]] = {
    "XPostgresqlInstance": {
        ("spec", "config", "backup", "window"),
        ("spec", "config", "maintenanceWindow"),
        ("spec", "config", "database", "name"),
        ("spec", "restore"),
    },
}


@functools.cache
def _example_values(kind: str, path: tuple[str, ...]) -> list:
    out = []
    for ex in examples_of(kind):
        value: Any = ex.xr
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and value not in out:
            out.append(value)
    return out


def valid(schema: dict, path: tuple[str, ...], kind: str) -> st.SearchStrategy:
    """Values that pass ``schema`` (OpenAPI); CEL rules are checked afterwards."""
    if path in pinned(kind):
        return st.sampled_from(pinned(kind)[path])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if path in catalogue(kind):
        return st.sampled_from(catalogue(kind)[path])
    if path in XRD_GAPS.get(kind, ()):
        values = _example_values(kind, path)
        return st.sampled_from(values) if values else st.nothing()
    typ = schema.get("type")
    if typ == "object" or (typ is None and "properties" in schema):
        return _object(schema, path, kind)
    if typ == "string":
        return _string(schema)
    if typ == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if typ == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
    if typ == "boolean":
        return st.booleans()
    if typ == "array":
        items = valid(schema.get("items") or {}, (*path, "[]"), kind)
        lo, hi = schema.get("minItems", 0), schema.get("maxItems")
        return st.lists(items, min_size=lo, max_size=max(lo, min(hi or 4, 4))) | (
            st.lists(items, min_size=hi, max_size=hi) if hi else st.nothing()
        )
    return JUNK


def openapi_errors(kind: str, spec: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(spec_schema(kind))
    return [".".join(["spec", *map(str, e.absolute_path)]) for e in validator.iter_errors(spec)]


CLAIM_NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True)


@st.composite
def xrs(draw, kind: str, spec: st.SearchStrategy | None = None) -> dict:
    """An XR of ``kind`` as Crossplane makes it of a claim, with a generated spec."""
    name = draw(CLAIM_NAMES)
    uid = str(draw(st.uuids()))
    body = draw(spec if spec is not None else valid(spec_schema(kind), ("spec",), kind))
    return {
        "apiVersion": api_version(kind),
        "kind": kind,
        "metadata": {
            "name": f"{name[:240]}-{uid[:5]}",
            "uid": uid,
            "labels": {
                "crossplane.io/claim-name": name,
                "crossplane.io/claim-namespace": claim_namespace(kind),
            },
        },
        "spec": body,
    }


# --------------------------------------------------------------------------- upstream CRD errors


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schemas.schema_for(api_version, kind))


def crd_errors(doc: dict) -> list[str]:
    if doc["apiVersion"] == "v1":  # a core kind (the master Secret): no CRD
        return schemas.errors(doc)
    return [
        f"{doc['kind']} {'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator(doc["apiVersion"], doc["kind"]).iter_errors(doc)
    ]


def names_field(messages: list[str], paths: list[str]) -> bool:
    """Some fatal message names one of ``paths`` (or a field below it)."""
    return any(p in m for m in messages for p in paths)


# ------------------------------------------------------------------ valid and CEL-invalid specs


@pytest.mark.parametrize("kind", KINDS)
@PROFILE
@given(data=st.data())
def test_generated_specs_valid_render_and_invalid_fail_naming_the_field(kind, data):
    schemas.require_schemas()
    xr = data.draw(xrs(kind), label="xr")
    assert openapi_errors(kind, xr["spec"]) == [], "the generator must follow the OpenAPI schema"
    broken = violations(kind, xr)
    rsp = render(kind, xr)
    fatal = fatal_messages(rsp)
    if broken:
        assert fatal, f"CEL rejects {broken} but the function rendered it"
        assert names_field(fatal, [p for p, _ in broken]), (broken, fatal)
        assert not rsp.desired.resources
        return
    refused = catalogue_violations(kind, xr)
    if refused:
        assert fatal, f"the operator's catalogue refuses {refused} but the function rendered it"
        assert names_field(fatal, refused), (refused, fatal)
        assert not rsp.desired.resources
        return
    assert not fatal, fatal
    for body in desired(rsp).values():
        assert crd_errors(body) == []


# --------------------------------------------------------------------------- OpenAPI-invalid specs


def _sites(schema: dict, value: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], dict]]:
    """Every (path, schema) of a value present in the generated spec."""
    out = [(path, schema)]
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            if sub is not None:
                out += _sites(sub, v, (*path, k))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            out += _sites(schema["items"], v, (*path, str(i)))
    return out


# Values of another JSON type that pydantic's lax mode does not coerce either.
WRONG_TYPE = {
    "string": [12.5, True, [], {"a": "b"}],
    "integer": ["abc", 1.5, [], {}],
    "number": ["abc", [], {}],
    "boolean": ["maybe", 2.5, [], {}],
    "object": ["text", 3.0, [1]],
    "array": ["text", 3.0, {"a": 1}],
}


@st.composite
def mutation(draw, schema: dict, value: Any) -> tuple[tuple[str, ...], Any] | None:
    """(path, new value) breaking the OpenAPI schema at one place; None to drop the field."""
    typ = schema.get("type") or ("object" if "properties" in schema else None)
    options: list[Any] = list(WRONG_TYPE.get(typ, []))
    if "enum" in schema:
        first = str(schema["enum"][0])
        options += ["", "INVALID", first.upper(), first + " ", "ü" + first]
    if typ == "string" and "pattern" in schema:
        options += ["", "!!", "ü", "a" * 300, " " + str(value), "aws/x\n"]
    if typ == "string" and "maxLength" in schema:
        options.append("x" * (schema["maxLength"] + 1))
    if typ == "integer":
        if "minimum" in schema:
            options.append(schema["minimum"] - 1)
        if "maximum" in schema:
            options.append(schema["maximum"] + 1)
    if typ == "object" and "maxProperties" in schema:
        n = schema["maxProperties"] + 1
        options.append({f"key-{i}": "v" for i in range(n)})
    if typ == "array" and "maxItems" in schema and isinstance(value, list) and value:
        options.append(value + [value[0]] * (schema["maxItems"] + 1 - len(value)))
    return (
        draw(st.sampled_from(options)) if options else draw(st.sampled_from(WRONG_TYPE["object"]))
    )


def _replace(doc: dict, path: tuple[str, ...], new: Any) -> dict:
    doc = copy.deepcopy(doc)
    node: Any = doc
    for part in path[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = path[-1]
    if isinstance(node, list):
        node[int(last)] = new
    elif new is _DROP:
        del node[last]
    else:
        node[last] = new
    return doc


_DROP = object()


@pytest.mark.parametrize("kind", KINDS)
@PROFILE
@given(data=st.data())
def test_specs_breaking_the_openapi_schema_are_fatal_naming_the_field(kind, data):
    xr = data.draw(xrs(kind), label="valid xr")
    assume(not violations(kind, xr) and not catalogue_violations(kind, xr))
    spec = xr["spec"]
    sites = _sites(spec_schema(kind), spec, ("spec",))
    drops = [
        ((*p, r), None)
        for p, s in sites
        for r in s.get("required") or []
        if isinstance(_get(xr, p), dict) and r in _get(xr, p)
    ]
    choice = data.draw(st.sampled_from(sites + drops), label="site")
    path, sub = choice
    new = _DROP if sub is None else data.draw(mutation(sub, _get(xr, path)), label="new value")
    xr = {**xr, "spec": new} if path == ("spec",) else _replace(xr, path, new)
    bad = openapi_errors(kind, xr["spec"]) if "spec" in xr else ["spec"]
    assume(bad)
    rsp = render(kind, xr)
    fatal = fatal_messages(rsp)
    assert fatal, f"{'.'.join(path)} = {new!r} breaks the XRD but rendered"
    assert names_field(fatal, [*bad, ".".join(path)]), (bad, fatal)
    assert all(re.search(r"\b(spec|input)[.:]", m) for m in fatal), fatal
    assert not rsp.desired.resources


def _get(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc[int(part)] if isinstance(doc, list) else doc.get(part)
    return doc


# --------------------------------------------------------------------------- malformed requests


def _paths(doc: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path] if path else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*path, str(i)))
    return out


@st.composite
def junked(draw, doc: dict, times: int = 3) -> dict:
    """``doc`` with up to ``times`` values replaced by random JSON (nulls, unicode, lists...)."""
    for _ in range(draw(st.integers(1, times))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        doc = _replace(doc, path, draw(JUNK | st.text(min_size=5000, max_size=20000)))
    return doc


def observed_of(kind: str, xr: dict) -> list[dict]:
    """What the providers would report for a rendered XR: the desired resources, Ready."""
    rsp = fn.run(xrender.build_request(xr, fn_input(kind)))
    out = []
    for name, body in desired(rsp).items():
        meta = body.setdefault("metadata", {})
        meta.setdefault("annotations", {})[xrender.NAME_ANNOTATION] = name
        body["status"] = {
            "atProvider": {"arn": f"arn:aws:x:::{name}", "id": name},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        }
        out.append(body)
    return out


def _check_malformed(rsp: fnv1.RunFunctionResponse) -> None:
    for m in fatal_messages(rsp):
        assert re.search(r"\b(spec|input|metadata)\b|unsupported composite", m), m


@pytest.mark.parametrize("kind", KINDS)
@MALFORMED
@given(data=st.data())
def test_malformed_xr_observed_and_input_never_crash(kind, data):
    xr = data.draw(st.sampled_from(example_xrs(kind)), label="example")
    observed = observed_of(kind, xr)
    where = data.draw(st.sampled_from(["xr", "spec", "observed", "input", "all"]), label="where")
    if where in ("xr", "all"):
        xr = data.draw(junked(xr), label="xr")
    if where == "spec":
        xr = {**xr, "spec": data.draw(JUNK, label="spec")}
    if where in ("observed", "all") and observed:
        observed = [data.draw(junked(o), label="observed") for o in observed]
        for o in observed:  # keep them addressable, as Crossplane does
            o.setdefault("metadata", {})
            if not isinstance(o["metadata"], dict):
                o["metadata"] = {}
            annotations = o["metadata"].get("annotations")
            if not isinstance(annotations, dict):
                o["metadata"]["annotations"] = annotations = {}
            annotations.setdefault(xrender.NAME_ANNOTATION, "junk")
            if not isinstance(annotations[xrender.NAME_ANNOTATION], str):
                annotations[xrender.NAME_ANNOTATION] = "junk"
    fn_in = fn_input(kind)
    if where in ("input", "all"):
        fn_in = data.draw(junked({**fn_in, "defaultTags": {"a": "b"}}), label="input")
        if not isinstance(fn_in, dict):
            fn_in = {}
    if not isinstance(xr, dict):
        xr = {"junk": xr}
    req = xrender.build_request(xr, fn_in, observed, {})
    for name, items in data.draw(
        st.dictionaries(
            st.text(min_size=1, max_size=8), st.lists(JUNK_OBJ, max_size=2), max_size=2
        ),
        label="required",
    ).items():
        for item in items:
            req.required_resources[name].items.add().resource.update(item)
    for name in list(req.observed.resources)[:1]:
        req.observed.resources[name].connection_details["junk"] = data.draw(
            st.binary(max_size=64), label="bytes"
        )
    _check_malformed(answer(req))


JUNK_OBJ = st.dictionaries(st.text(max_size=12), JUNK, max_size=5)


def _bare(kind: str, **fields) -> fnv1.RunFunctionRequest:
    xr = {"apiVersion": api_version(kind), "kind": kind, "metadata": {"name": "x", "uid": "u"}}
    xr.update(fields)
    return xrender.build_request(xr, fn_input(kind))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "case",
    ["no-composite", "no-spec", "null-spec", "list-spec", "string-spec", "no-metadata", "huge"],
)
def test_malformed_requests_give_a_fatal_result_not_a_crash(kind, case):
    if case == "no-composite":
        req = fnv1.RunFunctionRequest()
        req.input.update(fn_input(kind))
    elif case == "no-spec":
        req = _bare(kind)
    elif case == "null-spec":
        req = _bare(kind, spec=None)
    elif case == "list-spec":
        req = _bare(kind, spec=[1, "two"])
    elif case == "string-spec":
        req = _bare(kind, spec="x" * 100_000)
    elif case == "no-metadata":
        xr = copy.deepcopy(example_xrs(kind)[0])
        del xr["metadata"]
        req = xrender.build_request(xr, fn_input(kind))
    else:
        xr = copy.deepcopy(example_xrs(kind)[0])
        xr["metadata"]["name"] = "n" * 100_000
        xr["metadata"]["labels"]["crossplane.io/claim-name"] = "ü" * 100_000
        req = xrender.build_request(xr, fn_input(kind))
    rsp = answer(req)
    _check_malformed(rsp)
    if case in ("no-composite", "no-spec", "null-spec", "list-spec", "string-spec"):
        (msg,) = fatal_messages(rsp)
        assert msg.startswith("spec") or "unsupported composite resource nothing" in msg, msg


# --------------------------------------------------------------------------- found by the above


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "metadata",
    [
        "junk",
        {"name": "x", "labels": ["a"]},
        {"name": "x", "labels": "l", "uid": 5.0},
        {"name": "x", "uid": {"\x97": None, "b": None}, "labels": {"a": "b"}},
    ],
)
def test_junk_metadata_is_answered_not_an_internal_error(kind, metadata):
    # Request.claim_name/claim_namespace called .get on non-objects (AttributeError), and
    # Request.uid was str() of an object: names changed with its key order.
    xr = copy.deepcopy(example_xrs(kind)[0])
    xr["metadata"] = metadata
    _check_malformed(answer(xrender.build_request(xr, fn_input(kind))))


def test_junk_api_version_gives_the_same_bytes_every_time():
    # The message echoed str(dict); a Struct's key order differs between copies.
    xr = {"apiVersion": {"": None, "0": None, "2": None}, "kind": {"b": 1, "a": 2}}
    rsp = answer(xrender.build_request(xr, {}))
    (msg,) = fatal_messages(rsp)
    assert "unsupported composite resource" in msg


REGION_FIELDS = (("region",), ("config", "region"))


def _schema_at(schema: dict, path: tuple[str, ...]) -> dict | None:
    for part in path:
        schema = (schema.get("properties") or {}).get(part)
        if schema is None:
            return None
    return schema


def _region_enum_cases() -> list:
    out = []
    for kind in KINDS:
        for path in REGION_FIELDS:
            if _schema_at(spec_schema(kind), path) is not None:
                out.append(pytest.param(kind, path, id=f"{kind}-spec.{'.'.join(path)}"))
    return out


@pytest.mark.parametrize(("kind", "path"), _region_enum_cases())
def test_the_xrd_accepts_exactly_the_regions_the_function_accepts(kind, path):
    # Found by the generator: an XRD-valid spec must not be rejected by the function.
    assert _schema_at(spec_schema(kind), path).get("enum") == list(REGIONS)


def test_every_kind_with_a_region_is_checked():
    kinds = {p.values[0] for p in _region_enum_cases()}
    assert {"XObjectStorageInstance", "XPostgresqlInstance"} <= kinds


_PG = "XPostgresqlInstance"


@pytest.mark.skipif(_PG not in KINDS, reason="no PostgresqlInstance yet")
@pytest.mark.parametrize(
    "config",
    [{"backup": {"window": "00:00-00:00"}}, {"maintenanceWindow": "mon:00:00-mon:00:00"}],
    ids=["backup-window", "maintenance-window"],
)
def test_postgres_xrd_rejects_windows_the_function_rejects(config):
    xr = copy.deepcopy(example_xrs(_PG)[0])
    xr["spec"]["config"] = config
    assert fatal_messages(render(_PG, xr)), "precondition: the function rejects it"
    assert openapi_errors(_PG, xr["spec"]) or violations(_PG, xr)


@pytest.mark.skipif(_PG not in KINDS, reason="no PostgresqlInstance yet")
def test_replicas_without_a_count_take_the_plans_default():
    # Found by the generator: the XRD (and the Klutch docs) let count be omitted, the function
    # required it. Without it a cluster plan gets its default number of read replicas.
    xr = copy.deepcopy(example_xrs(_PG)[0])
    xr["spec"]["plan"] = "cluster-nano"
    xr["spec"]["config"] = {"compute": {"replicas": {}}}
    assert not openapi_errors(_PG, xr["spec"]) and not violations(_PG, xr)
    rsp = render_primary_ready(_PG, xr)  # replicas come once the primary is Ready
    assert not fatal_messages(rsp), fatal_messages(rsp)
    default = _settings(_PG).postgresql.plans["cluster-nano"].defaultReplicas
    assert default >= 1
    assert {k for k in desired(rsp) if k.startswith("replica-")} == {
        f"replica-{i}" for i in range(1, default + 1)
    }
