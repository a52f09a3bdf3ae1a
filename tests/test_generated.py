"""Generated files are up to date, and what the generator makes is a CRD Kubernetes accepts.

``tools/gen_input_crd.py`` (``make generate``) writes the input CRD and the operator guide's
settings table from ``function/settings.py``.
"""

from __future__ import annotations

import pytest
import yaml
from pydantic import BaseModel, Field

from function.settings import Settings
from tests.support.cel import with_defaults
from tools import gen_input_crd as gen

ENVELOPE = {"apiVersion", "kind", "metadata"}


@pytest.mark.parametrize(
    ("path", "text"), gen.generated().items(), ids=lambda v: getattr(v, "name", "")
)
def test_committed_file_is_what_make_generate_writes(path, text):
    assert path.read_text() == text, (
        f"{path.relative_to(gen.ROOT)} is not what function/settings.py generates: "
        "run `make generate` and commit the result"
    )


def committed_schema() -> dict:
    (version,) = yaml.safe_load(gen.CRD_PATH.read_text())["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def test_committed_crd_is_structural():
    assert gen.structural_errors(committed_schema()) == []


def test_crd_defaults_are_what_the_function_uses():
    """The API server defaulting an empty input gives the settings of an empty input."""
    defaulted = with_defaults(committed_schema(), {})
    # An unset optional field (None in the model) is one the API server leaves absent.
    expected = Settings.model_validate({}).model_dump(mode="json", exclude_none=True)
    for name in ENVELOPE:
        expected.pop(name, None)
    assert defaulted == expected
    assert Settings.model_validate(defaulted) == Settings.model_validate({})


def test_every_model_field_is_in_the_crd_with_a_description():
    def walk(model: type[BaseModel], node: dict, path: str) -> None:
        assert set(node["properties"]) == set(model.model_fields), path
        for name, field in model.model_fields.items():
            sub = node["properties"][name]
            if not path and name in ENVELOPE:
                continue
            assert sub.get("description"), f"{path}{name}: add Field(description=...)"
            inner = field.annotation
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                walk(inner, sub, f"{path}{name}.")
            args = getattr(inner, "__args__", ())
            if args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
                walk(args[-1], sub["additionalProperties"], f"{path}{name}.<name>.")

    walk(Settings, committed_schema(), "")


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "properties": {"a": {"description": "x"}}}, "a: has no type"),
        ({"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "'$ref' is forbidden"),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {}},
            "properties and additionalProperties exclude each other",
        ),
        ({"type": "object", "additionalProperties": False}, "additionalProperties cannot be false"),
        ({"type": "object", "properties": {"a": {"type": "array"}}}, "an array needs items"),
        (
            {"type": "object", "properties": {"a": {"type": "integer", "exclusiveMinimum": 3}}},
            "exclusiveMinimum must be a boolean",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "default": 3}}},
            "a: default 3",
        ),
        (
            {
                "type": "object",
                "properties": {
                    "a": {
                        "type": "object",
                        "properties": {"b": {"type": "string"}},
                        "default": {"c": "pruned"},
                    }
                },
            },
            "a: default",
        ),
        (
            {"type": "object", "properties": {"metadata": {"type": "object", "default": {}}}},
            "metadata: may restrict only name and generateName",
        ),
        ({"type": "object", "properties": {"a": {"type": "string", "title": "A", "x": 1}}}, "'x'"),
        ({"type": "object", "properties": {"a": {"type": "str"}}}, "type 'str'"),
        ({"type": "string"}, "<root>: the type must be object"),
    ],
)
def test_structural_check_finds_what_kubernetes_rejects(schema, message):
    found = gen.structural_errors(schema)
    assert any(message in e for e in found), found


class _Inner(BaseModel):
    """An inner object."""

    n: int = Field(default=1, gt=0, description="Positive.")


class _Sample(BaseModel):
    """A sample input."""

    apiVersion: str = "x.example.com/v1"
    kind: str = "Sample"
    tags: set[str] = Field(default_factory=set, description="Unique tags.")
    maybe: int | None = Field(default=None, description="An optional number.")
    inner: _Inner = Field(default_factory=_Inner)
    byName: dict[str, _Inner] = Field(default_factory=lambda: {"a": _Inner(n=2)})


def test_generator_maps_pydantic_to_structural_openapi():
    schema = gen.openapi_schema(_Sample)
    assert gen.structural_errors(schema) == []
    props = schema["properties"]
    assert props["tags"] == {
        "type": "array",
        "description": "Unique tags.",
        "default": [],
        "items": {"type": "string"},
        "x-kubernetes-list-type": "set",
    }
    assert props["maybe"] == {
        "type": "integer",
        "description": "An optional number.",
        "nullable": True,
    }
    # a nested object's default is {} when its fields' defaults give the same value
    assert props["inner"]["default"] == {}
    assert props["inner"]["description"] == "An inner object."
    assert props["inner"]["properties"]["n"] == {
        "type": "integer",
        "description": "Positive.",
        "default": 1,
        "minimum": 0,
        "exclusiveMinimum": True,
    }
    assert props["byName"]["default"] == {"a": {"n": 2}}
    assert "title" not in str(schema)
    assert gen.crd(_Sample)["metadata"]["name"] == "samples.x.example.com"


def test_generator_refuses_what_a_structural_schema_cannot_say():
    class Union(BaseModel):
        value: int | str = 1

    with pytest.raises(ValueError, match="value: a union has no structural OpenAPI form"):
        gen.openapi_schema(Union)


def test_generated_reference_lists_every_setting():
    text = gen.reference()
    assert "| `postgresql.plans.<name>.instanceClass` |" in text
    assert "Default `postgresql.plans`:" in text
    broken = gen.GUIDE_PATH.read_text().replace(gen.END, "")
    with pytest.raises(ValueError, match="needs the lines"):
        gen.guide_text(broken)
