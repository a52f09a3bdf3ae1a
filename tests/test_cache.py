"""The answer cache: a request equal to one already answered gets that answer, never another.

Crossplane computes a step's request tag once, before its required-resources loop, and sends
that tag with every call of the loop (crossplane v2.3.4
``internal/controller/apiextensions/composite/composition_functions.go`` ``Compose``,
``internal/xfn/required_resources.go`` ``FetchingFunctionRunner.RunFunction``; see
``tools/xfn.py``). A cache keyed by the tag would answer the loop's second call, which
carries the required resources, with the first call's "waiting" answer.
"""

from __future__ import annotations

import asyncio
import copy
import tracemalloc

import pytest
from click.testing import CliRunner
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, main, postgresql
from function.cache import (
    DEFAULT_MAX_BYTES,
    ResponseCache,
    entry_cost,
    request_key,
)
from tools import xfn, xrender


def _call(runner: fn.FunctionRunner, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    return asyncio.run(runner.RunFunction(req))


def _bytes(rsp: fnv1.RunFunctionResponse) -> bytes:
    return rsp.SerializeToString(deterministic=True)


def _example(kind: str) -> xrender.Example:
    return next(e for e in xrender.examples() if e.xr["kind"] == kind)


def _requests(
    n: int, ex: xrender.Example | None = None, required: dict | None = None
) -> list[fnv1.RunFunctionRequest]:
    """``n`` distinct requests for an example, as Crossplane would tag them (``required``:
    what Crossplane found for the function's requirements)."""
    ex = ex or xrender.examples()[0]
    out = []
    for i in range(n):
        xr = copy.deepcopy(ex.xr)
        xr.setdefault("metadata", {})["resourceVersion"] = str(100 + i)
        fn_input = xrender.function_input(ex.composition)
        out.append(xrender.build_request(xr, fn_input, ex.observed, required))
    return out


def _step_calls(ex: xrender.Example) -> list[fnv1.RunFunctionRequest]:
    """Every request of one pipeline step as Crossplane's runner sends them."""
    asked: list[fnv1.RunFunctionRequest] = []
    xrender.render(fn.run, ex, on_call=lambda req, _rsp: asked.append(req))
    return asked


@pytest.mark.parametrize("ex", xrender.examples(), ids=lambda e: e.name)
def test_every_call_of_a_step_gets_the_answer_rendered_for_it(ex):
    """Each call of the step (requirement rounds included), asked twice: the cached answer
    is byte for byte the uncached one, and the repeat is answered from the cache."""
    runner = fn.FunctionRunner()
    asked = _step_calls(ex)
    for req in asked + asked:
        assert _bytes(_call(runner, req)) == _bytes(fn.run(req))
    distinct = len({request_key(r) for r in asked})
    assert (runner.cache.misses, runner.cache.hits) == (distinct, 2 * len(asked) - distinct)


@pytest.mark.parametrize("ex", xrender.examples()[:3], ids=lambda e: e.name)
def test_the_bytes_api_answers_as_the_message_api_and_sends_a_kept_answer_as_kept(ex):
    """The server's v1 path (``RunFunctionBytes``): the same answers as the message API; a
    repeat is the kept bytes object itself (never parsed and serialized again) and a new
    answer is serialized once."""
    runner = fn.FunctionRunner()
    for req in _step_calls(ex):
        first = asyncio.run(runner.RunFunctionBytes(req.SerializeToString(), None))
        assert _bytes(fnv1.RunFunctionResponse.FromString(first)) == _bytes(fn.run(req))
        again = asyncio.run(runner.RunFunctionBytes(req.SerializeToString(), None))
        assert again is first
    off = fn.FunctionRunner(cache_bytes=0)
    req = _step_calls(ex)[-1]
    assert off.answer_bytes(req) == runner.answer_bytes(req)
    assert len(off.cache) == 0


def test_the_calls_of_one_step_share_a_tag_but_not_an_answer():
    """The stale-answer defect: keyed by tag, the second call (instance XR filled in) got the
    first call's answer (then 'waiting for ObjectStorageInstance'; now only its requirements)."""
    asked = _step_calls(_example("XObjectStorageBinding"))
    assert len(asked) >= 2
    assert len({r.meta.tag for r in asked}) == 1, "Crossplane tags a step once"
    runner = fn.FunctionRunner()
    answers = [_call(runner, r) for r in asked]
    assert answers[0].requirements.resources and not answers[0].desired.resources
    assert not any("waiting" in r.message for r in answers[-1].results)
    assert answers[-1].desired.resources, "the filled-in call renders the binding"
    assert runner.cache.hits == 0


def test_an_answer_is_never_served_for_a_request_with_other_content_and_the_same_tag():
    runner = fn.FunctionRunner()
    a, b = _requests(2)
    b.meta.tag = a.meta.tag
    _call(runner, a)
    assert _bytes(_call(runner, b)) == _bytes(fn.run(b))
    assert (runner.cache.misses, runner.cache.hits) == (2, 0)


def test_an_empty_request_with_a_victims_tag_gets_nothing_of_the_victim():
    victim = xrender.render(fn.run, _example("XObjectStorageBinding"))
    assert victim.desired.composite.connection_details, "the victim's answer holds a key"
    runner = fn.FunctionRunner()
    asked = _step_calls(_example("XObjectStorageBinding"))
    for req in asked:
        _call(runner, req)
    thief = fnv1.RunFunctionRequest()
    thief.meta.tag = asked[-1].meta.tag
    got = _call(runner, thief)
    assert not got.desired.composite.connection_details
    assert got.results[0].severity == fnv1.SEVERITY_FATAL
    assert runner.cache.hits == 0


def test_the_same_content_with_another_tag_is_answered_with_that_tag():
    runner = fn.FunctionRunner()
    req = _requests(1)[0]
    other = fnv1.RunFunctionRequest()
    other.CopyFrom(req)
    other.meta.tag = "hello"
    _call(runner, req)
    assert _call(runner, other).meta.tag == "hello"
    assert _bytes(_call(runner, other)) == _bytes(fn.run(other))


def test_tags_of_any_form_are_cached_by_content():
    runner = fn.FunctionRunner()
    req = _requests(1)[0]
    req.meta.tag = "hello"
    for _ in range(3):
        assert _call(runner, req).meta.tag == "hello"
    assert (runner.cache.misses, runner.cache.hits) == (1, 2)


def test_the_least_recently_used_answer_is_evicted_first_within_the_byte_bound():
    a, b, c = _requests(3)
    cost = entry_cost(fn.run(a).SerializeToString())
    runner = fn.FunctionRunner(cache_bytes=2 * cost + cost // 2)  # room for two
    for req in (a, b, a, c):  # a was used after b: b goes
        _call(runner, req)
    assert (runner.cache.misses, runner.cache.hits, len(runner.cache)) == (3, 1, 2)
    assert runner.cache.size <= runner.cache.max_bytes
    _call(runner, a)
    assert runner.cache.hits == 2
    _call(runner, b)
    assert (runner.cache.misses, len(runner.cache)) == (4, 2)


def test_an_answer_larger_than_the_cache_is_not_kept():
    req = _requests(1)[0]
    runner = fn.FunctionRunner(cache_bytes=100)
    _call(runner, req)
    assert (len(runner.cache), runner.cache.size) == (0, 0)


def test_the_cache_stays_within_its_bytes_and_they_are_what_python_allocates():
    """Many distinct answers through a 256 KiB cache: the accounted size never exceeds the
    bound, and what tracemalloc sees the entries take is at most what they are charged, plus
    the OrderedDict's table (a few KB; measured: about 150 bytes per entry beyond the answer
    and key bytes, all told, against ENTRY_OVERHEAD = 200)."""
    # Rendered answers: the namespace's ScheduledBackups resolved (none).
    reqs = _requests(
        400, _example("XPostgresqlInstance"), {postgresql.SCHEDULED_BACKUPS_REQUIREMENT: []}
    )
    cache = ResponseCache(256 * 1024)
    for req in reqs[:50]:  # warm up the code path's own allocations
        cache.answer(req, lambda r: (fn.run(r), True))
    cache = ResponseCache(256 * 1024)
    answers = [(r, fn.run(r)) for r in reqs]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for req, rsp in answers:
        cache.answer(req, lambda _r, rsp=rsp: (rsp, True))
        assert cache.size <= cache.max_bytes
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(cache) < len(reqs), "the bound evicted"
    assert held <= cache.size + 8192, (held, cache.size, len(cache))


def test_zero_bytes_or_zero_entries_turns_the_cache_off():
    req = _requests(1)[0]
    for runner in (fn.FunctionRunner(cache_bytes=0), fn.FunctionRunner(cache_entries=0)):
        _call(runner, req)
        _call(runner, req)
        assert (runner.cache.hits, len(runner.cache)) == (0, 0)
    with pytest.raises(ValueError, match="0 or more"):
        ResponseCache(-1)
    with pytest.raises(ValueError, match="0 or more"):
        ResponseCache(1024, -1)


def test_an_entry_bound_still_applies():
    a, b, c = _requests(3)
    runner = fn.FunctionRunner(cache_entries=2)
    for req in (a, b, c):
        _call(runner, req)
    assert len(runner.cache) == 2


def test_an_internal_error_is_not_kept(monkeypatch):
    req = _requests(1)[0]
    xr = fn.struct_to_dict(req.observed.composite.resource)
    kind = (xr["apiVersion"], xr["kind"])

    def broken(_request):
        raise RuntimeError("transient")

    runner = fn.FunctionRunner()
    monkeypatch.setitem(fn.RENDERERS, kind, broken)
    assert "internal error" in _call(runner, req).results[0].message
    assert len(runner.cache) == 0
    monkeypatch.undo()
    assert not [r for r in _call(runner, req).results if r.severity == fnv1.SEVERITY_FATAL]
    assert (runner.cache.misses, len(runner.cache)) == (2, 1)


def test_a_bad_claim_is_kept_like_any_answer():
    runner = fn.FunctionRunner()
    ex = xrender.examples()[0]
    req = xrender.build_request({**ex.xr, "spec": {"junk": 1}}, {})
    first = _call(runner, req)
    assert first.results[0].severity == fnv1.SEVERITY_FATAL
    assert _call(runner, req) == first
    assert runner.cache.hits == 1


def test_the_tag_is_a_hash_of_the_content_without_meta():
    a, b = _requests(2)
    assert len(a.meta.tag) == 64
    assert xfn.crossplane_tag(a) == a.meta.tag
    a.meta.tag = "something else"
    assert xfn.crossplane_tag(a) != xfn.crossplane_tag(b)
    assert xfn.crossplane_tag(a) == xfn.crossplane_tag(_requests(1)[0])


@pytest.mark.parametrize(
    ("args", "env", "size", "entries"),
    [
        ([], {}, DEFAULT_MAX_BYTES, None),
        (["--cache-bytes", "0"], {}, 0, None),
        ([], {"FUNCTION_CACHE_BYTES": "1048576"}, 1048576, None),
        (["--cache-entries", "17"], {}, DEFAULT_MAX_BYTES, 17),
        ([], {"FUNCTION_CACHE_ENTRIES": "0"}, DEFAULT_MAX_BYTES, 0),
    ],
)
def test_the_cache_size_is_an_option(monkeypatch, args, env, size, entries):
    served = []
    monkeypatch.setattr(main.server, "run", lambda runner, **_: served.append(runner))
    result = CliRunner().invoke(main.cli, ["--insecure", *args], env=env)
    assert result.exit_code == 0, result.output
    assert (served[0].cache.max_bytes, served[0].cache.max_entries) == (size, entries)


@pytest.mark.parametrize("flag", ["--cache-bytes", "--cache-entries"])
def test_a_negative_cache_size_is_refused(flag):
    result = CliRunner().invoke(main.cli, ["--insecure", flag, "-1"])
    assert result.exit_code == 2
    assert flag in result.output


def _variants(req: fnv1.RunFunctionRequest) -> dict[str, fnv1.RunFunctionRequest]:
    """``req`` with one field changed, for every kind of field the key frames."""
    out: dict[str, fnv1.RunFunctionRequest] = {}

    def variant(label, change):
        other = copy.deepcopy(req)
        change(other)
        out[label] = other

    variant("meta.tag", lambda r: setattr(r.meta, "tag", r.meta.tag + "x"))
    variant("composite", lambda r: r.observed.composite.resource.update({"x": 1}))
    variant(
        "observed resource",
        lambda r: r.observed.resources[sorted(r.observed.resources)[0]].resource.update({"x": 1}),
    )
    variant(
        "observed name",
        lambda r: r.observed.resources["other"].CopyFrom(
            r.observed.resources[sorted(r.observed.resources)[0]]
        ),
    )
    variant("desired", lambda r: r.desired.composite.resource.update({"x": 1}))
    variant("input", lambda r: r.input.update({"x": 1}))
    variant("context", lambda r: r.context.update({"x": 1}))
    variant("required", lambda r: r.required_resources["x"].items.add())
    variant("extra", lambda r: r.extra_resources["x"].items.add())
    variant("credentials", lambda r: r.credentials["x"].credential_data.data.update({"k": b"v"}))
    return out


def test_the_key_tells_apart_requests_differing_in_any_field_and_not_map_order():
    ex = _example("XPostgresqlInstance")
    req = copy.deepcopy(_step_calls(ex)[-1])
    for name, desired in fn.run(req).desired.resources.items():  # all of it observed
        req.observed.resources[name].resource.CopyFrom(desired.resource)
    assert len(req.observed.resources) > 1
    keys = {label: request_key(r) for label, r in _variants(req).items()}
    keys["unchanged"] = request_key(req)
    assert len(set(keys.values())) == len(keys), keys
    # The same content with every map filled in the reverse order: the same key.
    reordered = copy.deepcopy(req)
    resources = {n: copy.deepcopy(r) for n, r in req.observed.resources.items()}
    reordered.observed.ClearField("resources")
    for name in sorted(resources, reverse=True):
        reordered.observed.resources[name].CopyFrom(resources[name])
    assert reordered == req
    assert request_key(reordered) == request_key(req)
