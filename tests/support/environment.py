"""EnvironmentConfigs for tests: the examples' one (examples/environmentconfig), and variants of
its ``data``. An EnvironmentConfig is what the operator applies; Crossplane returns it as the
required resource ``klutch-environment`` (``function/environment.py``)."""

from __future__ import annotations

import copy
from typing import Any

from function import environment
from tools import xrender


def example_config() -> dict:
    """The examples' EnvironmentConfig (example values, two regions)."""
    (doc,) = xrender.environment_configs()
    return copy.deepcopy(doc)


def example_data() -> dict[str, Any]:
    return example_config()["data"]


def config(data: dict[str, Any], name: str = environment.DEFAULT_NAME) -> dict:
    """An EnvironmentConfig ``name`` with ``data``."""
    return {
        "apiVersion": environment.API_VERSION,
        "kind": environment.KIND,
        "metadata": {"name": name},
        "data": data,
    }


def with_data(**changes: Any) -> dict:
    """The example EnvironmentConfig with top-level ``data`` fields replaced (None removes)."""
    data = example_data()
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return config(data)


def required(*configs: dict) -> dict[str, list[dict]]:
    """The required resources Crossplane sends once it resolved the environment requirement."""
    return {environment.REQUIREMENT: list(configs)}


def region(name: str) -> dict[str, Any]:
    """The example data's settings of region ``name``."""
    return copy.deepcopy(example_data()["regions"][name])
