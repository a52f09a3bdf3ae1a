"""The tests; shared helpers are in ``tests.support``."""

import pytest

# Asserts in tests/support explain themselves as the test modules' own do.
pytest.register_assert_rewrite("tests.support")
