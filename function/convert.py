"""Fast protobuf Struct <-> Python conversion for the hot path of every RunFunction.

``crossplane.function.resource.struct_to_dict`` goes through ``json_format.MessageToDict``
and ``Struct.update`` through ``well_known_types``: both generic, both several times slower
than a direct walk. These functions give the same results (``tests/test_convert.py`` checks
them against ``json_format`` and ``Struct.update``):

- keys come back sorted (``MessageToDict`` gives the map's arbitrary order);
- numbers come back as ``float`` (a Struct carries every number as a double); NaN and
  infinity raise ``ValueError``, as ``MessageToDict`` does;
- an unset Value and ``null_value`` become ``None``;
- encoding accepts what ``Struct.update`` accepts (dict, list, tuple, str, bool, int, float,
  None, and subclasses of those) and raises ``ValueError`` on anything else.

``StructView`` goes further for observed composed resources, of which a renderer reads a few
fields: a read-only Mapping over the Struct that converts a top-level field (``metadata``,
``spec``, ``status``) to plain Python only when it is first read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf import struct_pb2

_which = struct_pb2.Value.WhichOneof


def value_to_py(v: struct_pb2.Value) -> Any:
    """One protobuf Value as a plain Python value."""
    kind = _which(v, "kind")
    if kind == "string_value":
        return v.string_value
    if kind == "struct_value":
        return _dict(v.struct_value.fields)
    if kind == "list_value":
        return [value_to_py(x) for x in v.list_value.values]
    if kind == "bool_value":
        return v.bool_value
    if kind == "number_value":
        n = v.number_value
        if math.isinf(n) or math.isnan(n):
            raise ValueError(f"cannot convert {n} in a Struct to JSON")
        return n
    return None  # null_value, or nothing set


def _dict(fields: Any) -> dict[str, Any]:
    # Keys + lookup (a map's .items() is a slow Python view); strings and nested structs,
    # most of any Kubernetes object, without a call per value. Sorted keys: a protobuf map
    # has no order (a copy of the same request can iterate differently), a dict has one, and
    # renderers iterate dicts (error messages, statements): same request, same bytes.
    out = {}
    for k in sorted(fields):
        v = fields[k]
        kind = _which(v, "kind")
        if kind == "string_value":
            out[k] = v.string_value
        elif kind == "struct_value":
            out[k] = _dict(v.struct_value.fields)
        else:
            out[k] = value_to_py(v)
    return out


def struct_to_dict(s: struct_pb2.Struct) -> dict[str, Any]:
    """Same result as ``json_format.MessageToDict(s)``, several times faster."""
    return _dict(s.fields)


def _set(v: struct_pb2.Value, value: Any) -> None:
    t = type(value)
    if t is str:
        v.string_value = value
    elif t is dict:
        if value:
            _fill(v.struct_value.fields, value)
        else:
            v.struct_value.Clear()  # marks the (empty) struct as set
    elif t is bool:
        v.bool_value = value
    elif t is int or t is float:
        v.number_value = value
    elif t is list or t is tuple:
        if value:
            add = v.list_value.values.add
            for item in value:
                _set(add(), item)
        else:
            v.list_value.Clear()
    elif value is None:
        v.null_value = struct_pb2.NULL_VALUE
    else:
        _set_other(v, value)


def _fill(fields: Any, source: Mapping[str, Any]) -> None:
    # Into an empty map. Strings and non-empty dicts without a call per value.
    for key, value in source.items():
        t = type(value)
        if t is str:
            fields[key].string_value = value
        elif t is dict and value:
            _fill(fields[key].struct_value.fields, value)
        else:
            _set(fields[key], value)


def _set_other(v: struct_pb2.Value, value: Any) -> None:
    """Subclasses (a str enum, an OrderedDict, ...), in ``Struct.update``'s order."""
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, str):
        v.string_value = value
    elif isinstance(value, int | float):
        v.number_value = value
    elif isinstance(value, dict | struct_pb2.Struct):
        v.struct_value.Clear()
        v.struct_value.update(value)  # type: ignore[arg-type]  # a Struct has items() too
    elif isinstance(value, list | tuple | struct_pb2.ListValue):
        v.list_value.Clear()
        v.list_value.extend(value)
    else:
        raise ValueError("Unexpected type")


def fill_struct(s: struct_pb2.Struct, source: Mapping[str, Any]) -> None:
    """``s.update(source)``, several times faster."""
    fields = s.fields
    if len(fields):  # replace, never merge into, a value that is already there
        for key in source:
            if key in fields:
                del fields[key]
    _fill(fields, source)


def dict_to_struct(source: Mapping[str, Any]) -> struct_pb2.Struct:
    """A new Struct holding ``source`` (JSON-like values), as ``fill_struct`` fills it."""
    s = struct_pb2.Struct()
    fill_struct(s, source)
    return s


class StructView(Mapping[str, Any]):
    """A read-only Mapping over a Struct; each top-level value is converted on first access.

    Equal to ``struct_to_dict(s)`` (``==``, iteration, ``get``, ``in``); the values it returns
    are plain dicts, lists and scalars. It never adds keys to the Struct.
    """

    __slots__ = ("_done", "_fields")

    def __init__(self, s: struct_pb2.Struct) -> None:
        self._fields = s.fields
        self._done: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        done = self._done
        if key in done:
            return done[key]
        if not isinstance(key, str) or key not in self._fields:
            raise KeyError(key)
        value = done[key] = value_to_py(self._fields[key])
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._fields

    def dig(self, path: str) -> Any:
        """``core.dig(self, path)``, walking the Struct and converting only the value found:
        ``status.atProvider.arn`` of a resource without converting all of its status."""
        fields = self._fields
        *parents, last = path.split(".")
        for part in parents:
            fields = _field(fields, part, "struct_value")
            if fields is None:
                return None
            fields = fields.fields
        return value_to_py(fields[last]) if last in fields else None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._fields))

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"StructView({dict(self)!r})"


def _field(fields: Any, key: str, kind: str) -> Any:
    """``fields[key]`` if it is there and of that kind, else None (never adds the key)."""
    if key not in fields:
        return None
    v = fields[key]
    return getattr(v, kind) if _which(v, "kind") == kind else None


def condition_status(s: struct_pb2.Struct, typ: str) -> Any:
    """``status`` of the first ``status.conditions`` entry of type ``typ``, read in place.

    None when there is no such condition. Same answer as walking ``struct_to_dict(s)``.
    """
    status = _field(s.fields, "status", "struct_value")
    conditions = _field(status.fields, "conditions", "list_value") if status else None
    if conditions is None:
        return None
    for c in conditions.values:
        if _which(c, "kind") != "struct_value":
            continue
        fields = c.struct_value.fields
        if _field(fields, "type", "string_value") == typ:
            return value_to_py(fields["status"]) if "status" in fields else None
    return None
