"""The README and the guides tell the truth about this repository.

- every repository path they mention exists, every relative link resolves;
- every ``make <target>`` they show is a Makefile target;
- every render excerpt (a code block starting ``# tools/render.py examples/<folder>``) is
  lines of what rendering that folder really prints, in order (``...`` marks a gap);
- the user guide (docs/user-guide.md) has a table row for every field of every claim's XRD and names
  every key of every Secret an example renders; the operator guide lists every setting of
  the function's input with its default.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from function import main
from function.settings import Settings
from tests.support import examples, guide
from tests.support.responses import local_call
from tools import xrender

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
USER_GUIDE = ROOT / "docs" / "user-guide.md"
OPERATOR_GUIDE = ROOT / "docs" / "operator-guide.md"
TOP = ("examples", "xrds", "compositions", "package", "docs", "function", "tests", "tools")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def code(text: str) -> list[str]:
    """The fenced blocks and inline code spans of a Markdown text."""
    blocks = FENCE.findall(text)
    prose = FENCE.sub("", text)
    return blocks + re.findall(r"`([^`\n]+)`", prose)


def mentioned_paths(text: str) -> set[str]:
    # A placeholder such as tests/test_<kind>.py names no one path: not checked.
    pattern = (
        rf"(?<![\w./-])((?:{'|'.join(TOP)})/[\w./-]*\w|Makefile|Dockerfile|pyproject\.toml)"
        r"(?![\w<])"
    )
    return {m for chunk in code(text) for m in re.findall(pattern, chunk)}


@pytest.mark.parametrize("doc", DOCS, ids=ids)
def test_every_path_mentioned_exists(doc):
    text = doc.read_text()
    missing = sorted(p for p in mentioned_paths(text) if not (ROOT / p).exists())
    assert missing == []
    prose = re.sub(r"`[^`\n]+`", "", FENCE.sub("", text))  # no links inside code
    for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", prose):
        if not re.match(r"[a-z]+:", link):
            assert (doc.parent / link).exists(), link


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


@pytest.mark.parametrize("doc", DOCS, ids=ids)
def test_every_make_target_mentioned_exists(doc):
    shown = {
        m for c in code(doc.read_text()) for m in re.findall(r"(?:^|[\s;&|(])make ([a-z][\w-]*)", c)
    }
    assert shown - make_targets() == set()


def test_readme_first_screen_shows_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:60])
    assert re.search(r"^make render\b", head, re.M)
    assert re.search(r"^make test\b", head, re.M)


# --------------------------------------------------------------- render excerpts

EXCERPT = re.compile(r"^# (?:\.venv/bin/python )?tools/render\.py (examples/[\w-]+)\s*$")


def rendered(folder: str) -> list[str]:
    """What ``tools/render.py <folder>`` prints for that folder, as lines."""
    return examples.rendered(folder).splitlines()


def excerpts() -> list[tuple[str, str, list[str]]]:
    found = []
    for doc in DOCS:
        for block in FENCE.findall(doc.read_text()):
            first, *rest = block.splitlines() or [""]
            match = EXCERPT.match(first)
            if match:
                found.append((ids(doc), match.group(1), rest))
    return found


def test_the_user_guide_shows_render_excerpts():
    assert len([e for e in excerpts() if e[0] == ids(USER_GUIDE)]) >= 2


@pytest.mark.parametrize(("doc", "folder", "lines"), excerpts(), ids=lambda v: str(v)[:50])
def test_render_excerpts_are_what_render_prints(doc, folder, lines):
    real = rendered(folder)
    assert real, f"{doc}: nothing renders from {folder}"
    at = 0
    for line in lines:
        if line.strip() in {"...", "# ..."}:
            continue
        try:
            at = real.index(line.rstrip(), at) + 1
        except ValueError:
            pytest.fail(f"{doc}: {line!r} is not (in this order) in tools/render.py {folder}")


# --------------------------------------------------------------- field tables and Secret keys


def xrd_fields() -> list[tuple[str, str]]:
    """(claim kind, dotted spec field) of every field of every XRD."""
    out = []

    def walk(kind: str, node: dict, path: str) -> None:
        for name, sub in node.get("properties", {}).items():
            here = f"{path}.{name}"
            out.append((kind, here))
            walk(kind, sub.get("items", sub), here + ("[]" if "items" in sub else ""))

    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        for doc in xrender.load_all(path):
            schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            walk(doc["spec"]["claimNames"]["kind"], schema["properties"]["spec"], "spec")
    return out


@pytest.mark.parametrize(("kind", "field"), xrd_fields(), ids=str)
def test_user_guide_has_a_row_for_every_claim_field(kind, field):
    text = USER_GUIDE.read_text()
    assert f"`{kind}`" in text
    assert re.search(rf"^\| `{re.escape(field)}` \|", text, re.M), f"{kind}: no row for {field}"


def secret_keys() -> list[tuple[str, str]]:
    out = set()
    for ex in xrender.examples():
        rsp = xrender.render(local_call, ex)
        out |= {(ex.xr["kind"][1:], key) for key in rsp.desired.composite.connection_details}
    return sorted(out)


@pytest.mark.parametrize(("kind", "key"), secret_keys(), ids=str)
def test_user_guide_names_every_secret_key(kind, key):
    assert re.search(rf"^\| `{re.escape(key)}` \|", USER_GUIDE.read_text(), re.M), kind


def settings_paths(model=Settings, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for name, field in model.model_fields.items():
        if name in {"apiVersion", "kind", "metadata"}:
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            out += settings_paths(type(default), f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", default))
    return out


@pytest.mark.parametrize(("path", "default"), settings_paths(), ids=lambda v: str(v)[:40])
def test_operator_guide_lists_every_setting_with_its_default(path, default):
    text = OPERATOR_GUIDE.read_text()
    row = re.search(rf"^\| `{re.escape(path)}` \|([^\n]*)$", text, re.M)
    assert row, f"no row for {path}"
    if isinstance(default, str | int | bool) and not isinstance(default, dict):
        shown = yaml.safe_dump(default).splitlines()[0] if not isinstance(default, str) else default
        assert f"`{shown}`" in row.group(1), f"{path}: default {default!r} not shown"


# --------------------------------------------------------------- crossplane render commands


def _flat(text: str) -> str:
    return " ".join(text.replace("\\\n", " ").split())


def main_examples() -> dict[Path, xrender.Example]:
    """Each example folder's XR (``xr.yaml``, else its first)."""
    out: dict[Path, xrender.Example] = {}
    for ex in xrender.examples():
        if ex.path.parent not in out or ex.path.name == "xr.yaml":
            out[ex.path.parent] = ex
    return out


@pytest.mark.parametrize("folder", sorted(main_examples()), ids=lambda p: p.name)
def test_readmes_give_each_folder_the_crossplane_render_command_that_works(folder):
    """The command passes the EnvironmentConfig every Composition requires and the folder's
    required and observed resources (without them crossplane render answers with a fatal)."""
    command = xrender.crossplane_render_command(main_examples()[folder])
    assert "--required-resources=examples/environmentconfig/environmentconfig.yaml" in command
    assert ("required.yaml" in command) == (folder / "required.yaml").exists()
    assert _flat(command) in _flat((folder / "README.md").read_text())
    assert _flat(command) in _flat((ROOT / "README.md").read_text())


def test_every_crossplane_render_command_shown_is_one_that_works():
    shown = set()
    for doc in [*DOCS, *sorted((ROOT / "examples").glob("*/README.md"))]:
        joined = doc.read_text().replace("\\\n", " ")
        shown |= {_flat(m) for m in re.findall(r"crossplane render examples/[^`\n]*", joined)}
    works = {_flat(xrender.crossplane_render_command(ex)) for ex in main_examples().values()}
    assert shown and shown <= works


def test_the_answer_size_stated_is_what_the_examples_at_rest_give():
    """The operator guide and ``function --help`` state one range for a cached answer's size,
    and it holds every example's answer at rest."""
    sizes = [len(step.response.SerializeToString()) for step in examples.at_rest().last.values()]
    (option,) = [p for p in main.cli.params if p.name == "cache_bytes"]
    stated = {
        re.search(r"1 to (\d+) KB per answer", text).group(1)
        for text in (
            option.help,
            OPERATOR_GUIDE.read_text(),
            (ROOT / "function" / "cache.py").read_text(),
        )
    }
    assert len(stated) == 1
    (kb,) = stated
    assert min(sizes) >= 1024 and max(sizes) <= int(kb) * 1024, (min(sizes), max(sizes))


def test_operator_guide_install_steps_run_in_order_and_grant_namespaces_before_claims():
    """Sections 1-5 are steps: every file applied is defined before (a ``# file:`` block) or
    is a repository file, and the ClusterRole that lets Crossplane read Namespaces (every
    ``deletionPolicy: Orphan`` claim requires one) is applied before the first claim."""
    text = OPERATOR_GUIDE.read_text()
    install = text[: text.index("## 6.")]
    steps = guide.steps(install)
    defined: dict[str, list[dict]] = {}
    applied: list[str] = []
    for step in steps:
        if step.kind == "file":
            defined[step.name] = list(yaml.safe_load_all(step.text))
        for args in step.commands() if step.kind == "sh" else []:
            if args[:2] == ["kubectl", "apply"]:
                name = args[args.index("-f") + 1]
                assert name in defined or (ROOT / name).is_file(), name
                applied.append(name)
    roles = [
        (name, doc)
        for name, docs in defined.items()
        for doc in docs
        if doc and doc["kind"] == "ClusterRole"
    ]
    assert len(roles) == 1 and "kind: ClusterRole" not in text[len(install) :]
    name, role = roles[0]
    assert role["metadata"]["labels"]["rbac.crossplane.io/aggregate-to-crossplane"] == "true"
    (rule,) = role["rules"]
    assert rule["resources"] == ["namespaces"] and {"get", "list", "watch"} <= set(rule["verbs"])
    assert applied.index(name) < applied.index("first-db.yaml")
    assert applied.index("packages.yaml") < applied.index("first-db.yaml")


def test_operator_guide_add_a_plan_example_is_a_valid_input():
    """The "Add a plan" input parses with the plan model, whose storage types are the ones
    AWS accepts without provisioned IOPS (a plan sets none)."""
    text = OPERATOR_GUIDE.read_text()
    section = text[text.index("## 7. Add a plan") : text.index("## 8.")]
    (block,) = [b for b in FENCE.findall(section) if "plans:" in b]
    fn_input = yaml.safe_load(block)["input"]
    settings = Settings.model_validate(fn_input)
    assert settings.postgresql.plans
    io2 = {**fn_input["postgresql"]["plans"]["cluster-xlarge"], "storageType": "io2"}
    with pytest.raises(ValueError, match="storageType"):
        Settings.model_validate({**fn_input, "postgresql": {"plans": {"x": io2}}})


def test_user_guide_states_the_restore_rules_the_function_enforces():
    """tests/test_restore.py checks the function refuses a restore naming another database
    or another major; the guide says both, and no example says otherwise."""
    text = USER_GUIDE.read_text()
    section = text[text.index("### 5. Restore") : text.index("### 6. Upgrading and resizing")]
    flat = " ".join(section.split())
    assert "`config.database.name` must be the source's database" in flat
    assert "`serviceVersion` must be the source's major" in flat
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        assert "at least the snapshot" not in path.read_text(), path
