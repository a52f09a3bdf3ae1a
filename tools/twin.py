"""A control-plane twin: a fake cluster, Crossplane's composite reconciler calling the
function the way its function runner does, and the providers of ``providers.py``.

Crossplane side, grounded in crossplane v2.3.4 (tag ``v2.3.4``):

- the request flow of one pipeline step (the Composition's bootstrap requirements fetched,
  tag once, then the required-resources loop):
  ``tools/xfn.py`` (``composition_functions.go`` ``Compose``,
  ``internal/xfn/required_resources.go``), shared with ``make render``;
- required resources by selector: ``ExistingRequiredResourcesFetcher.Fetch``
  (``required_resources.go``): by name, or by labels in a namespace, sorted;
- observed state: the XR (with its status) and its connection details, and every composed
  resource with the connection details read from its ``writeConnectionSecretToRef`` Secret
  (``composition_functions.go`` ``AsState``, ``ExistingComposedResourceObserver``);
- desired composed resources keep an observed resource's name, else get a generated one; they
  carry the composite and claim labels, the ``crossplane.io/composition-resource-name``
  annotation and a controller reference (``RenderComposedResourceMetadata``), and are
  server-side applied (Crossplane's fields win; fields it does not send, such as an external
  name a provider set, stay); observed resources no longer desired are deleted
  (``DeletingComposedResourceGarbageCollector``);
- the XR gets the desired composite status, the function's conditions, ``Synced`` and
  ``Ready`` = ``Available`` when every desired resource is ``READY_TRUE``, else ``Creating``
  (``reconciler.go``: "Unready resources: ..."), unless the function set the desired
  composite's ``ready``, which supersedes both (``Creating`` without a message for
  ``READY_FALSE``; ``composition_functions.go`` ``Compose`` reads it); its connection
  details go to its ``writeConnectionSecretToRef`` Secret;
- a fatal result stops the pipeline: nothing is applied (``PipelineFatalError``).

The API server: a write that changes nothing keeps ``resourceVersion`` (so "stable" means no
write changed anything); deleting an XR deletes its composed resources (owner references,
foreground deletion), and the providers then delete or keep the external resource by
``deletionPolicy``. Deleting the XR only removes Crossplane's finalizer (``reconciler.go``:
``meta.WasDeleted`` -> ``RemoveFinalizer``); the rest is Kubernetes' garbage collector
(``Cluster.collect_garbage``): an object is deleted only once every owner in its
``ownerReferences`` is absent ("If ALL objects in the list have been deleted, this object will
be garbage collected", ``ObjectMeta.ownerReferences``); with one owner left, the dangling
references are removed and the object stays (kubernetes ``pkg/controller/garbagecollector/
garbagecollector.go`` ``attemptToDeleteItem``); a namespaced owner counts only in the
dependent's namespace, and a cluster-scoped dependent cannot have one (kubernetes.io
"Owners and dependents"). The Namespaces of the internal Secrets exist from the start, and a
claim's Namespace from its creation (a claim lives in it).
Legacy cluster-scoped XRs carry the claim labels ``crossplane.io/claim-name`` and
``crossplane.io/claim-namespace``; claims themselves are not modelled.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function.settings import Settings
from tools import xfn, xrender
from tools.providers import SQL_GROUP, Providers

Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name
NAME_ANNOTATION = "crossplane.io/composition-resource-name"
CLAIM_LABELS = ("crossplane.io/claim-name", "crossplane.io/claim-namespace")


def key_of(body: dict) -> Key:
    meta = body.get("metadata") or {}
    return (body["apiVersion"], body["kind"], meta.get("namespace") or "", meta["name"])


@dataclass
class Cluster:
    """Objects by key and Secrets' data by (namespace, name)."""

    objects: dict[Key, dict] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    version: int = 0
    # object uid -> owner uids of ownerReferences another field manager than Crossplane set
    # (the provider's PasswordGenerator): Crossplane's server-side apply never removes them.
    foreign_owner_refs: dict[str, set[str]] = field(default_factory=dict)

    def put(self, body: dict) -> bool:
        """Create or update; True when something changed (then a new resourceVersion)."""
        key = key_of(body)
        old = self.objects.get(key)
        meta = body.setdefault("metadata", {})
        if old is not None:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            if old == body:
                return False
        else:
            meta.setdefault("uid", _uid(*key))
        self.version += 1
        meta["resourceVersion"] = str(self.version)
        self.objects[key] = copy.deepcopy(body)
        return True

    def get(self, key: Key) -> dict | None:
        body = self.objects.get(key)
        return copy.deepcopy(body) if body is not None else None

    def delete(self, key: Key) -> dict | None:
        return self.objects.pop(key, None)

    def collect_garbage(self) -> list[Key]:
        """Kubernetes' garbage collector until nothing changes; the keys it deleted."""
        deleted: list[Key] = []
        changed = True
        while changed:
            changed = False
            for key in sorted(self.objects):
                body = self.objects[key]
                refs = body["metadata"].get("ownerReferences") or []
                if not refs:
                    continue
                solid = [r for r in refs if self._owner_exists(key, r)]
                if not solid:
                    del self.objects[key]
                    deleted.append(key)
                    changed = True
                elif len(solid) < len(refs):
                    body = copy.deepcopy(body)
                    body["metadata"]["ownerReferences"] = solid
                    self.put(body)
                    changed = True
        return deleted

    def _owner_exists(self, dependent: Key, ref: dict) -> bool:
        for (api, kind, ns, _), owner in self.objects.items():
            if owner["metadata"].get("uid") != ref.get("uid"):
                continue
            if (api, kind) in NAMESPACED:
                return ns == dependent[2] != ""
            return True
        return False

    def fetch(self, selector: fnv1.ResourceSelector) -> list[dict]:
        """Required resources as ExistingRequiredResourcesFetcher.Fetch finds them."""
        return [copy.deepcopy(d) for d in xfn.select(selector, list(self.objects.values()))]

    def write_connection_secret(self, body: dict, details: dict[str, bytes]) -> None:
        ref = (body.get("spec") or {}).get("writeConnectionSecretToRef")
        if ref:
            data = self.secrets.setdefault((ref.get("namespace") or "", ref["name"]), {})
            data.update(details)

    def connection_details(self, body: dict) -> dict[str, bytes]:
        ref = (body.get("spec") or {}).get("writeConnectionSecretToRef")
        if not ref:
            return {}
        return dict(self.secrets.get((ref.get("namespace") or "", ref["name"]), {}))

    def sql_credentials(self, body: dict) -> dict[str, bytes] | None:
        """What provider-sql connects with: its ProviderConfig's Secret, through the
        ``secretKeyMapping``; None while either is missing."""
        name = ((body.get("spec") or {}).get("providerConfigRef") or {}).get("name")
        pc = self.objects.get((f"{SQL_GROUP}/v1alpha1", "ProviderConfig", "", str(name)))
        if pc is None:
            return None
        creds = (pc.get("spec") or {}).get("credentials") or {}
        ref = creds.get("connectionSecretRef") or {}
        data = self.secrets.get((ref.get("namespace") or "", ref.get("name") or ""), {})
        mapping = {k: k for k in ("endpoint", "port", "username", "password")}
        mapping.update(creds.get("secretKeyMapping") or {})
        out = {k: data.get(v) for k, v in mapping.items()}
        return out if all(out.values()) else None

    def provider_config_users(self, name: str) -> int:
        return sum(
            1
            for (api, kind, _, _), b in self.objects.items()
            if api.startswith(SQL_GROUP)
            and kind != "ProviderConfig"
            and ((b.get("spec") or {}).get("providerConfigRef") or {}).get("name") == name
        )

    def fingerprint(self) -> str:
        return json.dumps(
            [sorted(self.objects.items()), sorted(self.secrets.items())], default=repr
        )


# Kinds of the twin that are namespaced (every other kind it holds is cluster-scoped).
NAMESPACED = {("v1", "Secret")}


def _uid(*parts: str) -> str:
    h = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


@dataclass
class Step:
    """One pipeline step as the function saw it: every call's request and response."""

    xr: str
    calls: list[tuple[fnv1.RunFunctionRequest, fnv1.RunFunctionResponse]]

    @property
    def response(self) -> fnv1.RunFunctionResponse:
        return self.calls[-1][1]


@dataclass
class ControlPlane:
    """Crossplane and the providers over one fake cluster."""

    call: xfn.Call
    seed: bool = False  # seed requirements from the last reconcile (Crossplane after v2.3.4)
    # Fetch each Composition step's bootstrap requirements (``requirements.requiredResources``);
    # False: every step as if its Composition declared none.
    bootstrap: bool = True
    cluster: Cluster = field(default_factory=Cluster)
    providers: Providers = field(default_factory=Providers)
    composed: dict[Key, dict[str, Key]] = field(default_factory=dict)
    requirements: dict[Key, dict[str, fnv1.ResourceSelector]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    refused_deletions: list[Key] = field(default_factory=list)
    stuck: list[Key] = field(default_factory=list)  # MRs whose deletion can never finish
    last: dict[Key, Step] = field(default_factory=dict)
    clock: int = 0
    on_step: Callable[[Step], None] | None = None
    # The operator's EnvironmentConfigs, in the cluster from the start (examples/environmentconfig).
    environment: list[dict] = field(default_factory=xrender.environment_configs)

    # object uid -> owner uids of the ownerReferences Crossplane applied last (its field
    # manager's entries: an entry it stops applying is removed unless another manager has it).
    applied_owner_refs: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for doc in self.environment:
            self.cluster.put(copy.deepcopy(doc))
        for name in internal_secret_namespaces():
            self.cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def create(self, xr: dict) -> Key:
        """A legacy cluster-scoped XR, as Crossplane makes it for a claim."""
        body = copy.deepcopy(xr)
        body["metadata"].pop("namespace", None)
        ns = (body["metadata"].get("labels") or {}).get("crossplane.io/claim-namespace")
        if ns and self.cluster.get(("v1", "Namespace", "", ns)) is None:
            self.cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self.cluster.put(body)
        self.composed.setdefault(key_of(body), {})
        return key_of(body)

    def xrs(self) -> list[Key]:
        return sorted(self.composed)

    def now(self) -> str:
        return (
            f"2025-06-02T{8 + self.clock // 3600:02d}:{self.clock // 60 % 60:02d}:"
            f"{self.clock % 60:02d}Z"
        )

    # --- one round: Crossplane reconciles every XR, then every provider every MR ---------

    def round(self) -> bool:
        before = self.cluster.fingerprint()
        self.clock += 1
        for key in self.xrs():
            self.reconcile(key)
        for key in sorted(k for ks in self.composed.values() for k in ks.values()):
            self.provider_tick(key)
        return self.cluster.fingerprint() != before

    def until_stable(self, max_rounds: int = 40) -> int:
        """Rounds until one changes nothing; fails if that never happens."""
        for n in range(1, max_rounds + 1):
            if not self.round():
                return n
        raise AssertionError(f"not stable after {max_rounds} rounds")

    def provider_tick(self, key: Key) -> None:
        body = self.cluster.get(key)
        if body is None:
            return
        if body["kind"] == USAGE_KIND:
            self.cluster.put(self._usage_tick(body))
            return
        if body["apiVersion"] == "v1":
            return  # a core object (the master Secret): no provider reconciles it
        self.cluster.put(self.providers.tick(body, self.cluster, self.now()))

    # --- Crossplane's usage controller and admission webhook ---------------------------

    def _usage_tick(self, usage: dict) -> dict:
        """internal/controller/protection/usage/reconciler.go (v2.3.4): resolve the ``by``
        selector (``selector.go``: labels and the same controller), add the finalizer, label
        the used object ``crossplane.io/in-use``, then ``Available`` (Ready=True). An
        unresolvable selector is an error: nothing else happens."""
        spec = usage["spec"]
        by = spec.get("by")
        if by and not (by.get("resourceRef") or {}).get("name"):
            sel = by.get("resourceSelector") or {}
            found = [
                b
                for b in self.cluster.objects.values()
                if b["apiVersion"] == by["apiVersion"]
                and b["kind"] == by["kind"]
                and all(
                    ((b["metadata"].get("labels") or {}).get(k) == v)
                    for k, v in (sel.get("matchLabels") or {}).items()
                )
                and (
                    not sel.get("matchControllerRef")
                    or _controller_uid(b) == _controller_uid(usage)
                )
            ]
            if not found:
                return usage
            by["resourceRef"] = {"name": found[0]["metadata"]["name"]}
        finalizers = usage["metadata"].setdefault("finalizers", [])
        if USAGE_FINALIZER not in finalizers:
            finalizers.append(USAGE_FINALIZER)
        used = self.cluster.get(_of_key(usage))
        if used is None:
            return usage  # errGetUsed
        if (used["metadata"].get("labels") or {}).get(IN_USE_LABEL) != "true":
            used["metadata"].setdefault("labels", {})[IN_USE_LABEL] = "true"
            self.cluster.put(used)
        status = usage.setdefault("status", {})
        if not any(c.get("type") == "Ready" for c in status.get("conditions") or []):
            status["conditions"] = [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Available",
                    "lastTransitionTime": self.now(),
                }
            ]
        return usage

    def _usages_of(self, body: dict) -> list[dict]:
        """internal/protection/usage/finder.go ``FindUsageOf``: ClusterUsages by
        ``apiVersion.kind.name`` of their ``of``."""
        key = key_of(body)
        return [
            u
            for u in self.cluster.objects.values()
            if u["kind"] == USAGE_KIND and _of_key(u) == key
        ]

    def _admit_delete(self, body: dict) -> bool:
        """internal/webhook/protection/usage/handler.go: the webhook sees only objects labelled
        ``crossplane.io/in-use`` (``cluster/webhookconfigurations/usage.yaml``); while a Usage
        names one, its deletion is refused and the attempt recorded (for ``replayDeletion``)."""
        if (body["metadata"].get("labels") or {}).get(IN_USE_LABEL) != "true":
            return True
        if not self._usages_of(body):
            return True
        annotations = body["metadata"].setdefault("annotations", {})
        if annotations.get(DELETION_ATTEMPT) != "Background":
            annotations[DELETION_ATTEMPT] = "Background"
            self.cluster.put(body)
        self.refused_deletions.append(key_of(body))
        return False

    def _release(self, usage: dict) -> None:
        """A Usage being deleted (its ``by`` is gone): the in-use label goes when no other
        Usage names the object; a refused deletion is replayed (``replayDeletion``)."""
        self.cluster.delete(key_of(usage))
        used = self.cluster.get(_of_key(usage))
        if used is None:
            return
        if not self._usages_of(used):
            used["metadata"].get("labels", {}).pop(IN_USE_LABEL, None)
            self.cluster.put(used)
        attempted = DELETION_ATTEMPT in (used["metadata"].get("annotations") or {})
        if usage["spec"].get("replayDeletion") and attempted and key_of(used) in self.composed:
            self.delete(key_of(used))

    # --- Crossplane's composite reconciler -------------------------------------------

    def reconcile(self, key: Key) -> Step | None:
        xr = self.cluster.get(key)
        if xr is None:
            return None
        comp = xrender.compositions()[xr["spec"]["compositionRef"]["name"]]
        req = xfn.step_request(self.observed(key, xr), xrender.function_input(comp))
        if self.bootstrap:
            xfn.bootstrap(req, xrender.bootstrap_selectors(comp), self.cluster.fetch)
        step = Step(xr=key[3], calls=[])
        seed = self.requirements.get(key) if self.seed else None
        rsp = xfn.run_step(
            self.call,
            req,
            self.cluster.fetch,
            seed=seed or ({} if self.seed else None),
            on_call=lambda q, r: step.calls.append((q, r)),
        )
        self.steps.append(step)
        self.last[key] = step
        if self.on_step is not None:
            self.on_step(step)
        self.requirements[key] = {n: s for n, s in rsp.requirements.resources.items()}
        if any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
            self._set_xr_status(key, xr, None, [_condition("Synced", "False", "ReconcileError")])
            return step
        ready = self.apply(key, xr, rsp)
        self._finish(key, xr, rsp, ready)
        return step

    def observed(self, key: Key, xr: dict) -> fnv1.State:
        state = fnv1.State()
        state.composite.resource.update(xr)
        for k, v in self.cluster.connection_details(xr).items():
            state.composite.connection_details[k] = v
        for name, ckey in sorted(self.composed[key].items()):
            body = self.cluster.get(ckey)
            if body is None:
                continue
            target = state.resources[name]
            target.resource.update(body)
            for k, v in self.cluster.connection_details(body).items():
                target.connection_details[k] = v
        return state

    def apply(self, key: Key, xr: dict, rsp: fnv1.RunFunctionResponse) -> dict[str, bool]:
        """Apply the desired composed resources, delete the ones no longer desired."""
        ready: dict[str, bool] = {}
        composed = self.composed[key]
        for name, r in sorted(rsp.desired.resources.items()):
            body = resource.struct_to_dict(r.resource)
            ckey = composed.get(name)
            if ckey is None and (body.get("metadata") or {}).get("name"):
                ckey = key_of(body)  # a named object that may exist already: applied onto it
            existing = self.cluster.get(ckey) if ckey else None
            composed[name] = self._apply_one(xr, name, body, existing)
            ready[name] = r.ready == fnv1.READY_TRUE
        for name in sorted(set(composed) - set(rsp.desired.resources)):
            ckey = composed.pop(name)
            usage = self.cluster.get(ckey) if ckey[1] == USAGE_KIND else None
            if usage is not None:
                self._release(usage)  # only Usages without ``by`` ever stop being desired
            else:
                self._delete_composed(ckey)
        return ready

    def _apply_one(self, xr: dict, name: str, body: dict, existing: dict | None) -> Key:
        meta = body.setdefault("metadata", {})
        xr_meta = xr["metadata"]
        if existing is not None:
            meta["name"] = existing["metadata"]["name"]
        elif not meta.get("name"):
            meta["name"] = f"{xr_meta['name']}-{_uid(xr_meta['uid'], name)[:5]}"
        labels = meta.setdefault("labels", {})
        labels["crossplane.io/composite"] = xr_meta["name"]
        for label in CLAIM_LABELS:
            if label in (xr_meta.get("labels") or {}):
                labels[label] = xr_meta["labels"][label]
        meta.setdefault("annotations", {})[NAME_ANNOTATION] = name
        # meta.AddControllerReference: the function's owner references, plus the XR's.
        rendered = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != xr_meta["uid"]]
        meta["ownerReferences"] = [
            *rendered,
            {
                "apiVersion": xr["apiVersion"],
                "kind": xr["kind"],
                "name": xr_meta["name"],
                "uid": xr_meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            },
        ]
        owned = self.providers.owned.get(existing["metadata"]["uid"], set()) if existing else set()
        merged = _server_side_apply(existing, body, owned)
        applied = {r["uid"] for r in meta["ownerReferences"]}
        if existing is not None:
            uid = existing["metadata"]["uid"]
            meta["ownerReferences"] = _merge_owner_refs(
                existing["metadata"].get("ownerReferences") or [],
                meta["ownerReferences"],
                self.applied_owner_refs.get(uid, set()),
                self.cluster.foreign_owner_refs.get(uid, set()),
            )
            merged["metadata"]["ownerReferences"] = meta["ownerReferences"]
        self.cluster.put(merged)
        self.applied_owner_refs[merged["metadata"]["uid"]] = applied
        return key_of(merged)

    def _delete_composed(self, ckey: Key) -> None:
        body = self.cluster.get(ckey)
        if body is None:
            return
        policy = (body.get("spec") or {}).get("deletionPolicy") or "Delete"
        sql = body["apiVersion"].startswith(SQL_GROUP) and body["kind"] != "ProviderConfig"
        if sql and policy == "Delete" and not self.cluster.sql_credentials(body):
            # provider-sql's Delete connects through the ProviderConfig: it cannot drop it.
            body["metadata"]["deletionTimestamp"] = self.now()
            self.cluster.put(body)
            self.stuck.append(ckey)
            return
        self.cluster.delete(ckey)
        ref = (body.get("spec") or {}).get("writeConnectionSecretToRef")
        if ref:
            self.cluster.secrets.pop((ref.get("namespace") or "", ref["name"]), None)
        self.providers.delete(body)

    def _finish(
        self, key: Key, xr: dict, rsp: fnv1.RunFunctionResponse, ready: dict[str, bool]
    ) -> None:
        unready = sorted(n for n, ok in ready.items() if not ok)
        conditions = [_condition("Synced", "True", "ReconcileSuccess")]
        explicit = rsp.desired.composite.ready
        if explicit == fnv1.READY_FALSE:
            # reconciler.go: "If the composer explicitly specified the XR's readiness it
            # supersedes readiness derived from composed resources": Creating, no message.
            conditions.append(_condition("Ready", "False", "Creating"))
        elif explicit == fnv1.READY_TRUE:
            conditions.append(_condition("Ready", "True", "Available"))
        elif unready:
            conditions.append(
                _condition("Ready", "False", "Creating", "Unready resources: " + ", ".join(unready))
            )
        else:
            conditions.append(_condition("Ready", "True", "Available"))
        for c in rsp.conditions:
            status = {fnv1.STATUS_CONDITION_TRUE: "True", fnv1.STATUS_CONDITION_FALSE: "False"}
            conditions.append(
                _condition(c.type, status.get(c.status, "Unknown"), c.reason, c.message)
            )
        desired = resource.struct_to_dict(rsp.desired.composite.resource).get("status") or {}
        self._set_xr_status(key, xr, desired, conditions)
        ref = (xr.get("spec") or {}).get("writeConnectionSecretToRef")
        if ref:
            self.cluster.secrets[(ref.get("namespace") or "", ref["name"])] = dict(
                rsp.desired.composite.connection_details
            )

    def _set_xr_status(
        self, key: Key, xr: dict, desired: dict | None, conditions: list[dict]
    ) -> None:
        status = dict(xr.get("status") or {}) if desired is None else copy.deepcopy(desired)
        old = {c["type"]: c for c in (xr.get("status") or {}).get("conditions") or []}
        now = self.now()
        merged = []
        for c in conditions:
            prev = old.get(c["type"])
            keep = prev is not None and all(prev.get(k) == c.get(k) for k in c)
            merged.append(prev if keep else {**c, "lastTransitionTime": now})
        status["conditions"] = sorted(merged, key=lambda c: c["type"])
        xr["status"] = status
        self.cluster.put(xr)

    # --- deletion ---------------------------------------------------------------------

    def delete(self, key: Key) -> bool:
        """Delete the XR, as its claim's controller does; False when the Usage webhook
        refuses. Its composed resources go with it (owner references): a provider-sql MR only
        once provider-sql could connect to drop it (else it stays, ``stuck``); each MR's
        connection Secret with it (crossplane-runtime ``ConnectionSecretFor``: owned by the
        MR); Usages last, once their ``by`` resource is gone (usage reconciler.go)."""
        body = self.cluster.get(key)
        if body is not None and not self._admit_delete(body):
            return False
        composed = self.composed.pop(key, {})
        usages = [k for k in composed.values() if k[1] == USAGE_KIND]
        core = [k for k in composed.values() if k[0] == "v1"]  # the garbage collector's
        for ckey in sorted(set(composed.values()) - set(usages) - set(core)):
            self._delete_composed(ckey)
        for ckey in sorted(usages):
            usage = self.cluster.get(ckey)
            if usage is not None:
                self._release(usage)
        xr = self.cluster.delete(key)
        ref = ((xr or {}).get("spec") or {}).get("writeConnectionSecretToRef")
        if ref:
            self.cluster.secrets.pop((ref.get("namespace") or "", ref["name"]), None)
        self.requirements.pop(key, None)
        self.cluster.collect_garbage()
        return True

    def delete_namespace(self, name: str) -> None:
        """Delete a Namespace: everything in it goes (the namespace controller), then the
        garbage collector runs."""
        self.cluster.delete(("v1", "Namespace", "", name))
        for key in [k for k in self.cluster.objects if k[2] == name]:
            self.cluster.delete(key)
        self.cluster.collect_garbage()

    # --- reading the outcome ----------------------------------------------------------

    def xr(self, key: Key) -> dict:
        body = self.cluster.get(key)
        assert body is not None, key
        return body


USAGE_KIND = "ClusterUsage"
USAGE_FINALIZER = "usage.apiextensions.crossplane.io"
IN_USE_LABEL = "crossplane.io/in-use"
DELETION_ATTEMPT = "usage.crossplane.io/deletion-attempt-with-policy"  # internal/protection


def _controller_uid(body: dict) -> str | None:
    for ref in body["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _of_key(usage: dict) -> Key:
    of = usage["spec"]["of"]
    return (of["apiVersion"], of["kind"], "", of["resourceRef"]["name"])


def _condition(typ: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    c = {"type": typ, "status": status, "reason": reason}
    if message:
        c["message"] = message
    return c


def _merge_owner_refs(
    existing: list[dict], desired: list[dict], applied_before: set[str], foreign: set[str]
) -> list[dict]:
    """``ownerReferences`` after Crossplane's server-side apply: a list map keyed by ``uid``
    (``x-kubernetes-list-map-keys: [uid]``), so its entries win, others' entries stay ("it will
    merge rather than replace owner references", ``composition_functions.go``), and an entry
    only Crossplane applied before and applies no more is removed."""
    want = {r["uid"] for r in desired}
    kept = [
        r
        for r in existing
        if r["uid"] not in want and (r["uid"] not in applied_before or r["uid"] in foreign)
    ]
    return [*kept, *desired]


def _server_side_apply(existing: dict | None, desired: dict, provider_fields: set[str]) -> dict:
    """Crossplane's apply with force: its spec replaces, its labels and annotations win,
    what others own (status, an external name a provider set, finalizers, ``forProvider``
    fields the provider resolved and Crossplane does not set) stays. A Secret has no spec: its
    ``data`` keys win, keys others wrote (the provider's ``password``) stay."""
    if existing is None:
        return desired
    out = copy.deepcopy(existing)
    if "spec" not in desired and "spec" not in existing:
        out["data"] = {**(existing.get("data") or {}), **(desired.get("data") or {})}
        for field_name in ("type", "immutable"):
            if field_name in desired:
                out[field_name] = desired[field_name]
        meta, want = out["metadata"], desired["metadata"]
        meta.setdefault("labels", {}).update(want.get("labels") or {})
        meta.setdefault("annotations", {}).update(want.get("annotations") or {})
        return out
    old_fp = (existing.get("spec") or {}).get("forProvider") or {}
    out["spec"] = copy.deepcopy(desired.get("spec") or {})
    new_fp = out["spec"].get("forProvider")
    if isinstance(new_fp, dict):
        for name in sorted(provider_fields):
            if name in old_fp and name not in new_fp:
                new_fp[name] = old_fp[name]
    # The usage controller wrote the resolved ``by.resourceRef`` (selector.go): it stays.
    old_by, new_by = (existing.get("spec") or {}).get("by"), out["spec"].get("by")
    if isinstance(old_by, dict) and isinstance(new_by, dict) and "resourceRef" in old_by:
        new_by.setdefault("resourceRef", old_by["resourceRef"])
    meta, want = out["metadata"], desired["metadata"]
    meta.setdefault("labels", {}).update(want.get("labels") or {})
    meta.setdefault("annotations", {}).update(want.get("annotations") or {})
    meta["ownerReferences"] = want["ownerReferences"]
    return out


def internal_secret_namespaces() -> list[str]:
    """The ``internalSecretNamespace`` of every Composition's function input (the default
    when unset)."""
    default = Settings().internalSecretNamespace
    return sorted(
        {
            xrender.function_input(comp).get("internalSecretNamespace") or default
            for comp in xrender.compositions().values()
        }
    )


def example_xrs() -> list[dict]:
    """Every XR of every example folder (``examples/*/xr*.yaml``), read generically."""
    return [ex.xr for ex in xrender.examples()]


def result_messages(rsp: fnv1.RunFunctionResponse, severity: int) -> list[str]:
    return [r.message for r in rsp.results if r.severity == severity]


def ready_flags(rsp: fnv1.RunFunctionResponse) -> dict[str, Any]:
    return {n: r.ready for n, r in rsp.desired.resources.items()}
