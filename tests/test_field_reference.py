"""The user guide's field reference is what ``make generate`` makes of the XRDs."""

from tools import field_reference


def test_field_reference_is_current():
    text = field_reference.GUIDE.read_text()
    assert field_reference.expected(text) == text, "run `make generate`"


def test_every_spec_field_has_a_row():
    """A row per field, so a new XRD field cannot go undocumented."""
    section = field_reference.section()
    for field in ("spec.config.compute.replicas.count", "spec.instanceRef", "spec.plan"):
        assert f"| `{field}` |" in section
