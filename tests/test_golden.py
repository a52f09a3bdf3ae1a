"""Whole-output tests: each example's complete response is the reviewed file in tests/golden/.

The behavioural tests say what must hold; these show everything else that changed. When a
change to the function is meant, ``make generate`` rewrites the files (``tools/golden.py``)
and the diff is reviewed with the code.
"""

from __future__ import annotations

import pytest

from tools import golden, xrender

EXAMPLES = xrender.examples()


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda ex: ex.name)
def test_whole_response_is_the_reviewed_one(ex):
    path = golden.path_of(ex)
    assert path.exists(), f"{path.name}: no whole-output file; run `make generate`"
    assert path.read_text() == golden.expected(ex), (
        f"the response for {ex.name} is not {path.relative_to(xrender.ROOT)}: if the change is "
        "meant, run `make generate` and review the diff"
    )


def test_no_file_without_an_example():
    kept = set(golden.GOLDEN.glob("*/*.yaml"))
    assert kept == {golden.path_of(ex) for ex in EXAMPLES}
