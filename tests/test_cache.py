"""The answer cache: an unchanged request (same Crossplane tag) is answered without rendering."""

from __future__ import annotations

import asyncio
import copy

import pytest
from click.testing import CliRunner
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, main
from function.cache import DEFAULT_MAX_ENTRIES, ResponseCache, crossplane_tag
from tools import xrender


def _call(runner: fn.FunctionRunner, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    return asyncio.run(runner.RunFunction(req))


def _requests(n: int) -> list[fnv1.RunFunctionRequest]:
    """``n`` distinct requests for the first example, as Crossplane would tag them."""
    ex = xrender.examples()[0]
    out = []
    for i in range(n):
        xr = copy.deepcopy(ex.xr)
        xr.setdefault("metadata", {})["resourceVersion"] = str(100 + i)
        out.append(xrender.build_request(xr, xrender.function_input(ex.composition), ex.observed))
    return out


@pytest.mark.parametrize("ex", xrender.examples(), ids=lambda e: e.name)
def test_a_repeated_request_is_answered_from_the_cache_with_the_rendered_bytes(ex):
    """Every request of an example's render (requirement rounds included), asked twice."""
    runner = fn.FunctionRunner()
    asked: list[fnv1.RunFunctionRequest] = []

    def call(req):
        asked.append(req)
        return _call(runner, req)

    xrender.render(call, ex)
    first = [(r.meta.tag, _call(runner, r)) for r in asked]  # the same requests again
    assert runner.cache.misses == len({r.meta.tag for r in asked})
    assert runner.cache.hits == len(asked) + len(asked) - runner.cache.misses
    for req, (tag, kept) in zip(asked, first, strict=True):
        assert kept.meta.tag == tag == req.meta.tag
        assert kept.SerializeToString(deterministic=True) == fn.run(req).SerializeToString(
            deterministic=True
        )


def test_changed_requests_get_their_own_tag_and_answer():
    runner = fn.FunctionRunner()
    a, b = _requests(2)
    assert a.meta.tag != b.meta.tag
    assert _call(runner, a).meta.tag == a.meta.tag
    assert _call(runner, b).meta.tag == b.meta.tag
    assert (runner.cache.misses, runner.cache.hits, len(runner.cache)) == (2, 0, 2)


def test_the_tag_is_a_hash_of_the_content_without_meta():
    a, b = _requests(2)
    assert len(a.meta.tag) == 64
    assert crossplane_tag(a) == a.meta.tag
    a.meta.tag = "something else"
    assert crossplane_tag(a) != crossplane_tag(b)
    assert crossplane_tag(a) == crossplane_tag(_requests(1)[0])


@pytest.mark.parametrize("tag", ["", "hello", "A" * 64, "0" * 63, "0" * 65])
def test_tags_not_of_crossplanes_form_are_always_rendered(tag):
    runner = fn.FunctionRunner()
    req = _requests(1)[0]
    req.meta.tag = tag
    for _ in range(3):
        assert _call(runner, req).meta.tag == tag
    assert (runner.cache.hits, len(runner.cache)) == (0, 0)


def test_the_least_recently_used_answer_is_evicted_first():
    runner = fn.FunctionRunner(cache_entries=2)
    a, b, c = _requests(3)
    for req in (a, b, a, c):  # a was used after b: b goes
        _call(runner, req)
    assert (runner.cache.misses, runner.cache.hits, len(runner.cache)) == (3, 1, 2)
    _call(runner, a)
    assert runner.cache.hits == 2
    _call(runner, b)
    assert (runner.cache.misses, len(runner.cache)) == (4, 2)


def test_zero_entries_turns_the_cache_off():
    runner = fn.FunctionRunner(cache_entries=0)
    req = _requests(1)[0]
    _call(runner, req)
    _call(runner, req)
    assert (runner.cache.hits, len(runner.cache)) == (0, 0)
    with pytest.raises(ValueError, match="0 or more"):
        ResponseCache(-1)


def test_an_internal_error_is_not_kept(monkeypatch):
    req = _requests(1)[0]
    kind = fn.struct_to_dict(req.observed.composite.resource)["kind"]

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


@pytest.mark.parametrize(
    ("args", "env", "entries"),
    [
        ([], {}, DEFAULT_MAX_ENTRIES),
        (["--cache-entries", "0"], {}, 0),
        ([], {"FUNCTION_CACHE_ENTRIES": "17"}, 17),
    ],
)
def test_the_cache_size_is_an_option(monkeypatch, args, env, entries):
    served = []
    monkeypatch.setattr(main.sdkcli, "run", lambda runner, **_: served.append(runner))
    result = CliRunner().invoke(main.cli, ["--insecure", *args], env=env)
    assert result.exit_code == 0, result.output
    assert served[0].cache.max_entries == entries


def test_a_negative_cache_size_is_refused():
    result = CliRunner().invoke(main.cli, ["--insecure", "--cache-entries", "-1"])
    assert result.exit_code == 2
    assert "--cache-entries" in result.output
