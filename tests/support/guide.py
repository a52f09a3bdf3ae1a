"""The user guide's steps, extracted as a newcomer (or ``make e2e``) runs them.

Conventions of ``docs/user-guide.md`` (its introduction says so too):

- every fenced ``sh`` block is a step to run, in order; its lines are ``kubectl`` commands
  (``\\`` continues a line, `` # `` starts a comment);
- a manifest is applied from a file of the repository (``kubectl apply -f examples/...``) or
  from a fenced ``yaml`` block whose first line is ``# file: <name>``, which a later
  ``kubectl apply -f <name>`` applies;
- a fenced block without a language right after a step is the output its last
  ``kubectl get`` prints (columns as kubectl prints them; some may be left out).

``steps`` reads them; ``check`` replays them against what the manifests say (without a cluster)
and returns every way the guide cannot work as written.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
USER_GUIDE = ROOT / "docs" / "user-guide.md"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
FILE_MARK = re.compile(r"^# file: (\S+)\s*$")


@dataclass(frozen=True)
class Step:
    """One fenced block: ``sh`` (commands), ``file`` (a named manifest) or ``output``."""

    kind: str
    text: str
    line: int
    name: str = ""  # a ``file`` step's name

    def commands(self) -> list[list[str]]:
        """The step's commands as argument lists (continuations joined, comments dropped)."""
        out = []
        for raw in re.sub(r"\\\n", " ", self.text).splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                out.append(shlex.split(line))
        return out


def steps(text: str) -> list[Step]:
    """Every step of a guide, in order."""
    out: list[Step] = []
    previous_end = -1
    for m in FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        first = body.splitlines()[0] if body else ""
        if lang == "sh":
            out.append(Step("sh", body, line))
        elif lang == "yaml" and FILE_MARK.match(first):
            out.append(Step("file", body, line, FILE_MARK.match(first).group(1)))
        elif lang == "" and out and out[-1].kind == "sh" and _adjacent(text, previous_end, m):
            out.append(Step("output", body, line))
        previous_end = m.end()
    return out


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
