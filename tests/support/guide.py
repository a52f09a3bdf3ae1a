"""The user guide's steps, extracted as a newcomer (or ``make e2e``) runs them.

Conventions of ``docs/user-guide.md`` (its introduction says so too):

- every fenced ``sh`` block is a step to run, in order; its lines are ``kubectl`` commands
  (``\\`` continues a line, `` # `` starts a comment);
- a manifest is applied from a file of the repository (``kubectl apply -f examples/...``) or
  from a fenced ``yaml`` block whose first line is ``# file: <name>``, which a later
  ``kubectl apply -f <name>`` applies;
- a fenced block without a language right after a step is the output its last
  ``kubectl get`` prints (columns as kubectl prints them; some may be left out);
- a step ``make e2e`` cannot run as written on its loopback control plane carries a mark, an
  HTML comment right before its fence (invisible in the rendered guide), naming what the e2e
  does instead and why:

  - ``<!-- e2e: skip: <reason> -->``: not run (a package from a registry, IRSA, Docker); the
    e2e prints the reason;
  - ``<!-- e2e: pods: <reason> -->``: run as written, but the Deployment it applies never gets
    a pod (no kubelet): the e2e reads the Secret its ``envFrom`` names and does what the
    container's command does.

  ``required_mark`` says which steps need which mark (``mark_problems`` lists every step whose
  mark is missing, unknown or not needed), so a step cannot lose its mark unnoticed.

``steps`` reads them; ``check`` replays them against what the manifests say (without a cluster)
and returns every way the guide cannot work as written. ``tests/e2e/test_guide.py`` runs the
same steps on the real control plane, the operator guide's install sections (``install_steps``)
being its set-up.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
USER_GUIDE = ROOT / "docs" / "user-guide.md"
OPERATOR_GUIDE = ROOT / "docs" / "operator-guide.md"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
FILE_MARK = re.compile(r"^# file: (\S+)\s*$")
# An e2e mark: an HTML comment, then only blank space up to the fence it marks.
E2E_MARK = re.compile(r"<!--\s*e2e:\s*([a-z-]+)\s*:\s*((?:(?!-->).)*?)\s*-->\s*\Z", re.S)
MARKS = {
    "skip": "not run on the loopback control plane; the reason is printed",
    "pods": "run, then the e2e does what the Deployment's pods would do with its Secret",
}
HEADING = re.compile(r"^## (.+)$", re.M)
# The operator guide's install walk-through: its sections 1 to 4 (build, providers and
# ProviderConfig, EnvironmentConfig, Configuration and RBAC).
INSTALL_SECTIONS = ("1.", "2.", "3.", "4.")


@dataclass(frozen=True)
class Step:
    """One fenced block: ``sh`` (commands), ``file`` (a named manifest) or ``output``."""

    kind: str
    text: str
    line: int
    name: str = ""  # a ``file`` step's name
    section: str = ""  # the ``## `` heading it is under
    mark: str = ""  # its e2e mark (``skip``, ``pods``), if any
    reason: str = ""  # what the mark says

    def lines(self) -> list[str]:
        """The step's shell lines as a user types them (continuations joined, comments
        dropped)."""
        out = []
        for raw in re.sub(r"\\\n", " ", self.text).splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                out.append(line)
        return out

    def commands(self) -> list[list[str]]:
        """The step's commands as argument lists."""
        return [shlex.split(line) for line in self.lines()]


def steps(text: str) -> list[Step]:
    """Every step of a guide, in order."""
    out: list[Step] = []
    previous_end = -1
    for m in FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        first = body.splitlines()[0] if body else ""
        section = _section(text, m.start())
        if lang == "sh":
            mark = E2E_MARK.search(text[max(previous_end, 0) : m.start()])
            out.append(
                Step("sh", body, line, section=section, mark=mark.group(1), reason=mark.group(2))
                if mark
                else Step("sh", body, line, section=section)
            )
        elif lang == "yaml" and (named := FILE_MARK.match(first)):
            out.append(Step("file", body, line, named.group(1), section=section))
        elif lang == "" and out and out[-1].kind == "sh" and _adjacent(text, previous_end, m):
            out.append(Step("output", body, line, section=section))
        previous_end = m.end()
    return out


def _section(text: str, at: int) -> str:
    """The last ``## `` heading before ``at``."""
    found = [h.group(1) for h in HEADING.finditer(text, 0, at)]
    return found[-1] if found else ""


def install_steps(text: str) -> list[Step]:
    """The operator guide's install walk-through (sections 1 to 4), in order."""
    return section_steps(text, *INSTALL_SECTIONS)


def section_steps(text: str, *numbers: str) -> list[Step]:
    """The steps of the ``## <number> ...`` sections, in order."""
    return [s for s in steps(text) if s.section.startswith(numbers)]


def _adjacent(text: str, previous_end: int, m: re.Match) -> bool:
    """An output block follows its step with prose between them at most."""
    return previous_end >= 0 and "```" not in text[previous_end : m.start()]


# --- what the manifests say -----------------------------------------------------------------

# Claim kinds: the resource names kubectl takes for them (with their group) and what they
# reference. Read from the XRDs.
Key = tuple[str, str, str]  # kind, namespace, name


def claim_resources() -> dict[str, str]:
    """``<plural>.<group>`` and ``<singular>.<group>`` -> claim kind, from the XRDs."""
    out = {}
    for path in sorted((ROOT / "xrds").glob("*.yaml")):
        xrd = yaml.safe_load(path.read_text())
        group, names = xrd["spec"]["group"], xrd["spec"]["claimNames"]
        kind = names["kind"]
        for n in (names["plural"], names.get("singular") or kind.lower()):
            out[f"{n}.{group}"] = kind
            out[n] = kind  # bare: refused below when another group may carry the same name
    return out


# anynines' Kubernetes-native data services define these in anynines.com (DESIGN §2): a bare
# name may resolve to theirs on a Klutch control plane.
CLASHING = {
    "postgresqlinstance",
    "postgresqlinstances",
    "servicebinding",
    "servicebindings",
    "backup",
    "backups",
    "restore",
    "restores",
}

# (claim kind, dotted field) -> referenced claim kind.
REFERENCES = {
    ("ObjectStorageBinding", "spec.instanceRef"): "ObjectStorageInstance",
    ("ServiceBinding", "spec.instanceRef"): "PostgresqlInstance",
    ("Backup", "spec.instanceRef"): "PostgresqlInstance",
    ("ScheduledBackup", "spec.instanceRef"): "PostgresqlInstance",
    ("PostgresqlInstance", "spec.restore.backup.name"): "Backup",
    ("PostgresqlInstance", "spec.restore.pointInTime.sourceInstanceRef"): "PostgresqlInstance",
}
# kubectl get flags that take a value.
VALUE_FLAGS = {"-o", "--output", "-l", "--selector", "--field-selector", "-L"}
# Printer columns whose value is a spec field of the claim.
SPEC_COLUMNS = {"VERSION": "spec.serviceVersion", "PLAN": "spec.plan", "REGION": "spec.region"}


def _get(doc: dict, dotted: str) -> object:
    node: object = doc
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _key(doc: dict) -> Key:
    meta = doc.get("metadata") or {}
    return (doc["kind"], meta.get("namespace") or "default", meta["name"])


@dataclass
class Replay:
    """What exists after each step, as far as the manifests say."""

    files: dict[str, list[dict]] = field(default_factory=dict)  # from ``# file:`` blocks
    applied: dict[Key, dict] = field(default_factory=dict)
    ever: set[Key] = field(default_factory=set)
    last_get: list[str] | None = None
    problems: list[str] = field(default_factory=list)

    def load(self, name: str, where: str) -> list[dict] | None:
        if name in self.files:
            return self.files[name]
        path = ROOT / name
        if not path.is_file():
            self.problems.append(f"{where}: applies {name}, which is not a file of the repository")
            return None
        return [d for d in yaml.safe_load_all(path.read_text()) if d]

    def secrets(self) -> set[tuple[str, str]]:
        """Secrets the applied claims write (``writeConnectionSecretToRef``)."""
        return {
            (ns, ref["name"])
            for (_, ns, _), doc in self.applied.items()
            if isinstance(ref := _get(doc, "spec.writeConnectionSecretToRef"), dict)
        }

    def apply(self, docs: list[dict], where: str) -> None:
        for doc in docs:
            key = _key(doc)
            for (kind, dotted), target in REFERENCES.items():
                name = _get(doc, dotted)
                if doc["kind"] == kind and name and (target, key[1], name) not in self.applied:
                    self.problems.append(
                        f"{where}: {key[0]} {key[2]} references {target} {name} ({dotted}), "
                        "which no earlier step applied"
                    )
            for env in _get(doc, "spec.template.spec.containers") or []:
                for source in env.get("envFrom") or []:
                    name = (source.get("secretRef") or {}).get("name")
                    if name and (key[1], name) not in self.secrets():
                        self.problems.append(
                            f"{where}: {key[0]} {key[2]} reads Secret {name}, which no applied "
                            "claim writes"
                        )
            self.applied[key] = doc
            self.ever.add(key)

    def delete(self, docs: list[dict], where: str) -> None:
        for doc in docs:
            if self.applied.pop(_key(doc), None) is None:
                self.problems.append(f"{where}: deletes {_key(doc)}, which is not applied")

    def get(self, args: list[str], where: str) -> None:
        words: list[str] = []
        namespace = "default"
        rest = iter(args)
        for arg in rest:
            if arg in {"-n", "--namespace"}:
                namespace = next(rest, namespace)
            elif arg in VALUE_FLAGS:
                next(rest, None)
            elif not arg.startswith("-"):
                words.append(arg)
        if not words:
            return
        resource, names = words[0], words[1:]
        if resource.split(".")[0] in CLASHING and "." not in resource:
            self.problems.append(
                f"{where}: kubectl get {resource}: name the kind with its group "
                "(anynines' data services define one of the same name)"
            )
        kinds = claim_resources()
        if resource in {"secret", "secrets"}:
            for name in names:
                if (namespace, name) not in self.secrets():
                    self.problems.append(f"{where}: gets Secret {name}, which no claim writes")
            self.last_get = None
            return
        kind = kinds.get(resource)
        if kind is None:
            self.last_get = None
            return
        for name in names:
            if (kind, namespace, name) not in self.applied:
                self.problems.append(f"{where}: gets {kind} {name}, which is not applied")
        self.last_get = [kind, namespace, *names]

    def wait(self, args: list[str], where: str) -> None:
        """``kubectl wait --for=... <resource>/<name> -n <ns>``: the claim must be applied."""
        namespace = "default"
        rest = iter(args)
        for arg in rest:
            if arg in {"-n", "--namespace"}:
                namespace = next(rest, namespace)
            elif "/" in arg and not arg.startswith("-"):
                resource, name = arg.split("/", 1)
                kind = claim_resources().get(resource)
                if kind and (kind, namespace, name) not in self.applied:
                    self.problems.append(f"{where}: waits for {kind} {name}, which is not applied")

    def output(self, text: str, where: str) -> None:
        if not self.last_get:
            return
        kind, namespace, *names = self.last_get
        lines = [ln for ln in text.splitlines() if ln.strip()]
        rows = columns(lines[0], lines[1:])
        shown = {r.get("NAME") for r in rows}
        expected = set(names) or {n for (k, ns, n) in self.applied if k == kind and ns == namespace}
        if shown != expected:
            self.problems.append(
                f"{where}: the sample output lists {sorted(shown)}; the steps before it leave "
                f"{sorted(expected)}"
            )
        for row in rows:
            doc = self.applied.get((kind, namespace, row.get("NAME", "")))
            for column, dotted in SPEC_COLUMNS.items():
                if doc is not None and column in row and str(_get(doc, dotted)) != row[column]:
                    self.problems.append(
                        f"{where}: {row['NAME']} shows {column} {row[column]}, its manifest "
                        f"says {_get(doc, dotted)}"
                    )


def columns(header: str, lines: list[str]) -> list[dict[str, str]]:
    """Rows of kubectl's table output: each column starts where its header starts (kubectl
    aligns them), so an empty cell (CONNECTION-SECRET) stays empty."""
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    ends = [*starts[1:], None]
    return [
        {n: line[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)}
        for line in lines
    ]


def check(text: str, source: str = "docs/user-guide.md") -> list[str]:
    """Every way the guide's steps cannot work as written (empty when they can)."""
    replay = Replay()
    for step in steps(text):
        where = f"{source}:{step.line}"
        if step.kind == "file":
            replay.files[step.name] = [d for d in yaml.safe_load_all(step.text) if d]
        elif step.kind == "output":
            replay.output(step.text, where)
        else:
            replay.last_get = None
            for args in step.commands():
                run(replay, args, where)
    if replay.applied:
        replay.problems.append(
            f"{source}: the clean-up leaves {sorted(replay.applied)} (everything applied: "
            f"{len(replay.ever)})"
        )
    return replay.problems


def run(replay: Replay, args: list[str], where: str) -> None:
    """One command of a step."""
    if "|" in args:
        args = args[: args.index("|")]
    if not args or args[0] != "kubectl":
        replay.problems.append(f"{where}: {' '.join(args)!r} is not a kubectl command")
        return
    verb = args[1] if len(args) > 1 else ""
    if verb in {"apply", "delete"} and "-f" in args:
        name = args[args.index("-f") + 1]
        docs = replay.load(name, where)
        if docs is not None:
            (replay.apply if verb == "apply" else replay.delete)(docs, where)
    elif verb in {"get", "describe"}:
        replay.get(args[2:], where)
    elif verb == "wait":
        replay.wait(args[2:], where)


# --- which steps the e2e cannot run as written ------------------------------------------------


def applied_manifests(step: Step, files: dict[str, list[dict]]) -> list[dict]:
    """The manifests a step's ``kubectl apply -f <name>`` commands apply: a ``# file:``
    block of the guide or a file of the repository (missing ones: none)."""
    out: list[dict] = []
    for args in step.commands():
        if args[:2] == ["kubectl", "apply"] and "-f" in args:
            name = args[args.index("-f") + 1]
            if name in files:
                out += files[name]
            elif (ROOT / name).is_file():
                out += [d for d in yaml.safe_load_all((ROOT / name).read_text()) if d]
    return out


def required_mark(step: Step, files: dict[str, list[dict]]) -> tuple[str, str] | None:
    """The mark a ``sh`` step needs, and why; None when the e2e runs it as written."""
    for args in step.commands():
        if not args or args[0] != "kubectl":
            return "skip", f"runs {args[0] if args else '?'}, not kubectl"
    for doc in applied_manifests(step, files):
        if str(doc.get("apiVersion", "")).startswith("pkg.crossplane.io/"):
            return "skip", f"installs the {doc['kind']} {doc['metadata']['name']} from a registry"
        if doc.get("kind") == "ProviderConfig" and _get(doc, "spec.credentials.source") == "IRSA":
            return "skip", "IRSA credentials need EKS"
    for doc in applied_manifests(step, files):
        if doc.get("kind") == "Deployment":
            return "pods", f"Deployment {doc['metadata']['name']}: no kubelet runs its pods"
    return None


def mark_problems(found: list[Step], source: str) -> list[str]:
    """Every ``sh`` step whose mark is missing, unknown or not needed, and every mark without
    a reason."""
    problems = []
    files: dict[str, list[dict]] = {}
    for step in found:
        if step.kind == "file":
            files[step.name] = [d for d in yaml.safe_load_all(step.text) if d]
        if step.kind != "sh":
            continue
        where = f"{source}:{step.line}"
        need = required_mark(step, files)
        if step.mark and step.mark not in MARKS:
            problems.append(f"{where}: unknown e2e mark {step.mark!r} (known: {sorted(MARKS)})")
        elif need and step.mark != need[0]:
            problems.append(
                f"{where}: needs <!-- e2e: {need[0]}: ... --> before its fence ({need[1]})"
            )
        elif not need and step.mark:
            problems.append(f"{where}: marked {step.mark!r}, but the e2e can run it as written")
        elif step.mark and not step.reason:
            problems.append(f"{where}: its e2e mark gives no reason")
    return problems


# --- sample output against what kubectl prints ------------------------------------------------

# The columns whose value the manifests decide (or the state the guide says it shows). Names,
# hashes and endpoints (BUCKET, ENDPOINT) come from the claim's uid; AGE from the clock.
DETERMINISTIC = (
    *("NAME", "SYNCED", "READY", "CONNECTION-SECRET"),
    *("VERSION", "PLAN", "REPLICAS", "REGION"),
)


def table_problems(sample: str, printed: str) -> list[str]:
    """How ``printed`` (what kubectl printed) differs from the guide's ``sample`` in the
    deterministic columns; every column of the sample must be one kubectl prints, in kubectl's
    order (a claim's own printer columns, then SYNCED, READY, CONNECTION-SECRET, AGE)."""
    want = [ln for ln in sample.splitlines() if ln.strip()]
    got = [ln for ln in printed.splitlines() if ln.strip()]
    if not got:
        return ["kubectl printed nothing"]
    missing = [c for c in want[0].split() if c not in got[0].split()]
    if missing:
        return [f"kubectl prints no column {', '.join(missing)} (it prints {got[0].split()})"]
    in_order = [c for c in got[0].split() if c in want[0].split()]
    if want[0].split() != in_order:
        return [f"columns {want[0].split()}, kubectl prints them as {in_order}"]
    sample_rows = {r["NAME"]: r for r in columns(want[0], want[1:])}
    printed_rows = {r["NAME"]: r for r in columns(got[0], got[1:])}
    if set(sample_rows) != set(printed_rows):
        return [f"rows {sorted(printed_rows)}, the guide shows {sorted(sample_rows)}"]
    return [
        f"{name} {column}: kubectl prints {printed_rows[name][column]!r}, the guide {value!r}"
        for name, row in sample_rows.items()
        for column, value in row.items()
        if column in DETERMINISTIC and printed_rows[name][column] != value
    ]
