"""The benchmark's requests (``tools/bench_flow.py``) are what Crossplane sends, and its
changed requests are all new to the function. No timing here: ``make bench`` measures.

Crossplane side: ``tools/xfn.py`` (crossplane v2.3.4
``internal/controller/apiextensions/composite/composition_functions.go`` ``Compose`` computes
the tag once per step; ``internal/xfn/required_resources.go`` ``FetchingFunctionRunner``
calls again with the same request, its required resources filled in, until the function's
requirements settle).
"""

from __future__ import annotations

import asyncio
import functools

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn
from function.resources import READY_WHEN_EXISTS, Kind, readiness
from tools import bench, xfn
from tools import bench_flow as flow


@functools.cache
def _subjects() -> tuple[flow.Subject, ...]:
    return tuple(flow.subjects()[0])


def _ids() -> list[str]:
    return [s.kind for s in _subjects()]


def _runner_call(runner: fn.FunctionRunner) -> xfn.Call:
    """The server's servicer (answer cache on), called as gRPC would."""
    return lambda req: asyncio.run(runner.RunFunction(req))


def _requests(calls: list[flow.Call]) -> list[fnv1.RunFunctionRequest]:
    return [fnv1.RunFunctionRequest.FromString(c.request) for c in calls]


def test_every_kind_is_measured() -> None:
    assert {s.kind for s in _subjects()} == {k for _, k in fn.RENDERERS}


@pytest.mark.parametrize("subject", _subjects(), ids=_ids())
def test_first_reconcile_is_run_steps_sequence(subject: flow.Subject) -> None:
    (recorded,) = flow.first_reconciles(subject, 1).reconciles
    reqs = _requests(recorded)
    # Tagged once, before the rounds: every call carries the tag of the first request.
    assert {r.meta.tag for r in reqs} == {xfn.crossplane_tag(reqs[0])}
    # Nothing observed: a new claim.
    assert not reqs[0].observed.resources
    # The same calls as xfn.run_step makes against the server's servicer.
    xr, state = flow.new_claim(subject, 0)
    live = flow.step(_runner_call(fn.FunctionRunner()), subject, xr, state)
    assert [q for q, _ in live] == reqs
    assert [r for _, r in live] == [fnv1.RunFunctionResponse.FromString(c.answer) for c in recorded]
    # One call per round: each next call carries what the previous answer required, and
    # the last two answers require the same (Crossplane stops there), or one call only.
    rsps = [r for _, r in live]
    bootstrap = set(reqs[0].required_resources)
    for prev, nxt in zip(rsps, reqs[1:], strict=False):
        assert set(nxt.required_resources) == bootstrap | set(prev.requirements.resources)
    if len(rsps) > 1:
        assert rsps[-1].requirements == rsps[-2].requirements
        assert rsps[-2].requirements != (rsps[-3].requirements if len(rsps) > 2 else None)
    assert all(not flow.fatal(r) for r in rsps)


@pytest.mark.parametrize("subject", _subjects(), ids=_ids())
def test_changed_requests_are_new_realistic_and_render(subject: flow.Subject) -> None:
    settled = flow.settle(subject)
    pool = flow.changed_pool(subject, settled, min_calls=6)
    more = flow.changed_pool(subject, settled, start=len(pool.reconciles), min_calls=6)
    fresh = [c.request for c in pool.fresh + more.fresh]
    assert len(fresh) >= 12
    assert flow.distinct(fresh)
    # Each reconcile its own tag; a repeated round is the previous request exactly.
    tags = [_requests(r)[0].meta.tag for r in pool.reconciles + more.reconciles]
    assert len(set(tags)) == len(tags)
    # Every call new to the function: its answer cache never hits.
    runner = fn.FunctionRunner()
    call = _runner_call(runner)
    for c in pool.fresh + more.fresh:
        rsp = call(fnv1.RunFunctionRequest.FromString(c.request))
        assert not flow.fatal(rsp)
        assert rsp == fnv1.RunFunctionResponse.FromString(c.answer)
    assert runner.cache.hits == 0
    # Realistic: every composed resource the function wants is observed, Ready and Synced,
    # with what its provider reports; the XR has the status Crossplane wrote.
    last = pool.reconciles[0][-1]
    req = fnv1.RunFunctionRequest.FromString(last.request)
    rsp = fnv1.RunFunctionResponse.FromString(last.answer)
    assert set(req.observed.resources) == set(rsp.desired.resources)
    assert all(r.ready == fnv1.READY_TRUE for r in rsp.desired.resources.values())
    for observed in req.observed.resources.values():
        body = observed.resource
        if readiness(Kind(body["apiVersion"], body["kind"])) == READY_WHEN_EXISTS:
            assert "status" not in body  # no condition the kind does not publish is made up
            continue
        status = body["status"]
        conditions = {c["type"]: c["status"] for c in status["conditions"]}
        assert conditions["Ready"] == conditions["Synced"] == "True"
        assert status["atProvider"]
    xr_status = req.observed.composite.resource["status"]
    assert {c["type"] for c in xr_status["conditions"]} >= {"Ready", "Synced"}
    # Required resources as the cluster has them: at least the EnvironmentConfig.
    assert "klutch-environment" in req.required_resources


def test_pool_fills_what_it_is_asked_to() -> None:
    subject = next(s for s in _subjects() if s.kind == "XServiceBinding")
    pool = flow.changed_pool(subject, flow.settle(subject), min_answer_bytes=100_000)
    assert pool.answer_bytes() >= 100_000
    assert flow.distinct(c.request for c in pool.fresh)


def test_largest_shapes() -> None:
    by = {s.kind: s for s in _subjects()}
    assert len(by["XObjectStorageBinding"].xr["spec"]["scopedAccess"]) == flow.MAX_PREFIXES
    pg = by["XPostgresqlInstance"].xr["spec"]
    assert pg["plan"].startswith("cluster-")
    assert pg["config"]["compute"]["replicas"]["count"] == 2
    assert "managed" in pg["config"]["encryption"]["key"]
    assert flow.settle(by["XPostgresqlInstance"]).resources > 10  # network rendered too
    osi = by["XObjectStorageInstance"].xr["spec"]["parameters"]["encryption"]
    assert "managed" in osi["key"]


def _row(p99: float, rps: float, first: float, *, start: float, rss: float, full: float) -> dict:
    return {
        "changed": {
            "function": {"p99_ms": p99, "rps": rps},
            "noop": {"p99_ms": 1.0, "rps": 1.0},
        },
        "first": {"function": {"p50_ms": first}, "noop": {"p50_ms": 1.0}},
        "process": {
            "function": {"startup_s": start, "rss_warm_mb": 50 + rss, "rss_full_mb": 50 + full},
            "noop": {"startup_s": 0.1, "rss_warm_mb": 50.0, "rss_full_mb": 50.0},
        },
    }


def test_verdicts_apply_the_issue_targets() -> None:
    ok = bench.verdicts(_row(1.5, 0.7, 2.0, start=1.0, rss=30.0, full=30.0))
    assert all(v is not None and v[0] for v in ok.values())
    bad = bench.verdicts(_row(1.51, 0.69, 2.01, start=1.01, rss=30.1, full=30.1))
    assert not any(v is not None and v[0] for v in bad.values())


def test_quick_mode_is_smaller() -> None:
    full, quick = bench.parse_args([]), bench.parse_args(["--quick"])
    for name in bench.SIZES:
        assert getattr(quick, name) <= getattr(full, name)
    assert not quick.series
    assert bench.parse_args(["--quick", "--calls", "50"]).calls == 50
