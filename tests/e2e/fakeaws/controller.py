"""The managed reconciler: crossplane-runtime v2.2.0 ``pkg/reconciler/managed/reconciler.go``
``Reconciler.Reconcile`` step by step, for every kind in ``model.KINDS``, against a real API
server (the Python ``kubernetes`` client) and moto (``aws.py``).

One loop polls every kind (list at the storage version) every ``interval`` seconds and
reconciles an MR when its resourceVersion changed, when a requeue it asked for is due, or every
``poll`` seconds (the provider's poll interval). One MR's failure never stops the loop: any
exception becomes ``Synced=False`` (``ReconcileError``) on that MR. With one worker (``make
e2e``) the loop runs in passes (``run_once``); with more (``make bench-scale``) as a work queue
(``run_queued``).

Every write is one log line ``write <Kind>/<name> <what> rv <old>-><new>`` (and ``noop`` when
the API server kept the resourceVersion), so the e2e can count write loops.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import queue
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from . import model as m
from .aws import AWS, HANDLERS, AWSError, Context, describe_error
from .model import Kind, Policy

log = logging.getLogger("fakeaws")

EVENT_REPEAT = 30.0  # seconds between count updates of one repeated event
MANAGER = "fakeaws"  # the field manager of our Updates (upjet's is the provider binary's name)
PROVIDER_CONFIG = ("aws.upbound.io", "v1beta1", "providerconfigs")
SECRET_TYPE = "connection.crossplane.io/v1alpha1"
# crossplane-runtime reconciler.go error prefixes
ERR_CONNECT = "connect failed"
ERR_OBSERVE = "observe failed"
ERR_CREATE = "create failed"
ERR_UPDATE = "update failed"
ERR_DELETE = "delete failed"
ERR_RESOLVE = "cannot resolve references"
# crossplane-runtime pkg/reconciler/managed/api.go errPatchManaged: the resolver's apply failed
ERR_PATCH_SSA = "cannot patch the managed resource via server-side apply"
ERR_CREATE_INCOMPLETE = (
    "cannot determine creation result - remove the crossplane.io/external-create-pending "
    "annotation if it is safe to proceed"
)


def generate_password() -> str:
    """crossplane-runtime ``pkg/password`` ``Generate()``: 27 characters, letters and digits."""
    chars = string.ascii_letters + string.digits
    return "".join(secrets.choice(chars) for _ in range(27))


@dataclass
class Controller:
    api: k8s.ApiClient
    aws: AWS
    postgres: Any = None
    interval: float = 1.0
    poll: float = 60.0
    short: float = 2.0  # requeue after an error or while creating (the rate limiter's steps)
    seen: dict[str, str] = field(default_factory=dict)  # uid -> resourceVersion reconciled
    due: dict[str, float] = field(default_factory=dict)  # uid -> monotonic time of next run
    missing_crds: set[str] = field(default_factory=set)
    workers: int = 1  # above 1: MRs reconciled at once, from a work queue (run_queued)
    writes: int = 0
    _last_rv: dict[str, str] = field(default_factory=dict)  # uid -> rv after our last write
    _events: dict[tuple[str, str, str, str], tuple[str, int, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.co = k8s.CustomObjectsApi(self.api)
        self.core = k8s.CoreV1Api(self.api)
        self._cache: dict[tuple[str, str], list[dict]] = {}

    # --- listing ------------------------------------------------------------------------

    def list_kind(self, k: Kind) -> list[dict]:
        try:
            got = self.co.list_cluster_custom_object(k.group, k.version, k.plural)
        except ApiException as err:
            if err.status == 404:
                if k.kind not in self.missing_crds:
                    log.warning("no CRD for %s (%s): skipped", k.kind, k.api_version)
                    self.missing_crds.add(k.kind)
                return []
            raise
        items = got.get("items") or []
        for i in items:
            i.setdefault("apiVersion", k.api_version)
            i.setdefault("kind", k.kind)
        return items

    def lister(self, target: tuple[str, str]) -> list[dict]:
        if target not in self._cache:
            k = m.KINDS.get(target)
            self._cache[target] = self.list_kind(k) if k else []
        return self._cache[target]

    # --- the loop -------------------------------------------------------------------------

    def run_once(self, stop: Callable[[], bool] = lambda: False) -> int:
        """One pass over every kind; the number of MRs reconciled, each right after its kind's
        list. ``stop`` is asked between MRs (a SIGTERM should not wait for the whole pass)."""
        self._cache = {}
        now = time.monotonic()
        done = 0
        for k in m.KINDS.values():
            try:
                items = self.lister((k.group, k.kind))
            except Exception as err:  # noqa: BLE001 - the API server may be restarting
                log.warning("list %s failed: %s", k.kind, err)
                continue
            for body in items:
                uid = body["metadata"]["uid"]
                rv = body["metadata"].get("resourceVersion", "")
                if self.seen.get(uid) == rv and now < self.due.get(uid, 0):
                    continue
                if stop():
                    return done
                after = self.reconcile_safely(k, body)
                self.due[uid] = time.monotonic() + after
                done += 1
        return done

    def run(self, stop: Callable[[], bool]) -> None:
        if self.workers > 1:
            self.run_queued(stop)
            return
        while not stop():
            start = time.monotonic()
            try:
                self.run_once(stop)
            except Exception:
                log.exception("reconcile pass failed")
            time.sleep(max(0.0, self.interval - (time.monotonic() - start)))

    def run_queued(self, stop: Callable[[], bool]) -> None:
        """``workers`` MRs at once, as a provider's controllers run them: a work queue drained
        by that many workers (controller-runtime ``internal/controller/controller.go``,
        ``MaxConcurrentReconciles``; upjet providers take it from ``--max-reconcile-rate``).
        One lister goes through the kinds every ``interval`` seconds and queues each MR that
        is due, as ``run_once`` decides; a free worker takes the next one at once, with the
        body last listed. Passes would make every MR wait for the slowest of the pass: with
        6,000 MRs a pass took minutes, and an MR requeued 2 s after its create waited for the
        next one (the 1,000-claim run in docs/benchmarks.md)."""
        lock = threading.Lock()
        todo: queue.Queue[tuple[Kind, str]] = queue.Queue()
        listed: dict[tuple[str, str], dict[str, dict]] = {}  # kind -> uid -> newest body
        queued: set[str] = set()  # queued or being reconciled: never one MR twice at once
        reconciled_from: dict[str, str] = {}  # uid -> the resourceVersion last reconciled

        def work() -> None:
            while not stop():
                try:
                    k, uid = todo.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    with lock:
                        body = listed.get((k.group, k.kind), {}).get(uid)
                    if body is None:
                        continue  # gone since it was queued
                    body = copy.deepcopy(body)  # other workers resolve references from it
                    after = self.reconcile_safely(k, body)
                    with lock:
                        self.due[uid] = time.monotonic() + after
                        reconciled_from[uid] = body["metadata"].get("resourceVersion", "")
                finally:
                    with lock:
                        queued.discard(uid)

        workers = [
            threading.Thread(target=work, name=f"reconcile-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for w in workers:
            w.start()
        try:
            while not stop():
                start = time.monotonic()
                for k in m.KINDS.values():
                    if stop():
                        break
                    try:
                        items = self.list_kind(k)
                    except Exception as err:  # noqa: BLE001 - the API server may be restarting
                        log.warning("list %s failed: %s", k.kind, err)
                        continue
                    self._cache[(k.group, k.kind)] = items  # what references resolve against
                    now = time.monotonic()
                    with lock:
                        listed[(k.group, k.kind)] = {i["metadata"]["uid"]: i for i in items}
                        for body in items:
                            uid = body["metadata"]["uid"]
                            rv = body["metadata"].get("resourceVersion", "")
                            if uid in queued:
                                continue
                            # a list taken before our last write still shows the version we
                            # reconciled: not a change
                            known = (self.seen.get(uid), reconciled_from.get(uid))
                            if rv in known and now < self.due.get(uid, 0):
                                continue
                            queued.add(uid)
                            todo.put((k, uid))
                time.sleep(max(0.0, self.interval - (time.monotonic() - start)))
        finally:
            for w in workers:
                w.join(timeout=30)

    def reconcile_safely(self, k: Kind, body: dict) -> float:
        name = body["metadata"]["name"]
        try:
            return self.reconcile(k, body)
        except Exception as err:  # one bad object never stops the loop
            if isinstance(err, ApiException) and err.status in (404, 409):
                # gone, or changed meanwhile: take it up again soon
                log.info("%s/%s: %s, requeued", k.kind, name, err.reason)
                return self.short / 4
            log.exception("%s/%s: reconcile failed", k.kind, name)
            try:
                fresh = self.get(k, name)
                if fresh is not None:
                    m.set_conditions(fresh, m.reconcile_error(str(err)))
                    self.update_status(k, fresh)
            except Exception:
                log.exception("%s/%s: cannot record the error", k.kind, name)
            return self.short
        finally:
            fresh_rv = self._last_rv.pop(body["metadata"]["uid"], None)
            self.seen[body["metadata"]["uid"]] = fresh_rv or body["metadata"].get(
                "resourceVersion", ""
            )

    # --- writes (each logged) -------------------------------------------------------------

    def _logged(self, k: Kind, body: dict, what: str, new: dict) -> dict:
        old_rv = body["metadata"].get("resourceVersion")
        new_rv = new["metadata"].get("resourceVersion")
        self._last_rv[body["metadata"]["uid"]] = new_rv
        if old_rv != new_rv:
            self.writes += 1
            log.info(
                "write %s/%s %s rv %s->%s", k.kind, body["metadata"]["name"], what, old_rv, new_rv
            )
        else:
            log.debug("noop %s/%s %s", k.kind, body["metadata"]["name"], what)
        new.setdefault("apiVersion", k.api_version)
        new.setdefault("kind", k.kind)
        return new

    def get(self, k: Kind, name: str) -> dict | None:
        try:
            return self.co.get_cluster_custom_object(k.group, k.version, k.plural, name)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def update(self, k: Kind, body: dict, what: str) -> dict:
        """``client.Update`` (a PUT of the whole object; 409 on a stale resourceVersion)."""
        status = copy.deepcopy(body.get("status"))
        new = self.co.replace_cluster_custom_object(
            k.group, k.version, k.plural, body["metadata"]["name"], body, field_manager=MANAGER
        )
        new = self._logged(k, body, what, new)
        if status is not None:
            new["status"] = status  # what this reconcile computed, for the status update
        return new

    def update_critical(self, k: Kind, body: dict, what: str) -> dict:
        """``RetryingCriticalAnnotationUpdater.UpdateCriticalAnnotations`` (crossplane-runtime
        pkg/reconciler/managed/api.go): the Update retried with ``retry.DefaultRetry`` (5
        steps, 10 ms); on a conflict the object is read again and the annotations this
        reconcile set are added to it, so the external name and the create annotations are
        never lost to a concurrent write (Crossplane's apply of the composed resource)."""
        anns = dict(m.annotations(body))
        for attempt in range(5):
            try:
                return self.update(k, body, what)
            except ApiException as err:
                if err.status != 409 or attempt == 4:
                    raise
            time.sleep(0.01)
            fresh = self.get(k, body["metadata"]["name"])
            if fresh is None:
                raise ApiException(status=404, reason="NotFound")
            m.annotations(fresh).update(anns)
            if body.get("status") is not None:
                fresh["status"] = body["status"]
            body = fresh
        raise AssertionError("unreachable")

    def update_status(self, k: Kind, body: dict) -> dict:
        """``client.Status().Update``: the API server skips the write when nothing changed."""
        new = self.co.replace_cluster_custom_object_status(
            k.group, k.version, k.plural, body["metadata"]["name"], body, field_manager=MANAGER
        )
        return self._logged(k, body, "status", new)

    def resolver_apply(self, k: Kind, body: dict, patch: dict) -> dict:
        """``APISimpleReferenceResolver``: the merge patch sent as a server-side apply with field
        owner ``managed.crossplane.io/api-simple-reference-resolver`` and force. A selector in
        an atomic list (backup Plan ``rule``, bucket encryption ``rule``) makes this apply take
        the whole list, and Crossplane's next force-apply of its composed resource takes it back
        without the resolved value: they overwrite each other on every reconcile.

        The body is only what changed (``prepareJSONMerge``), so fields this manager applied
        before and leaves out now lose their only owner and the API server removes them
        (crossplane-runtime issue 694, open fix PR 928): a top-level ``bucket`` resolved earlier
        is dropped when only ``rule`` is applied, and an apply of ``bucket`` alone drops ``rule``
        (the CRD's CEL then refuses it: "spec.forProvider.rule is a required parameter")."""
        try:
            new = self.co.patch_cluster_custom_object(
                k.group,
                k.version,
                k.plural,
                body["metadata"]["name"],
                patch,
                field_manager=m.REF_RESOLVER_MANAGER,
                force=True,
                _content_type="application/apply-patch+yaml",
            )
        except ApiException as err:
            log.info(
                "%s/%s: resolver apply refused (%s): %s",
                k.kind,
                body["metadata"]["name"],
                err.status,
                json.dumps(patch, sort_keys=True),
            )
            raise
        if new is None:  # the client decodes only a 200 answer
            new = self.get(k, body["metadata"]["name"]) or body
        return self._logged(k, body, "resolve-references(apply)", new)

    # --- secrets --------------------------------------------------------------------------

    def read_secret(self, namespace: str, name: str) -> Any:
        try:
            return self.core.read_namespaced_secret(name, namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def secret_value(self, ref: dict | None) -> str | None:
        if not isinstance(ref, dict):
            return None
        s = self.read_secret(ref.get("namespace") or "", ref.get("name") or "")
        value = ((s.data if s else None) or {}).get(ref.get("key") or "")
        return base64.b64decode(value).decode() if value else None

    def password_generator(self, k: Kind, body: dict) -> None:
        """provider-upjet-aws ``config/cluster/common/common.go`` ``PasswordGenerator`` for
        ``spec.forProvider.passwordSecretRef`` / ``autoGeneratePassword`` (the twin's
        ``password_generator`` has the rules): nothing if the Secret has the key, nothing
        unless the toggle is true; else a new password, the MR as (non-controller) owner only
        of a Secret it created."""
        fp = m.for_provider(body)
        sel = fp.get("passwordSecretRef")
        if not isinstance(sel, dict):
            return
        ns, name, key = sel.get("namespace") or "", sel.get("name") or "", sel.get("key") or ""
        s = self.read_secret(ns, name)
        if s is not None and (s.data or {}).get(key):
            return
        if fp.get("autoGeneratePassword") is not True:
            return
        pw = base64.b64encode(generate_password().encode()).decode()
        if s is None:
            owner = {
                "apiVersion": body["apiVersion"],
                "kind": body["kind"],
                "name": body["metadata"]["name"],
                "uid": body["metadata"]["uid"],
            }
            self.core.create_namespaced_secret(
                ns,
                {
                    "metadata": {"name": name, "namespace": ns, "ownerReferences": [owner]},
                    "data": {key: pw},
                },
                field_manager=MANAGER,
            )
            log.info(
                "write Secret %s/%s password-generator(create) for %s/%s",
                ns,
                name,
                k.kind,
                body["metadata"]["name"],
            )
        else:
            self.core.patch_namespaced_secret(name, ns, {"data": {key: pw}}, field_manager=MANAGER)
            log.info(
                "write Secret %s/%s password-generator(patch) for %s/%s",
                ns,
                name,
                k.kind,
                body["metadata"]["name"],
            )
        self.writes += 1

    def publish(self, k: Kind, body: dict, details: dict[str, str]) -> None:
        """``APISecretPublisher.PublishConnection``: nothing without writeConnectionSecretToRef;
        else the Secret (type ``connection.crossplane.io/v1alpha1``, controlled by the MR)
        created, or merge-patched with the details (``APIPatchingApplicator``); refused when
        another controller owns it."""
        ref = (body.get("spec") or {}).get("writeConnectionSecretToRef")
        if not isinstance(ref, dict) or not details:
            return
        ns, name = ref.get("namespace") or "", ref.get("name") or ""
        data = {key: base64.b64encode(v.encode()).decode() for key, v in sorted(details.items())}
        owner = {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "name": body["metadata"]["name"],
            "uid": body["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        s = self.read_secret(ns, name)
        if s is None:
            self.core.create_namespaced_secret(
                ns,
                {
                    "metadata": {"name": name, "namespace": ns, "ownerReferences": [owner]},
                    "type": SECRET_TYPE,
                    "data": data,
                },
                field_manager=MANAGER,
            )
            self.writes += 1
            log.info(
                "write Secret %s/%s connection(create) for %s/%s",
                ns,
                name,
                k.kind,
                body["metadata"]["name"],
            )
            return
        for o in s.metadata.owner_references or []:
            if o.controller and o.uid != body["metadata"]["uid"]:
                raise AWSError(
                    f"cannot publish connection details: existing secret is not controlled by "
                    f"UID {body['metadata']['uid']}"
                )
        if all((s.data or {}).get(key) == v for key, v in data.items()):
            return
        new = self.core.patch_namespaced_secret(name, ns, {"data": data}, field_manager=MANAGER)
        if new.metadata.resource_version != s.metadata.resource_version:
            self.writes += 1
            log.info(
                "write Secret %s/%s connection(patch) for %s/%s",
                ns,
                name,
                k.kind,
                body["metadata"]["name"],
            )

    def provider_config_error(self, body: dict) -> str | None:
        name = m.dig(body, "spec.providerConfigRef.name") or "default"
        try:
            self.co.get_cluster_custom_object(*PROVIDER_CONFIG, name)
        except ApiException as err:
            if err.status == 404:
                return (
                    f"{ERR_CONNECT}: cannot get terraform setup: cannot get referenced "
                    f'ProviderConfig: ProviderConfig.aws.upbound.io "{name}" not found'
                )
            raise
        return None

    # --- Reconcile --------------------------------------------------------------------------

    def event(self, k: Kind, body: dict, typ: str, reason: str, message: str) -> None:
        """client-go's event recorder as crossplane-runtime uses it: an Event in ``default``
        for a cluster-scoped object; a repeat raises ``count`` (at most every 30 s here)."""
        meta = body["metadata"]
        key = (meta["uid"], typ, reason, message)
        now = time.time()
        ts = m.now()
        try:
            seen = self._events.get(key)
            if seen is not None:
                name, count, last = seen
                if now - last < EVENT_REPEAT:
                    return
                self.core.patch_namespaced_event(
                    name, "default", {"count": count + 1, "lastTimestamp": ts}
                )
                self._events[key] = (name, count + 1, now)
                return
            name = f"{meta['name']}.{secrets.token_hex(8)}"
            self.core.create_namespaced_event(
                "default",
                {
                    "metadata": {"name": name, "namespace": "default"},
                    "involvedObject": {
                        "apiVersion": body["apiVersion"],
                        "kind": body["kind"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "resourceVersion": meta.get("resourceVersion"),
                    },
                    "reason": reason,
                    "message": message,
                    "type": typ,
                    "source": {"component": f"managed/{k.kind.lower()}.{k.group}"},
                    "firstTimestamp": ts,
                    "lastTimestamp": ts,
                    "count": 1,
                },
            )
            self._events[key] = (name, 1, now)
        except Exception as err:  # noqa: BLE001 - an event is best effort, as client-go's
            log.debug("event %s for %s/%s not recorded: %s", reason, k.kind, meta["name"], err)

    def fail(
        self, k: Kind, body: dict, message: str, *extra: dict, reason: str = "CannotReconcile"
    ) -> float:
        self.event(k, body, "Warning", reason, message)
        m.set_conditions(body, *extra, m.reconcile_error(message))
        self.update_status(k, body)
        return self.short

    def reconcile(self, k: Kind, body: dict) -> float:
        name = body["metadata"]["name"]
        policy = Policy.of(body)
        anns = body["metadata"].get("annotations") or {}
        if anns.get(m.PAUSED) == "true" or policy.is_paused():
            m.set_conditions(body, m.reconcile_paused())
            self.update_status(k, body)
            return self.poll
        deleting = bool(body["metadata"].get("deletionTimestamp"))
        finalizers = list(body["metadata"].get("finalizers") or [])
        if deleting and not policy.should_delete():
            # UnpublishConnection is a no-op for APISecretPublisher (the Secret is the MR's:
            # garbage collection removes it); then RemoveFinalizer.
            return self._remove_finalizer(k, body)

        # Initialize: NameAsExternalName (unless IdentifierFromProvider), upjet InitializerFns
        # (TagInitializer for kinds with tags; the rds Instance's PasswordGenerator).
        if k.external_name != m.FROM_PROVIDER and not m.external_name(body):
            m.annotations(body)[m.EXTERNAL_NAME] = name
            body = self.update(k, body, "initialize(external-name)")
        if k.tags and not deleting and m.tag(body):
            body = self.update(k, body, "initialize(tags)")
        if (k.group, k.kind) == (m.RDS, "Instance") and not deleting:
            self.password_generator(k, body)

        anns = body["metadata"].get("annotations") or {}
        if _create_incomplete(anns) and k.external_name == m.FROM_PROVIDER:
            m.set_conditions(body, m.creating(), m.reconcile_error(ERR_CREATE_INCOMPLETE))
            self.update_status(k, body)
            return self.poll

        if not deleting:
            try:
                resolved = m.resolve_references(body, self.lister)
            except m.ResolveError as err:
                return self.fail(
                    k, body, f"{ERR_RESOLVE}: {err}", reason="CannotResolveResourceReferences"
                )
            patch = m.resolver_apply_body(body, resolved)
            if patch:
                status = body.get("status")
                try:
                    body = self.resolver_apply(k, body, patch)
                except ApiException as e:
                    if e.status == 409:
                        raise
                    return self.fail(
                        k,
                        body,
                        f"{ERR_PATCH_SSA}: {_api_message(e)}",
                        reason="CannotResolveResourceReferences",
                    )
                if status is not None:
                    body["status"] = status

        err = self.provider_config_error(body)
        if err:
            return self.fail(k, body, err, reason="CannotConnectToProvider")

        handler = HANDLERS[(k.group, k.kind)](
            self.aws, Context(secret=self.secret_value, postgres=self.postgres)
        )
        try:
            obs = handler.observe(body)
        except Exception as e:  # noqa: BLE001 - any failure is reported on the MR
            return self.fail(
                k,
                body,
                f"{ERR_OBSERVE}: {describe_error(e)}",
                reason="CannotObserveExternalResource",
            )
        if not obs.exists and policy.should_only_observe():
            return self.fail(
                k,
                body,
                f"{ERR_OBSERVE}: external resource does not exist",
                reason="CannotObserveExternalResource",
            )

        if deleting:
            if len(finalizers) > 1:
                return self.short  # other controllers first
            if obs.exists and policy.should_delete():
                try:
                    handler.delete(body)
                except Exception as e:  # noqa: BLE001 - any failure is reported on the MR
                    return self.fail(
                        k,
                        body,
                        f"{ERR_DELETE}: {describe_error(e)}",
                        m.deleting(),
                        reason="CannotDeleteExternalResource",
                    )
                log.info("aws %s/%s deleted", k.kind, name)
                self.event(
                    k,
                    body,
                    "Normal",
                    "DeletedExternalResource",
                    "Successfully requested deletion of external resource",
                )
                m.set_conditions(body, m.deleting(), m.reconcile_success())
                self.update_status(k, body)
                return self.short
            return self._remove_finalizer(k, body)

        if obs.exists:
            m.status(body)["atProvider"] = obs.at_provider
            m.set_conditions(body, m.available())
            try:
                self.publish(k, body, obs.details)
            except AWSError as e:
                return self.fail(k, body, str(e), reason="CannotPublishConnectionDetails")

        if m.FINALIZER not in finalizers:
            body["metadata"]["finalizers"] = [*finalizers, m.FINALIZER]
            body = self.update(k, body, "add-finalizer")

        if not obs.exists and policy.should_create():
            return self._create(k, body, handler)

        if obs.exists:
            changed = []
            if policy.should_late_initialize():
                changed = m.late_initialize(m.for_provider(body), obs.late_init, k.late_init_skip)
            if obs.external_name and obs.external_name != m.external_name(body):
                m.annotations(body)[m.EXTERNAL_NAME] = obs.external_name
                changed.append("external-name")
            if changed and policy.should_late_initialize():
                body = self.update(k, body, f"late-initialize({','.join(changed)})")

        if not obs.exists or obs.up_to_date or not policy.should_update():
            m.set_conditions(body, m.reconcile_success())
            self.update_status(k, body)
            return self.poll
        try:
            handler.update(body, obs)
        except Exception as e:  # noqa: BLE001 - any failure is reported on the MR
            return self.fail(
                k, body, f"{ERR_UPDATE}: {describe_error(e)}", reason="CannotUpdateExternalResource"
            )
        log.info("aws %s/%s updated", k.kind, name)
        self.event(
            k,
            body,
            "Normal",
            "UpdatedExternalResource",
            "Successfully requested update of external resource",
        )
        m.set_conditions(body, m.reconcile_success())
        self.update_status(k, body)
        return self.short  # observe the update soon

    def _remove_finalizer(self, k: Kind, body: dict) -> float:
        finalizers = [f for f in body["metadata"].get("finalizers") or [] if f != m.FINALIZER]
        if finalizers != (body["metadata"].get("finalizers") or []):
            body["metadata"]["finalizers"] = finalizers
            self.update(k, body, "remove-finalizer")
        return self.poll

    def _create(self, k: Kind, body: dict, handler: Any) -> float:
        # meta.SetExternalCreatePending + client.Update (must succeed: 409 on a stale version)
        m.annotations(body)[m.CREATE_PENDING] = m.now()
        body = self.update_critical(k, body, "create-pending")
        try:
            ext, details = handler.create(body)
        except Exception as e:  # noqa: BLE001 - any failure is reported on the MR
            msg = describe_error(e)
            m.annotations(body)[m.CREATE_FAILED] = m.now()
            body = self.update_critical(k, body, "create-failed")
            log.info("aws %s/%s create failed: %s", k.kind, body["metadata"]["name"], msg)
            return self.fail(
                k, body, f"{ERR_CREATE}: {msg}", m.creating(), reason="CannotCreateExternalResource"
            )
        log.info("aws %s/%s created (%s)", k.kind, body["metadata"]["name"], ext)
        self.event(
            k,
            body,
            "Normal",
            "CreatedExternalResource",
            "Successfully requested creation of external resource",
        )
        if k.external_name == m.FROM_PROVIDER and ext:
            m.annotations(body)[m.EXTERNAL_NAME] = ext
        m.annotations(body)[m.CREATE_SUCCEEDED] = m.now()
        body = self.update_critical(k, body, "create-succeeded")
        try:
            self.publish(k, body, details)
        except AWSError as e:
            return self.fail(k, body, str(e), m.creating(), reason="CannotPublishConnectionDetails")
        m.set_conditions(body, m.creating(), m.reconcile_success())
        self.update_status(k, body)
        return self.short


def _api_message(err: ApiException) -> str:
    """The API server's Status message (what client-go's error string is)."""
    try:
        return str(json.loads(err.body or "{}").get("message") or err.reason)
    except ValueError:
        return str(err.reason)


def _create_incomplete(anns: dict) -> bool:
    """meta.ExternalCreateIncomplete: pending set and later than both succeeded and failed."""
    pending = anns.get(m.CREATE_PENDING)
    if not pending:
        return False
    return all(pending > (anns.get(a) or "") for a in (m.CREATE_SUCCEEDED, m.CREATE_FAILED))
