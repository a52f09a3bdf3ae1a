"""What upjet and crossplane-runtime do to a managed resource (MR), as pure functions on dicts.

Nothing here talks to an API server or AWS; ``controller.py`` wires these to both. Versions
as provider-upjet-aws v2.6.0's go.mod pins them: crossplane-runtime v2.2.0, upjet
59c45527ebe4 (see tools/providers.py for the same citations in the twin).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

EXTERNAL_NAME = "crossplane.io/external-name"
CREATE_PENDING = "crossplane.io/external-create-pending"
CREATE_SUCCEEDED = "crossplane.io/external-create-succeeded"
CREATE_FAILED = "crossplane.io/external-create-failed"
PAUSED = "crossplane.io/paused"
# crossplane-runtime pkg/reconciler/managed/reconciler.go: managedFinalizerName
FINALIZER = "finalizer.managedresource.crossplane.io"
# crossplane-runtime pkg/reconciler/managed/api.go: fieldOwnerAPISimpleRefResolver
REF_RESOLVER_MANAGER = "managed.crossplane.io/api-simple-reference-resolver"

# External-name rules (upjet pkg/config/externalname.go; provider-upjet-aws config/externalname.go)
GIVEN = "given"  # NameAsIdentifier / ParameterAsIdentifier: the name initializer runs
FROM_PROVIDER = "provider"  # IdentifierFromProvider: the Terraform id after create
KMS_ALIAS = "kms-alias"  # kmsAlias(): given, "alias/" stripped from the id after observe

# Extractors (crossplane-runtime pkg/reference: ExternalName(); upjet pkg/resource/extractor.go
# ExtractResourceID(), ExtractParamPath(p, isObservation); provider config/common ARNExtractor())
EXT = "external-name"
ID = "status.atProvider.id"
ARN = "status.atProvider.arn"
IDENTIFIER = "spec.forProvider.identifier"

S3 = "s3.aws.upbound.io"
IAM = "iam.aws.upbound.io"
KMS = "kms.aws.upbound.io"
RDS = "rds.aws.upbound.io"
EC2 = "ec2.aws.upbound.io"
BACKUP = "backup.aws.upbound.io"


@dataclass(frozen=True)
class Ref:
    """One ``<field>`` / ``<field>Ref`` / ``<field>Selector`` triple of a kind, from provider-upjet-
    aws v2.6.0 ``apis/cluster/<group>/<version>/zz_generated.resolvers.go``. ``path`` is under
    ``spec.forProvider``; ``"[]"`` walks every item of a list (the generated ``for i3 := ...``
    loops). ``multi``: a ``MultiResolve`` (``<field>Refs`` / ``<field>Selector``, field a list)."""

    path: tuple[str, ...]
    target: tuple[str, str]
    extract: str
    multi: bool = False
    ref_name: str = ""  # the Ref/Selector stem when it is not the field (multi: ...Id -> ...Ids)


@dataclass(frozen=True)
class Kind:
    group: str
    kind: str
    version: str  # the CRD's storage version (../shared/schemas), the one the function renders
    plural: str
    external_name: str = GIVEN
    tags: bool = False  # forProvider.tags exists: upjet's TagInitializer runs
    refs: tuple[Ref, ...] = ()
    # Fields the generated LateInitialize skips (resource.WithNameFilter in zz_*_terraformed.go)
    late_init_skip: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


_BUCKET_REF = Ref(("bucket",), (S3, "Bucket"), ID)


def _k(group: str, kind: str, version: str, plural: str, **kw: Any) -> Kind:
    return Kind(group, kind, version, plural, **kw)


KINDS: dict[tuple[str, str], Kind] = {
    (k.group, k.kind): k
    for k in (
        # s3 (aws_s3_bucket ParameterAsIdentifier("bucket"); sub-resources IdentifierFromProvider)
        _k(S3, "Bucket", "v1beta2", "buckets", tags=True),
        _k(
            S3,
            "BucketServerSideEncryptionConfiguration",
            "v1beta2",
            "bucketserversideencryptionconfigurations",
            external_name=FROM_PROVIDER,
            refs=(
                _BUCKET_REF,
                # A selector inside the atomic rule list: see controller.resolve_and_write.
                Ref(
                    ("rule", "[]", "applyServerSideEncryptionByDefault", "kmsMasterKeyId"),
                    (KMS, "Key"),
                    ARN,
                ),
            ),
        ),
        _k(
            S3,
            "BucketPolicy",
            "v1beta1",
            "bucketpolicies",
            external_name=FROM_PROVIDER,
            refs=(_BUCKET_REF,),
        ),
        _k(
            S3,
            "BucketPublicAccessBlock",
            "v1beta1",
            "bucketpublicaccessblocks",
            external_name=FROM_PROVIDER,
            refs=(_BUCKET_REF,),
        ),
        _k(
            S3,
            "BucketOwnershipControls",
            "v1beta2",
            "bucketownershipcontrols",
            external_name=FROM_PROVIDER,
            refs=(_BUCKET_REF,),
        ),
        _k(
            S3,
            "BucketLifecycleConfiguration",
            "v1beta1",
            "bucketlifecycleconfigurations",
            external_name=FROM_PROVIDER,
            refs=(_BUCKET_REF,),
        ),
        # kms
        _k(KMS, "Key", "v1beta1", "keys", external_name=FROM_PROVIDER, tags=True),
        _k(
            KMS,
            "Alias",
            "v1beta1",
            "aliases",
            external_name=KMS_ALIAS,
            refs=(Ref(("targetKeyId",), (KMS, "Key"), EXT),),
        ),
        # iam
        _k(IAM, "User", "v1beta1", "users", tags=True),
        _k(IAM, "Policy", "v1beta1", "policies", tags=True),
        _k(
            IAM,
            "UserPolicyAttachment",
            "v1beta1",
            "userpolicyattachments",
            external_name=FROM_PROVIDER,
            refs=(Ref(("policyArn",), (IAM, "Policy"), ARN), Ref(("user",), (IAM, "User"), EXT)),
        ),
        _k(
            IAM,
            "AccessKey",
            "v1beta1",
            "accesskeys",
            external_name=FROM_PROVIDER,
            refs=(Ref(("user",), (IAM, "User"), EXT),),
        ),
        _k(IAM, "Role", "v1beta1", "roles", tags=True),
        _k(
            IAM,
            "RolePolicyAttachment",
            "v1beta1",
            "rolepolicyattachments",
            external_name=FROM_PROVIDER,
            refs=(Ref(("policyArn",), (IAM, "Policy"), ARN), Ref(("role",), (IAM, "Role"), EXT)),
        ),
        # rds
        _k(
            RDS,
            "Instance",
            "v1beta3",
            "instances",
            external_name=FROM_PROVIDER,
            tags=True,
            refs=(
                Ref(("dbSubnetGroupName",), (RDS, "SubnetGroup"), EXT),
                Ref(("kmsKeyId",), (KMS, "Key"), ARN),
                Ref(("parameterGroupName",), (RDS, "ParameterGroup"), EXT),
                Ref(("replicateSourceDb",), (RDS, "Instance"), IDENTIFIER),
                Ref(
                    ("vpcSecurityGroupIds",),
                    (EC2, "SecurityGroup"),
                    EXT,
                    multi=True,
                    ref_name="vpcSecurityGroupId",
                ),
            ),
            # zz_instance_terraformed.go LateInitialize: WithNameFilter AvailabilityZone, DBName
            late_init_skip=("availabilityZone", "dbName"),
        ),
        _k(RDS, "ParameterGroup", "v1beta1", "parametergroups", tags=True),
        _k(RDS, "SubnetGroup", "v1beta1", "subnetgroups", tags=True),
        _k(
            RDS,
            "Snapshot",
            "v1beta1",
            "snapshots",
            tags=True,
            refs=(Ref(("dbInstanceIdentifier",), (RDS, "Instance"), IDENTIFIER),),
        ),
        # ec2
        _k(
            EC2,
            "SecurityGroup",
            "v1beta1",
            "securitygroups",
            external_name=FROM_PROVIDER,
            tags=True,
            refs=(Ref(("vpcId",), (EC2, "VPC"), EXT),),
        ),
        _k(
            EC2,
            "SecurityGroupIngressRule",
            "v1beta1",
            "securitygroupingressrules",
            external_name=FROM_PROVIDER,
            tags=True,
            refs=(Ref(("securityGroupId",), (EC2, "SecurityGroup"), EXT),),
        ),
        # backup
        _k(
            BACKUP,
            "Vault",
            "v1beta1",
            "vaults",
            tags=True,
            refs=(Ref(("kmsKeyArn",), (KMS, "Key"), ARN),),
        ),
        _k(
            BACKUP,
            "Plan",
            "v1beta2",
            "plans",
            external_name=FROM_PROVIDER,
            tags=True,
            refs=(Ref(("rule", "[]", "targetVaultName"), (BACKUP, "Vault"), EXT),),
        ),
        _k(
            BACKUP,
            "Selection",
            "v1beta1",
            "selections",
            external_name=FROM_PROVIDER,
            refs=(
                Ref(("iamRoleArn",), (IAM, "Role"), ARN),
                Ref(("planId",), (BACKUP, "Plan"), EXT),
                Ref(("resources",), (RDS, "Instance"), ARN, multi=True, ref_name="resources"),
            ),
        ),
    )
}


def kind_of(body: dict) -> Kind | None:
    group = str(body.get("apiVersion", "")).split("/")[0]
    return KINDS.get((group, str(body.get("kind", ""))))


# --- small helpers ------------------------------------------------------------------------


def dig(d: Any, path: str) -> Any:
    for part in path.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def meta(body: dict) -> dict:
    return body.setdefault("metadata", {})


def annotations(body: dict) -> dict:
    m = meta(body)
    if m.get("annotations") is None:
        m["annotations"] = {}
    return m["annotations"]


def external_name(body: dict) -> str:
    return str((meta(body).get("annotations") or {}).get(EXTERNAL_NAME) or "")


def for_provider(body: dict) -> dict:
    spec = body.setdefault("spec", {})
    if spec.get("forProvider") is None:
        spec["forProvider"] = {}
    return spec["forProvider"]


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- conditions (crossplane-runtime apis/common/condition.go) ------------------------------


def condition(typ: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    c = {"type": typ, "status": status, "reason": reason, "lastTransitionTime": now()}
    if message:
        c["message"] = message
    return c


def available() -> dict[str, str]:
    return condition("Ready", "True", "Available")


def creating() -> dict[str, str]:
    return condition("Ready", "False", "Creating")


def deleting() -> dict[str, str]:
    return condition("Ready", "False", "Deleting")


def reconcile_success() -> dict[str, str]:
    return condition("Synced", "True", "ReconcileSuccess")


def reconcile_error(message: str) -> dict[str, str]:
    return condition("Synced", "False", "ReconcileError", message)


def reconcile_paused() -> dict[str, str]:
    return condition("Synced", "False", "ReconcilePaused")


def status(body: dict) -> dict:
    if body.get("status") is None:
        body["status"] = {}
    return body["status"]


def set_conditions(body: dict, *conds: dict[str, str]) -> None:
    """``ConditionedStatus.SetConditions``: a condition equal in type, status, reason, message
    (and observedGeneration) to the existing one is kept as it was, lastTransitionTime and all."""
    st = status(body)
    current = list(st.get("conditions") or [])
    gen = meta(body).get("generation")
    for cond in conds:
        c = {**cond, "observedGeneration": gen} if gen is not None else cond
        for i, old in enumerate(current):
            if old.get("type") == c["type"]:
                same = all(
                    old.get(k) == c.get(k)
                    for k in ("status", "reason", "message", "observedGeneration")
                )
                if not same:
                    current[i] = c
                break
        else:
            current.append(c)
    st["conditions"] = current


def get_condition(body: dict, typ: str) -> dict | None:
    for c in dig(body, "status.conditions") or []:
        if c.get("type") == typ:
            return c
    return None


# --- management policies (crossplane-runtime pkg/reconciler/managed/policies.go) ------------


@dataclass(frozen=True)
class Policy:
    """``LegacyManagementPoliciesResolver`` (cluster-scoped MRs keep ``deletionPolicy``), with
    management policies enabled (provider-upjet-aws's default)."""

    policies: frozenset[str]
    deletion_policy: str

    @classmethod
    def of(cls, body: dict) -> Policy:
        spec = body.get("spec") or {}
        mp = spec.get("managementPolicies")
        return cls(
            frozenset(["*"] if mp is None else mp), str(spec.get("deletionPolicy") or "Delete")
        )

    def _any(self, *actions: str) -> bool:
        return bool(self.policies & {*actions, "*"})

    def is_paused(self) -> bool:
        return not self.policies

    def should_create(self) -> bool:
        return self._any("Create")

    def should_update(self) -> bool:
        return self._any("Update")

    def should_late_initialize(self) -> bool:
        return self._any("LateInitialize")

    def should_only_observe(self) -> bool:
        return self.policies == {"Observe"}

    def should_delete(self) -> bool:
        if self.deletion_policy == "Delete" and self._any("Delete"):
            return True
        return self.policies != {"*"} and "Delete" in self.policies


# --- upjet's TagInitializer (pkg/config/resource.go Tagger; crossplane-runtime GetExternalTags)


def external_tags(body: dict) -> dict[str, str]:
    group = str(body.get("apiVersion", "")).split("/")[0]
    return {
        "crossplane-kind": f"{body.get('kind', '')}.{group}".lower(),
        "crossplane-name": str(meta(body).get("name", "")),
        "crossplane-providerconfig": str(dig(body, "spec.providerConfigRef.name") or ""),
    }


def tag(body: dict) -> bool:
    """Tagger.Initialize: the three tags merged into ``forProvider.tags`` (json.Unmarshal into the
    existing map keeps the others), except for an Observe-only MR. True when it changed."""
    if Policy.of(body).policies == {"Observe"}:
        return False
    fp = for_provider(body)
    tags = dict(fp.get("tags") or {})
    new = {**tags, **external_tags(body)}
    if new == tags and "tags" in fp:
        return False
    fp["tags"] = new
    return True


# --- reference resolution (crossplane-runtime pkg/reference/reference.go APIResolver) -------

NO_MATCHES = "no resources matched selector"
NO_VALUE = "referenced field was empty (referenced resource may not yet be ready)"
GET_MANAGED = "cannot get referenced resource"


def controller_uid(body: dict) -> str | None:
    for ref in meta(body).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def extract(target: dict, how: str) -> str:
    if how == EXT:
        return external_name(target)
    v = dig(target, how)
    return "" if v is None else str(v)


Lister = Callable[[tuple[str, str]], list[dict]]


class ResolveError(Exception):
    pass


def _go_path(path: tuple[str, ...], indices: list[int]) -> str:
    """The field as the generated code names it in its error wrap (``mg.Spec.ForProvider.Rule[i3]
    .TargetVaultName``), in JSON spelling."""
    out, it = [], iter(indices)
    for p in path:
        if p == "[]":
            out[-1] += f"[{next(it)}]"
        else:
            out.append(p)
    return "spec.forProvider." + ".".join(out)


def _selected(sel: dict, body: dict, candidates: Iterable[dict]) -> Iterable[dict]:
    labels = sel.get("matchLabels") or {}
    for t in candidates:
        tl = meta(t).get("labels") or {}
        if any(tl.get(k) != v for k, v in labels.items()):
            continue
        # ControllersMustMatch + meta.HaveSameController
        if sel.get("matchControllerRef") and (
            controller_uid(t) is None or controller_uid(t) != controller_uid(body)
        ):
            continue
        yield t


def _optional(policy: Any) -> bool:
    return isinstance(policy, dict) and policy.get("resolution") == "Optional"


def _resolve_one(holder: dict, leaf: str, ref: Ref, body: dict, lister: Lister) -> None:
    stem = ref.ref_name or leaf
    current = holder.get(leaf)
    reference = holder.get(f"{stem}Ref")
    selector = holder.get(f"{stem}Selector")
    always = any(
        isinstance(x, dict) and dig(x, "policy.resolve") == "Always" for x in (reference, selector)
    )
    if meta(body).get("deletionTimestamp"):
        return
    if (current not in (None, "") and not always) or (reference is None and selector is None):
        return  # IsNoOp
    items = lister(ref.target)
    if reference is not None:
        t = next((i for i in items if meta(i).get("name") == reference.get("name")), None)
        if t is None:
            if _optional(reference.get("policy")):
                return
            raise ResolveError(
                f'{GET_MANAGED}: {ref.target[1]} "{reference.get("name")}" not found'
            )
        value = extract(t, ref.extract)
        if not value:
            if _optional(reference.get("policy")):
                return
            raise ResolveError(NO_VALUE)
        holder[leaf] = value
        return
    for t in _selected(selector, body, items):
        value = extract(t, ref.extract)
        if not value and not _optional(selector.get("policy")):
            raise ResolveError(NO_VALUE)
        holder[leaf] = value
        holder[f"{stem}Ref"] = {"name": meta(t)["name"]}
        return
    if not _optional(selector.get("policy")):
        raise ResolveError(NO_MATCHES)


def _resolve_multi(holder: dict, leaf: str, ref: Ref, body: dict, lister: Lister) -> None:
    """``APIResolver.ResolveMultiple``: every selected target, or every named reference."""
    stem = ref.ref_name or leaf
    current = holder.get(leaf) or []
    refs = holder.get(f"{stem}Refs")
    selector = holder.get(f"{stem}Selector")
    if current or (not refs and selector is None):
        return
    items = lister(ref.target)
    if refs:
        values = []
        for r in refs:
            t = next((i for i in items if meta(i).get("name") == r.get("name")), None)
            if t is None:
                raise ResolveError(f'{GET_MANAGED}: {ref.target[1]} "{r.get("name")}" not found')
            values.append(extract(t, ref.extract))
        if any(not v for v in values):
            raise ResolveError(NO_VALUE)
        holder[leaf] = values
        return
    chosen = list(_selected(selector, body, items))
    if not chosen:
        if _optional(selector.get("policy")):
            return
        raise ResolveError(NO_MATCHES)
    values = [extract(t, ref.extract) for t in chosen]
    if any(not v for v in values):
        raise ResolveError(NO_VALUE)
    holder[leaf] = values
    holder[f"{stem}Refs"] = [{"name": meta(t)["name"]} for t in chosen]


def resolve_references(body: dict, lister: Lister) -> dict:
    """The generated ``ResolveReferences`` of the MR's kind (forProvider only, in the generated
    order), on a copy of ``body``. Raises ResolveError, its message as the generated code wraps
    it (``<field>: <cause>``); the reconciler adds ``cannot resolve references: ``."""
    k = kind_of(body)
    out = copy.deepcopy(body)
    if k is None:
        return out
    fp = for_provider(out)
    for ref in k.refs:

        def walk(node: Any, rest: tuple[str, ...], indices: list[int], ref: Ref = ref) -> None:
            if not isinstance(node, dict):
                return
            if len(rest) == 1:
                try:
                    (_resolve_multi if ref.multi else _resolve_one)(node, rest[0], ref, out, lister)
                except ResolveError as err:
                    raise ResolveError(f"{_go_path(ref.path, indices)}: {err}") from None
                return
            if rest[1] == "[]":
                for i, item in enumerate(node.get(rest[0]) or []):
                    walk(item, rest[2:], [*indices, i])
            else:
                walk(node.get(rest[0]), rest[1:], indices)

        walk(fp, ref.path, [])
    return out


def merge_patch(existing: Any, resolved: Any) -> Any:
    """RFC 7386 JSON merge patch from ``existing`` to ``resolved`` (jsonpatch.CreateMergePatch in
    crossplane-runtime ``prepareJSONMerge``): objects recurse, anything else, lists included,
    is replaced whole; a key gone becomes null."""
    if not isinstance(existing, dict) or not isinstance(resolved, dict):
        return copy.deepcopy(resolved)
    patch: dict[str, Any] = {}
    for k, v in resolved.items():
        if k not in existing:
            patch[k] = copy.deepcopy(v)
        elif existing[k] != v:
            if isinstance(existing[k], dict) and isinstance(v, dict):
                patch[k] = merge_patch(existing[k], v)
            else:
                patch[k] = copy.deepcopy(v)
    for k in existing:
        if k not in resolved:
            patch[k] = None
    return patch


def resolver_apply_body(existing: dict, resolved: dict) -> dict | None:
    """What ``APISimpleReferenceResolver.ResolveReferences`` sends: None when nothing changed
    (``cmp.Equal`` with ``EquateEmpty``), else the merge patch of the two objects, computed with
    ``existing``'s apiVersion and kind zeroed so the patch carries them, sent as a server-side
    apply (``types.ApplyPatchType``) with field owner ``REF_RESOLVER_MANAGER`` and
    ``client.ForceOwnership``."""
    if existing == resolved:
        return None
    e = {k: v for k, v in existing.items() if k not in ("apiVersion", "kind")}
    return merge_patch(e, resolved)


# --- late initialization (upjet pkg/resource/lateinit.go GenericLateInitializer) -----------


def _zero(v: Any) -> bool:
    return v is None or v in ("", 0, False) or (isinstance(v, list | dict) and not v)


def late_initialize(fp: dict, observed: dict, skip: Iterable[str] = ()) -> list[str]:
    """Copy into ``fp`` every top-level observed parameter that ``fp`` lacks, unless named in
    ``skip`` (``WithNameFilter``) or zero (``WithZeroValueJSONOmitEmptyFilter``: every parameter
    field is ``omitempty``; a pointer to a zero value counts as zero). ``initProvider`` is not
    consulted: the generated LateInitialize of our kinds passes no ``WithConditionalFilter``.
    Returns the names set (nested structs are not recursed into here: our kinds' late-inited
    fields of interest are scalars)."""
    skip = set(skip)
    changed = []
    for k, v in observed.items():
        if k in skip or k in fp or _zero(v):
            continue
        fp[k] = copy.deepcopy(v)
        changed.append(k)
    return sorted(changed)


# --- parameters upjet sends to Terraform: forProvider over initProvider ----------------------


def parameters(body: dict) -> dict:
    """upjet merges ``initProvider`` into the parameters of a create for keys ``forProvider``
    lacks (pkg/resource: GetMergedParameters with ``shouldMergeInitProvider``); selectors and
    references are not Terraform arguments."""
    spec = body.get("spec") or {}
    merged = {**(spec.get("initProvider") or {}), **(spec.get("forProvider") or {})}
    return {k: v for k, v in merged.items() if not k.endswith(("Ref", "Refs", "Selector"))}


# --- connection details -------------------------------------------------------------------


@dataclass
class Observation:
    """What an AWS handler reports for one MR (``managed.ExternalObservation`` + the state)."""

    exists: bool
    at_provider: dict[str, Any] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    external_name: str | None = None  # the name upjet's setExternalName would set
    up_to_date: bool = True
    late_init: dict[str, Any] = field(default_factory=dict)  # observed parameters
