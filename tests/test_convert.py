"""function/convert.py gives exactly what json_format and Struct.update give."""

from __future__ import annotations

import copy
import enum
import json
import math
from collections import OrderedDict

import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from function import convert
from function.core import dig, is_ready

SCALARS = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)
DOCS = st.dictionaries(st.text(max_size=8), JSON, max_size=6)


def reference_struct(doc: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(doc)
    return s


def as_json(value):
    """What a Struct makes of a Python value: every number a float."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


@settings(max_examples=150, deadline=None)
@given(DOCS)
def test_decode_equals_json_format(doc):
    s = json_format.ParseDict(doc, struct_pb2.Struct())
    got = convert.struct_to_dict(s)
    assert got == json_format.MessageToDict(s, preserving_proto_field_name=True)
    assert got == as_json(doc)
    # Same types too (1.0 == 1 == True in Python, so equality alone would not tell).
    want = json_format.MessageToDict(s)
    assert [type(v) for v in _leaves(got)] == [type(v) for v in _leaves(want)]


@settings(max_examples=150, deadline=None)
@given(DOCS)
def test_encode_equals_struct_update_and_round_trips(doc):
    s = convert.dict_to_struct(doc)
    assert s == reference_struct(doc)
    assert s.SerializeToString(deterministic=True) == reference_struct(doc).SerializeToString(
        deterministic=True
    )
    assert json_format.MessageToDict(s) == as_json(doc)
    assert convert.struct_to_dict(s) == as_json(doc)


@settings(max_examples=60, deadline=None)
@given(DOCS, DOCS)
def test_fill_replaces_existing_keys_like_update(first, second):
    ours, ref = convert.dict_to_struct(first), reference_struct(first)
    convert.fill_struct(ours, second)
    ref.update(second)
    assert ours == ref


def _leaves(value):
    if isinstance(value, dict):
        for _, v in sorted(value.items()):
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_empty_containers_are_present_not_unset():
    s = convert.dict_to_struct({"a": {}, "b": [], "c": [{}, []]})
    assert s == reference_struct({"a": {}, "b": [], "c": [{}, []]})
    assert s.fields["a"].WhichOneof("kind") == "struct_value"
    assert s.fields["b"].WhichOneof("kind") == "list_value"
    assert convert.struct_to_dict(s) == {"a": {}, "b": [], "c": [{}, []]}


def test_subclasses_and_tuples_encode_as_update_does():
    class Level(enum.StrEnum):
        READ = "readOnly"

    doc = {"e": Level.READ, "o": OrderedDict(x=1), "t": (1, "a"), "n": None, "b": True}
    assert convert.dict_to_struct(doc) == reference_struct(doc)
    assert convert.struct_to_dict(convert.dict_to_struct(doc)) == {
        "e": "readOnly",
        "o": {"x": 1.0},
        "t": [1.0, "a"],
        "n": None,
        "b": True,
    }


def test_unsupported_type_raises_value_error_like_update():
    with pytest.raises(ValueError):
        reference_struct({"x": object()})
    with pytest.raises(ValueError):
        convert.dict_to_struct({"x": object()})


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_raise_like_message_to_dict(number):
    s = struct_pb2.Struct()
    s.fields["x"].number_value = number
    with pytest.raises(ValueError):
        json_format.MessageToDict(s)
    with pytest.raises(ValueError):
        convert.struct_to_dict(s)


def test_unset_value_is_none_like_message_to_dict():
    s = struct_pb2.Struct()
    s.fields["x"]  # creates the entry with no kind set
    assert json_format.MessageToDict(s) == {"x": None}
    assert convert.struct_to_dict(s) == {"x": None}


CONDITION = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["Ready", "Synced", "Other"]) | SCALARS,
        "status": st.sampled_from(["True", "False", "Unknown"]) | SCALARS,
        "reason": st.text(max_size=5),
    },
)
OBSERVED = st.fixed_dictionaries(
    {},
    optional={
        "metadata": DOCS,
        "spec": DOCS,
        "status": st.fixed_dictionaries(
            {}, optional={"conditions": st.lists(CONDITION | SCALARS, max_size=4) | SCALARS}
        )
        | SCALARS,
    },
)


def _paths(doc, prefix=""):
    """Every dotted path into ``doc``, one step past each leaf, and one that is absent."""
    yield f"{prefix}absent"
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield f"{prefix}{key}"
            yield from _paths(value, f"{prefix}{key}.")


@settings(max_examples=150, deadline=None)
@given(OBSERVED)
def test_struct_view_and_its_dig_equal_struct_to_dict(doc):
    s = convert.dict_to_struct(doc)
    want = json_format.MessageToDict(s)
    view = convert.StructView(s)
    assert view == want
    assert dict(view) == want
    assert len(view) == len(want)
    assert sorted(view) == sorted(want)
    for key in ("metadata", "spec", "status", "absent"):
        assert (key in view) == (key in want)
        assert view.get(key) == want.get(key)
    for path in [*_paths(want), "status.conditions", "status.atProvider.arn", "metadata.x.y"]:
        assert dig(view, path) == dig(want, path), path
    assert s == convert.dict_to_struct(doc)  # reading never adds keys


@settings(max_examples=200, deadline=None)
@given(OBSERVED)
def test_condition_status_agrees_with_is_ready(doc):
    s = convert.dict_to_struct(doc)
    as_dict = json_format.MessageToDict(s)
    conditions = dig(as_dict, "status.conditions")
    if not isinstance(conditions, list):  # is_ready would iterate a string or fail on a number
        conditions = []
    first = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)
    assert convert.condition_status(s, "Ready") == (first.get("status") if first else None)
    if isinstance(dig(as_dict, "status.conditions"), list | type(None)):
        assert (convert.condition_status(s, "Ready") == "True") == is_ready(as_dict)
    assert s == convert.dict_to_struct(doc)


def test_struct_view_missing_key_raises_and_adds_nothing():
    s = convert.dict_to_struct({"spec": {"a": 1}})
    view = convert.StructView(s)
    with pytest.raises(KeyError):
        view["status"]
    with pytest.raises(KeyError):
        view[1]
    assert 1 not in view
    assert list(s.fields) == ["spec"]
    assert view["spec"] is view["spec"]  # converted once


@settings(max_examples=100, deadline=None)
@given(DOCS)
def test_keys_come_back_sorted_whatever_the_map_order(doc):
    s = convert.dict_to_struct(doc)
    again = copy.deepcopy(s)  # a copy may iterate its map in another order
    for one in (s, again):
        got = convert.struct_to_dict(one)
        assert list(got) == sorted(got)
        assert list(convert.StructView(one)) == sorted(got)
    assert json.dumps(convert.struct_to_dict(s)) == json.dumps(convert.struct_to_dict(again))
