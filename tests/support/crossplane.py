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
  (``reconciler.go``: "Unready resources: ..."); its connection details go to its
  ``writeConnectionSecretToRef`` Secret;
- a fatal result stops the pipeline: nothing is applied (``PipelineFatalError``).

The API server: a write that changes nothing keeps ``resourceVersion`` (so "stable" means no
write changed anything); deleting an XR deletes its composed resources (owner references,
foreground deletion), and the providers then delete or keep the external resource by
``deletionPolicy``. Legacy cluster-scoped XRs carry the claim labels
``crossplane.io/claim-name`` and ``crossplane.io/claim-namespace``; claims themselves are not
modelled.
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

from tests.support.providers import SQL_GROUP, Providers
from tools import xfn, xrender

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
    cluster: Cluster = field(default_factory=Cluster)
    providers: Providers = field(default_factory=Providers)
    composed: dict[Key, dict[str, Key]] = field(default_factory=dict)
    requirements: dict[Key, dict[str, fnv1.ResourceSelector]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    last: dict[Key, Step] = field(default_factory=dict)
    clock: int = 0
    on_step: Callable[[Step], None] | None = None
    # The operator's EnvironmentConfigs, in the cluster from the start (examples/environmentconfig).
    environment: list[dict] = field(default_factory=xrender.environment_configs)

    def __post_init__(self) -> None:
        for doc in self.environment:
            self.cluster.put(copy.deepcopy(doc))

    def create(self, xr: dict) -> Key:
        """A legacy cluster-scoped XR, as Crossplane makes it for a claim."""
        body = copy.deepcopy(xr)
        body["metadata"].pop("namespace", None)
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
        if body is not None:
            self.cluster.put(self.providers.tick(body, self.cluster, self.now()))

    # --- Crossplane's composite reconciler -------------------------------------------

    def reconcile(self, key: Key) -> Step | None:
        xr = self.cluster.get(key)
        if xr is None:
            return None
        comp = xrender.compositions()[xr["spec"]["compositionRef"]["name"]]
        req = xfn.step_request(self.observed(key, xr), xrender.function_input(comp))
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
            existing = self.cluster.get(ckey) if ckey else None
            composed[name] = self._apply_one(xr, name, body, existing)
            ready[name] = r.ready == fnv1.READY_TRUE
        for name in sorted(set(composed) - set(rsp.desired.resources)):
            self._delete_composed(composed.pop(name))
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
        meta["ownerReferences"] = [
            {
                "apiVersion": xr["apiVersion"],
                "kind": xr["kind"],
                "name": xr_meta["name"],
                "uid": xr_meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        merged = _server_side_apply(existing, body)
        self.cluster.put(merged)
        return key_of(merged)

    def _delete_composed(self, ckey: Key) -> None:
        body = self.cluster.delete(ckey)
        if body is not None:
            self.providers.delete(body)

    def _finish(
        self, key: Key, xr: dict, rsp: fnv1.RunFunctionResponse, ready: dict[str, bool]
    ) -> None:
        unready = sorted(n for n, ok in ready.items() if not ok)
        conditions = [_condition("Synced", "True", "ReconcileSuccess")]
        if unready:
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

    def delete(self, key: Key) -> None:
        """The XR goes; foreground deletion takes its composed resources with it."""
        for ckey in self.composed.pop(key, {}).values():
            self._delete_composed(ckey)
        xr = self.cluster.delete(key)
        ref = ((xr or {}).get("spec") or {}).get("writeConnectionSecretToRef")
        if ref:
            self.cluster.secrets.pop((ref.get("namespace") or "", ref["name"]), None)
        self.requirements.pop(key, None)

    # --- reading the outcome ----------------------------------------------------------

    def xr(self, key: Key) -> dict:
        body = self.cluster.get(key)
        assert body is not None, key
        return body


def _condition(typ: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    c = {"type": typ, "status": status, "reason": reason}
    if message:
        c["message"] = message
    return c


def _server_side_apply(existing: dict | None, desired: dict) -> dict:
    """Crossplane's apply with force: its spec replaces, its labels and annotations win,
    what others own (status, an external name a provider set, finalizers) stays."""
    if existing is None:
        return desired
    out = copy.deepcopy(existing)
    out["spec"] = desired.get("spec") or {}
    meta, want = out["metadata"], desired["metadata"]
    meta.setdefault("labels", {}).update(want.get("labels") or {})
    meta.setdefault("annotations", {}).update(want.get("annotations") or {})
    meta["ownerReferences"] = want["ownerReferences"]
    return out


def example_xrs() -> list[dict]:
    """Every XR of every example folder (``examples/*/xr*.yaml``), read generically."""
    return [ex.xr for ex in xrender.examples()]


def result_messages(rsp: fnv1.RunFunctionResponse, severity: int) -> list[str]:
    return [r.message for r in rsp.results if r.severity == severity]


def ready_flags(rsp: fnv1.RunFunctionResponse) -> dict[str, Any]:
    return {n: r.ready for n, r in rsp.desired.resources.items()}
