"""Count the writes of composed resources at rest: one watch per kind, every MODIFIED event of a
composed resource is one write, with what it changed and who wrote it.

A watch sees every write (each one changes the resourceVersion; the API server sends no event
for an update that changes nothing: k8s.io/apiserver pkg/registry/generic/registry/store.go
``Update`` keeps the stored object when the new one is equal), so the count is exact, not
sampled.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import dynamic

Ref = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" when cluster-scoped), name

# What every write changes, so never the news.
_BOOKKEEPING = {("metadata", "resourceVersion"), ("metadata", "managedFields")}


@dataclass
class Write:
    ref: Ref
    old_rv: str
    new_rv: str
    writer: str  # field manager, operation and subresource of the newest managedFields entry
    changed: list[str]  # dotted paths whose value differs

    @property
    def key(self) -> str:
        _, kind, ns, name = self.ref
        return f"{kind}/{ns + '/' if ns else ''}{name}"

    def line(self) -> str:
        return f"{self.key}: rv {self.old_rv} -> {self.new_rv} by {self.writer}: " + ", ".join(
            self.changed
        )


@dataclass
class Watched:
    writes: list[Write] = field(default_factory=list)
    watched: int = 0
    errors: list[str] = field(default_factory=list)

    def per_object(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for w in self.writes:
            out[w.key] = out.get(w.key, 0) + 1
        return out


def composed_refs(xrs: Iterable[dict[str, Any]]) -> set[Ref]:
    """The composed resources of the XRs (``spec.resourceRefs`` of a claim's XR; v2 XRs keep
    them in ``spec.crossplane.resourceRefs``)."""
    out: set[Ref] = set()
    for xr in xrs:
        spec = xr.get("spec") or {}
        refs = spec.get("resourceRefs") or (spec.get("crossplane") or {}).get("resourceRefs")
        for r in refs or []:
            out.add((r["apiVersion"], r["kind"], r.get("namespace") or "", r["name"]))
    return out


def changed_paths(old: Any, new: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Dotted paths where ``old`` and ``new`` differ (lists compared whole), bookkeeping left
    out."""
    if path in _BOOKKEEPING:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            out += changed_paths(old.get(k), new.get(k), (*path, str(k)))
        return out
    if isinstance(old, list) and isinstance(new, list) and path[-1:] == ("conditions",):
        # Conditions by type, so a changed one is named.
        before = {c.get("type"): c for c in old if isinstance(c, dict)}
        after = {c.get("type"): c for c in new if isinstance(c, dict)}
        return changed_paths(before, after, path)
    return [] if old == new else [".".join(path)]


def writer(obj: dict[str, Any]) -> str:
    entries = sorted(
        obj.get("metadata", {}).get("managedFields") or [], key=lambda f: f.get("time") or ""
    )
    last = entries[-1] if entries else {}
    return " ".join(
        str(x) for x in (last.get("manager"), last.get("operation"), last.get("subresource")) if x
    )


def _watch_kind(
    dyn: dynamic.DynamicClient,
    resource: Any,
    *,
    refs: set[Ref],
    seconds: int,
    out: Watched,
    lock: threading.Lock,
) -> None:
    api_version, kind = resource.group_version, resource.kind
    try:
        listed = resource.get().to_dict()
        last: dict[Ref, dict[str, Any]] = {}
        for item in listed.get("items") or []:
            meta = item["metadata"]
            ref = (api_version, kind, meta.get("namespace") or "", meta["name"])
            if ref in refs:
                last[ref] = item
        with lock:
            out.watched += len(last)
        stream = dyn.watch(
            resource, resource_version=listed["metadata"]["resourceVersion"], timeout=seconds
        )
        for event in stream:
            obj = event["raw_object"]
            meta = obj.get("metadata") or {}
            ref = (api_version, kind, meta.get("namespace") or "", meta.get("name", ""))
            if ref not in refs:
                continue
            before = last.get(ref, {})
            last[ref] = obj
            write = Write(
                ref,
                (before.get("metadata") or {}).get("resourceVersion", ""),
                meta.get("resourceVersion", ""),
                writer(obj) if event["type"] != "DELETED" else "(deleted)",
                changed_paths(before, obj) if event["type"] != "DELETED" else ["(deleted)"],
            )
            with lock:
                out.writes.append(write)
    except Exception as err:  # noqa: BLE001 - reported, and the test fails on it
        with lock:
            out.errors.append(f"{kind} {api_version}: {err}")


def watch_writes(api_client: Any, refs: set[Ref], seconds: int) -> Watched:
    """Watch every kind of ``refs`` for ``seconds`` (bounded: the API server ends each watch
    after ``timeoutSeconds``); every event of one of ``refs`` is a write."""
    dyn = dynamic.DynamicClient(api_client)
    out = Watched()
    lock = threading.Lock()
    # Discovery here, once per kind (the discoverer's cache is not shared across threads).
    resources = [
        dyn.resources.get(api_version=av, kind=kind) for av, kind in sorted({r[:2] for r in refs})
    ]
    threads = [
        threading.Thread(
            target=_watch_kind,
            args=(dyn, res),
            kwargs={"refs": refs, "seconds": seconds, "out": out, "lock": lock},
            daemon=True,
        )
        for res in resources
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return out
