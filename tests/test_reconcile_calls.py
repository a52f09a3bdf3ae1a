"""Calls per reconcile: Crossplane v2.3.4's required-resources loop and what the function
makes of it (issue 26 item 1).

crossplane v2.3.4 ``internal/xfn/required_resources.go`` ``FetchingFunctionRunner.RunFunction``
starts with ``requirements = nil``, calls the function, stops on a fatal result or when
``proto.Equal(rsp.GetRequirements(), requirements)``; otherwise it resets the request's
required resources to the bootstrap ones (the Composition step's, fetched before the first
call), fetches what the answer asked for into them, and calls again. The twin's runner
(``tools/xfn.run_step``) is checked against those rules first; then the function: a claim at
rest costs one call when everything it needs is bootstrapped, two when a requirement depends
on the claim, one more without the bootstrap; every call before the last answers only its
requirements. CPU per call is a figure (``make bench-calls``), never asserted here.
"""

from __future__ import annotations

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import environment, fn
from tools import xfn
from tools.twin import ControlPlane, example_xrs

# --- the runner model ----------------------------------------------------------------------


def _count(answer) -> int:
    calls: list = []
    xfn.run_step(
        answer, xfn.step_request(fnv1.State()), lambda _s: [], on_call=lambda q, _r: calls.append(q)
    )
    return len(calls)


def test_no_requirements_end_the_step_after_one_call_empty_ones_after_two():
    """``proto.Equal(nil, nil)`` is true; ``proto.Equal`` of an empty but set Requirements and
    nil is false (one is a valid message, the other not), so Crossplane calls again."""

    def nothing(_req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        return fnv1.RunFunctionResponse()

    def empty(_req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = fnv1.RunFunctionResponse()
        rsp.requirements.SetInParent()
        return rsp

    assert (_count(nothing), _count(empty)) == (1, 2)


def _selector(kind: str) -> fnv1.ResourceSelector:
    return fnv1.ResourceSelector(api_version="v1", kind=kind, match_name="x")


def test_every_call_starts_again_from_the_bootstrap_resources():
    """``req.RequiredResources = maps.Clone(bootstrapResources)`` on every iteration, then what
    the answer asked for, a name the bootstrap has replaced by what was fetched for it."""
    asks = iter([{"dep": "Dep"}, {"boot": "Other"}, {"boot": "Other"}])

    def answer(_req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = fnv1.RunFunctionResponse()
        for name, kind in next(asks).items():
            rsp.requirements.resources[name].CopyFrom(_selector(kind))
        return rsp

    def fetch(sel: fnv1.ResourceSelector) -> list[dict]:
        return [{"apiVersion": "v1", "kind": sel.kind, "metadata": {"name": "x"}}]

    req = xfn.step_request(fnv1.State())
    xfn.bootstrap(req, {"boot": _selector("Boot")}, fetch)
    seen: list[dict[str, list[str]]] = []
    xfn.run_step(
        answer,
        req,
        fetch,
        on_call=lambda q, _r: seen.append(
            {
                n: [i.resource["kind"] for i in r.items]
                for n, r in sorted(q.required_resources.items())
            }
        ),
    )
    assert seen == [
        {"boot": ["Boot"]},
        {"boot": ["Boot"], "dep": ["Dep"]},
        {"boot": ["Other"]},  # "dep" no longer asked: gone; "boot" replaced
    ]


def test_asking_under_the_bootstrap_key_only_while_it_is_missing_never_settles():
    """Why the function asks for the EnvironmentConfig under its own key and on every call
    once it asked (``environment.locate``): without a bootstrap, an answer that stops asking
    once it holds it loses it on the next call, and the answers alternate until Crossplane
    gives up."""

    def naive(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = fnv1.RunFunctionResponse()
        if "env" not in req.required_resources:
            rsp.requirements.resources["env"].CopyFrom(_selector("EnvironmentConfig"))
        return rsp

    with pytest.raises(xfn.RequirementsUnstableError):
        _count(naive)


# --- the function: calls per reconcile at rest ----------------------------------------------

# The fewest calls each kind's requirements allow with the Compositions' bootstrap: one when
# the bootstrapped EnvironmentConfig is all it needs, two when it requires something named by
# the claim (its instance, the namespace's ScheduledBackups, an orphaned master Secret's
# Namespace; a Backup, even once its snapshot exists, its namespace's snapshot records and its
# Namespace, the owner of a retained snapshot's record: function/snapshot_records.py).
AT_REST = {
    "XObjectStorageInstance": 1,
    "XBackup": 2,
    "XObjectStorageBinding": 2,
    "XPostgresqlInstance": 2,
    "XScheduledBackup": 2,
    "XServiceBinding": 2,
}


@pytest.fixture(scope="module", params=[True, False], ids=["bootstrap", "no-bootstrap"])
def at_rest(request) -> tuple[bool, ControlPlane]:
    cp = ControlPlane(call=fn.run, bootstrap=request.param)
    for xr in example_xrs():
        cp.create(xr)
    cp.until_stable()
    return request.param, cp


def test_every_kind_is_at_rest_in_the_fewest_calls_its_requirements_allow(at_rest):
    """Without the bootstrap, one call more: the first asks for the EnvironmentConfig alone
    (nothing is rendered without it)."""
    bootstrap, cp = at_rest
    assert {k[1] for k in cp.xrs()} == set(AT_REST)
    got = {key: len(cp.reconcile(key).calls) for key in cp.xrs()}
    assert got == {key: AT_REST[key[1]] + (0 if bootstrap else 1) for key in cp.xrs()}


def test_every_call_before_the_last_answers_only_its_requirements(at_rest):
    """Crossplane throws those answers away: the desired state as it came, no result, no
    condition, no status; and the first one with the bootstrap already asks for everything the
    last asks for (all at once: one round)."""
    bootstrap, cp = at_rest
    for key in cp.xrs():
        step = cp.reconcile(key)
        for req, rsp in step.calls[:-1]:
            assert rsp.desired == req.desired, key
            assert not rsp.results and not rsp.conditions, key
            assert rsp.requirements.resources, key
        last = step.calls[-1][1]
        assert last.desired.resources and not _fatal(last), key
        asked = set(last.requirements.resources)
        if bootstrap:
            assert environment.ASKED not in asked, key
            if len(step.calls) > 1:
                assert set(step.calls[0][1].requirements.resources) == asked, key
        else:
            assert environment.ASKED in asked, key
            assert set(step.calls[0][1].requirements.resources) == {environment.ASKED}, key


def _fatal(rsp: fnv1.RunFunctionResponse) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
