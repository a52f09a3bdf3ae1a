"""What the function keeps between calls (``function/memo.py``) never changes an answer.

``fn.py`` keeps converted observed and required resources by their bytes, ``core.parse``
keeps validated specs by their JSON text. Every answer given with
them must be byte for byte the answer of a fresh process (``fn.clear_memos``); the property
tests check that on every generated request (``tests/support/examples.answer``), these tests
on the calls a claim really gets: every call of a step, then each composed resource's status
changing in turn (what a claim at work is asked after its first reconcile).
"""

from __future__ import annotations

import copy
import tracemalloc

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn
from function.memo import Memo
from tests.support.responses import render_local
from tools import xrender


def _bytes(rsp: fnv1.RunFunctionResponse) -> bytes:
    return rsp.SerializeToString(deterministic=True)


def _fresh(req: fnv1.RunFunctionRequest) -> bytes:
    fn.clear_memos()
    return _bytes(fn.run(copy.deepcopy(req)))


def _status_updates(req: fnv1.RunFunctionRequest) -> list[fnv1.RunFunctionRequest]:
    """The request again after each composed resource's status changed, one at a time."""
    out = []
    for i, name in enumerate(sorted(req.observed.resources)):
        changed = copy.deepcopy(req)
        status = changed.observed.resources[name].resource.fields["status"].struct_value
        status.fields["atProvider"].struct_value.fields["memoTest"].string_value = f"v{i}"
        changed.meta.tag = f"changed-{i}"
        out.append(changed)
    return out


@pytest.mark.parametrize("ex", xrender.examples(), ids=lambda e: e.name)
def test_answers_with_what_is_kept_are_the_answers_of_a_fresh_process(ex):
    asked: list[fnv1.RunFunctionRequest] = []
    xrender.render(fn.run, ex, on_call=lambda req, _rsp: asked.append(req))
    calls = asked + _status_updates(asked[-1])
    warm = []
    fn.clear_memos()
    for req in calls:  # in order, as Crossplane asks: each call finds what the last kept
        warm.append(_bytes(fn.run(req)))
    assert warm == [_fresh(req) for req in calls]


def test_a_kept_resource_is_not_changed_by_the_render_that_reads_it():
    """Renderers get the kept objects themselves: none may write into them."""
    ex = next(e for e in xrender.examples() if e.xr["kind"] == "XPostgresqlInstance")
    asked: list[fnv1.RunFunctionRequest] = []
    xrender.render(fn.run, ex, on_call=lambda req, _rsp: asked.append(req))
    fn.clear_memos()
    req = asked[-1]
    observed = fn._observed(req)
    before = {n: copy.deepcopy(dict(o.resource)) for n, o in observed.items()}
    fn.run(req)
    fn.run(req)
    assert {n: dict(o.resource) for n, o in fn._observed(req).items()} == before


def test_the_memo_keeps_the_most_recently_used_within_its_bound():
    memo: Memo[str] = Memo(max_bytes=30)
    memo.put(b"a", "A", 10)
    memo.put(b"b", "B", 10)
    memo.put(b"c", "C", 10)
    assert memo.get(b"a") == "A"  # now the most recently used
    memo.put(b"d", "D", 10)  # evicts b, the least recently used
    assert (memo.get(b"a"), memo.get(b"b"), memo.get(b"c"), memo.get(b"d")) == ("A", None, "C", "D")
    assert memo.size <= memo.max_bytes
    memo.put(b"huge", "H", 31)  # larger than the bound: never kept
    assert memo.get(b"huge") is None
    assert Memo[str](max_bytes=0).get(b"a") is None


def _convert_all(req: fnv1.RunFunctionRequest) -> None:
    """Read every observed resource (``fn._observed`` converts each when first read)."""
    observed = fn._observed(req)
    for name in observed:
        _ = observed[name]


def test_what_the_observed_memo_holds_is_within_what_it_is_charged():
    """Distinct observed resources through the memo until it evicts: what tracemalloc sees
    it hold stays within its accounted size (RESOURCE_COST_FACTOR times the bytes)."""
    ex = next(e for e in xrender.examples() if e.xr["kind"] == "XPostgresqlInstance")
    req = copy.deepcopy(xrender.build_request(ex.xr, xrender.function_input(ex.composition)))
    for name, desired in render_local(
        ex.xr, xrender.function_input(ex.composition)
    ).desired.resources.items():
        req.observed.resources[name].resource.CopyFrom(desired.resource)
    fn.clear_memos()
    _convert_all(req)  # the code path's own allocations
    fn.clear_memos()
    requests = []
    for i in range(400):
        other = copy.deepcopy(req)
        for r in other.observed.resources.values():
            r.resource.fields["status"].struct_value.fields["n"].number_value = i
        requests.append(other)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for other in requests:
        _convert_all(other)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    memo = fn._OBSERVED
    assert memo.size <= memo.max_bytes
    assert len(memo) < 400 * len(req.observed.resources), "the bound evicted"
    assert held <= memo.size + 64 * 1024, (held, memo.size, len(memo))
    fn.clear_memos()
