"""The XRDs' OpenAPI and CEL rules are enforced by the real API server: invalid claims are
refused by ``kubectl apply`` with a message naming the field.

The bad claims are ``tests/data/bad-claims`` (their ``# expect:`` lines are Python jsonschema's
wording, used by tests/test_package.py); here each is paired with the API server's wording:
OpenAPI errors are ``<field>: Unsupported value`` / ``Required value`` (k8s.io/apiextensions-
apiserver structural schema validation), CEL rules give their ``message`` under the field that
holds the rule, and an unknown field is refused by kubectl's default ``--validate=strict``
(server-side field validation: ``unknown field``).
"""

from __future__ import annotations

import copy

import pytest

from tests.e2e import claims
from tests.e2e.controlplane import ROOT

pytestmark = pytest.mark.e2e

BAD = ROOT / "tests" / "data" / "bad-claims"

# file -> what the API server's refusal must contain (field, and the rule's words).
REFUSALS = {
    "s3-kms-both-keys.yaml": [
        "spec.parameters.encryption.key",
        "set exactly one of encryption.key.managed or encryption.key.existing",
    ],
    "s3-kms-without-key.yaml": [
        "spec.parameters.encryption",
        "encryption.key is required when encryption.type is kms",
    ],
    "s3-missing-region.yaml": ["spec.region", "Required value"],
    "s3-plan-gold.yaml": ["spec.plan", 'Unsupported value: "gold"'],
    "s3-region-mars.yaml": ["spec.region", 'Unsupported value: "mars-1"'],
    "s3-service-gcs.yaml": ["spec.service", 'Unsupported value: "gcs"'],
    "s3-typo-parameter.yaml": ['unknown field "spec.parameter"'],
}


def test_every_bad_claim_is_listed():
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(REFUSALS)


def _refused(plane, path_or_doc) -> str:
    if isinstance(path_or_doc, dict):
        done = plane.kubectl("apply", "-f", "-", stdin=claims.dump(path_or_doc), check=False)
    else:
        done = plane.kubectl("apply", "-f", str(path_or_doc), check=False)
    if done.returncode == 0:
        doc = path_or_doc if isinstance(path_or_doc, dict) else claims.load(path_or_doc)
        claims.delete(plane, doc)
        pytest.fail(f"the API server accepted an invalid claim: {done.stdout}")
    return done.stderr + done.stdout


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_bad_claim_is_refused_naming_the_field(plane, name):
    message = _refused(plane, BAD / name)
    for part in REFUSALS[name]:
        assert part in message, f"{name}: refusal does not contain {part!r}:\n{message}"


def test_bad_tag_key_is_refused(plane):
    claim = claims.example("objectstorageinstance", "s3-instance-example.yaml", name="e2e-bad-tag")
    claim["spec"]["parameters"]["tags"] = {"no/slash!": "x"}
    message = _refused(plane, claim)
    assert "spec.parameters.tags" in message, message
    assert "tag keys may contain only letters" in message, message


def test_bad_tag_value_is_refused(plane):
    claim = claims.example(
        "objectstorageinstance", "s3-instance-example.yaml", name="e2e-bad-tag-value"
    )
    claim["spec"]["parameters"]["tags"] = {"ok": "semi;colon"}
    message = _refused(plane, claim)
    assert "spec.parameters.tags" in message, message
    assert "tag values may contain only" in message, message


def test_region_edit_is_refused(plane):
    claim = claims.example(
        "objectstorageinstance", "s3-instance-example.yaml", name="e2e-region-edit"
    )
    plane.apply(claim)
    try:
        edited = copy.deepcopy(claim)
        edited["spec"]["region"] = "eu-west-1"
        message = _refused(plane, edited)
        assert "spec.region" in message, message
        assert "region is immutable" in message, message
        kept = claims.get_claim(plane, claim)
        assert kept["spec"]["region"] == "eu-central-1"
    finally:
        claims.delete(plane, claim)
