"""The XRDs' CEL rules (``x-kubernetes-validations``), evaluated as the API server would.

tests/test_cel.py checks this evaluator, and the property tests use it to split generated
specs into valid and invalid ones, so it follows the API server's semantics closely enough for both:

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
from typing import Any

import celpy
from celpy import celtypes

from tests.support.xrds import xrd_schemas

VALIDATIONS = "x-kubernetes-validations"


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
    "split": lambda s, sep: celtypes.ListType(celtypes.StringType(p) for p in s.split(sep)),
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


ABSENT = object()


def holds(rule: str, new: Any, old: Any) -> bool:
    bindings = {"self": celpy.json_to_cel(new)}
    if old is not ABSENT:
        bindings["oldSelf"] = celpy.json_to_cel(old)
    try:
        result = program(rule).evaluate(bindings)
    except celpy.CELEvalError:
        return False
    return not isinstance(result, celpy.CELEvalError) and bool(result) is True


def _check(schema: dict, new: Any, old: Any, path: str, out: list[tuple[str, str]]) -> None:
    for r in schema.get(VALIDATIONS) or []:
        transition = "oldSelf" in r["rule"]
        if transition and old is ABSENT:
            continue
        if not holds(r["rule"], new, old if transition else ABSENT):
            out.append((path, r.get("message", r["rule"])))
    if isinstance(new, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for name, value in new.items():
            sub = props.get(name, extra if isinstance(extra, dict) else None)
            if sub is None or value is None:
                continue
            prior = old.get(name, ABSENT) if isinstance(old, dict) else ABSENT
            _check(sub, value, prior, f"{path}.{name}" if path else name, out)
    elif isinstance(new, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(new):
            _check(schema["items"], value, ABSENT, f"{path}[{i}]", out)


def violations(kind: str, new: dict, old: dict | None = None) -> list[tuple[str, str]]:
    """(path, message) of every CEL rule that ``new`` breaks (an update when ``old`` is given)."""
    schema = xrd_schemas()[kind]
    out: list[tuple[str, str]] = []
    prior = with_defaults(schema, old) if old is not None else ABSENT
    _check(schema, with_defaults(schema, new), prior, "", out)
    return out


def messages(kind: str, new: dict, old: dict | None = None) -> list[str]:
    return [m for _, m in violations(kind, new, old)]
