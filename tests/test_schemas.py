"""Every rendered resource validates against the upstream CRD of its apiVersion and kind."""

from __future__ import annotations

import pytest

from function import resources
from tests.support import schemas
from tests.support.responses import desired, local_call
from tools import xrender

EXAMPLES = xrender.examples()


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.name)
def test_rendered_resources_match_upstream_schemas(ex):
    schemas.require_schemas()
    rsp = xrender.render(local_call, ex)
    rendered = desired(rsp)
    for name, body in rendered.items():
        assert schemas.errors(body) == [], f"{ex.name}: {name} ({body['kind']})"


@pytest.mark.parametrize(
    "kind",
    [
        v
        for v in vars(resources).values()
        if isinstance(v, resources.Kind) and v not in resources.CORE_KINDS
    ],
    ids=lambda k: k.kind,
)
def test_we_render_the_storage_version_of_every_kind(kind):
    group = kind.api_version.split("/")[0]
    assert kind.api_version.split("/")[1] == schemas.storage_version(group, kind.kind)
