"""What the providers publish on the managed resources we render: a model per kind.

One provider reconcile of a managed resource (MR) is one ``tick``. Grounded in:

- crossplane-runtime v2.2.0 (provider-upjet-aws v2.6.0's go.mod; provider-sql v0.16.0 uses
  v2.2.1) ``pkg/reconciler/managed/reconciler.go``: after a successful Create the MR gets
  ``Ready=False reason Creating`` and ``Synced=True reason ReconcileSuccess``
  (``MarkConditions(xpv1.Creating(), xpv1.ReconcileSuccess())``) and the connection details
  Create returned are published (``PublishConnection``); on every Observe of an existing
  resource the details Observe returned are published again; a failing Connect (e.g. no
  usable ProviderConfig) gives only ``Synced=False`` (``ReconcileError``), no ``Ready``. The
  initializer ``NameAsExternalName`` sets ``crossplane.io/external-name`` to
  ``metadata.name`` when it is empty, unless the kind disables it.
- crossplane/upjet (commit 59c45527ebe4, provider-upjet-aws v2.6.0's go.mod)
  ``pkg/controller/external_tfpluginsdk.go``: Observe of an existing resource sets
  ``Available()`` (``Ready=True``), fills ``status.atProvider`` from the Terraform state
  (``SetObservation``: the arguments plus computed attributes) and rewrites the external name
  from the state (``setExternalName`` -> ``GetExternalNameFn``); Create does the same except
  ``Available()``. ``external_async_tfpluginsdk.go`` (kinds with ``UseAsync``): Create only
  starts the operation; the state, the external name and the connection details come with
  the next Observe. ``pkg/config/externalname.go``: ``NameAsIdentifier`` and
  ``ParameterAsIdentifier`` keep the name initializer; ``IdentifierFromProvider`` disables it
  and takes the Terraform ``id``. ``pkg/resource/sensitive.go``: sensitive attributes are
  published as ``attribute.<name>``.
- provider-upjet-aws v2.6.0 ``config/externalname.go`` (external-name rule per Terraform
  resource; ``kmsAlias()`` strips ``alias/`` from the id: the external name becomes the bare
  alias after create), ``config/cluster/<group>/config.go`` (``UseAsync``;
  ``AdditionalConnectionDetailsFn`` keys: rds Instance ``endpoint address host username port
  password``; iam AccessKey ``username`` = key id, ``password`` = secret; s3 Bucket ``id arn
  region``).
- provider-sql v0.16.0 ``pkg/controller/cluster/postgresql/role/reconciler.go`` (Create:
  ``Creating()`` and details ``username password endpoint port`` from
  ``pkg/clients/postgresql/postgresql.go GetConnectionDetails``; Observe: ``Available()``),
  ``.../grant/reconciler.go`` (``Creating()`` then ``Available()``, no details),
  ``.../config/config.go`` + crossplane-runtime ``pkg/reconciler/providerconfig/reconciler.go``
  (a ProviderConfig gets a finalizer and ``status.users``, never a condition).

- References (``<field>Selector``), crossplane-runtime v2.2.0 ``pkg/reconciler/managed/
  reconciler.go`` (``ResolveReferences`` before ``Connect``; failing: ``ReconcileError`` only,
  nothing created) and ``pkg/reference/reference.go`` (``APIResolver.Resolve``: a set value is
  kept (``IsNoOp``); else the first resource of the target kind with the selector's labels and,
  with ``matchControllerRef``, the same controller; an empty extracted value is an error). The
  target kind and extractor per field: provider-upjet-aws v2.6.0
  ``apis/cluster/<group>/<version>/zz_generated.resolvers.go`` (``REFERENCES``). The resolved
  value and ``<field>Ref`` are written to the MR (``APISimpleReferenceResolver`` updates it),
  and stay when Crossplane applies a spec without them (server-side apply: the provider owns
  them; ``ControlPlane`` asks ``provider_fields``).
- AWS refuses a bucket sub-resource for a bucket that does not exist (S3 ``NoSuchBucket`` on
  every ``PutBucket*`` call), and PostgreSQL a provider-sql Grant to a role that does not
  exist (``PARENTS``): the create fails and is retried; each refusal is recorded.

- The rds Instance's initializer ``PasswordGenerator`` (``password_generator``): provider-upjet-
  aws v2.6.0 ``config/cluster/common/common.go``, wired in ``config/cluster/rds/config.go`` with
  ``spec.forProvider.passwordSecretRef`` and ``spec.forProvider.autoGeneratePassword``. It runs
  before reference resolution on every reconcile (crossplane-runtime v2.2.0
  ``pkg/reconciler/managed/reconciler.go``: ``r.managed.Initialize`` before
  ``ResolveReferences``). Upjet reads the password back from that Secret into the Terraform
  state, so the Instance's ``password`` connection detail is the Secret's password.

- A reference inside a list item (``rule[].targetVaultNameSelector``) never settles: the
  generated resolver writes the resolved value into the list item and crossplane-runtime
  v2.2.0 ``pkg/reconciler/managed/api.go`` ``APISimpleReferenceResolver.ResolveReferences``
  patches the MR with a JSON merge patch of the whole spec as a server-side apply with
  ``client.ForceOwnership``; the v2.6.0 CRDs leave those lists atomic (no
  ``x-kubernetes-list-type``), so the resolver owns the whole list, and Crossplane's next
  force-apply of the composed resource (its list, without the value) takes it back: a write
  loop on every reconcile (the class of provider-upjet-aws issue 1979). Modelled as a
  ``ReconcileError`` naming the field (``list_references``), never resolved.

Not modelled: late initialization, update diffs, other AWS-side failures.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EXTERNAL_NAME = "crossplane.io/external-name"
SQL_GROUP = "postgresql.sql.crossplane.io"
ACCOUNT = "123456789012"


def _h(*parts: str, n: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


# External-name rules (upjet pkg/config/externalname.go, provider config/externalname.go).
GIVEN = "given"  # NameAsIdentifier / ParameterAsIdentifier: the annotation, else metadata.name
FROM_PROVIDER = "provider"  # IdentifierFromProvider: the Terraform id after create
KMS_ALIAS = "kms-alias"  # kmsAlias(): given, but "alias/" stripped from the id after create


@dataclass(frozen=True)
class KindModel:
    """How one provider kind behaves. ``computed(body, ext)`` gives the computed
    ``atProvider`` attributes, ``details(body, ext, cluster)`` the connection details."""

    external_name: str = GIVEN
    is_async: bool = False
    ready_condition: bool = True
    computed: Callable[[dict, str], dict[str, Any]] = lambda _b, _e: {}
    details: Callable[[dict, str, Any], dict[str, bytes]] | None = None


def _arn(service: str, body: dict, resource: str) -> str:
    region = _fp(body).get("region", "")
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def _fp(body: dict) -> dict:
    return (body.get("spec") or {}).get("forProvider") or {}


def _rds_instance(body: dict, ext: str) -> dict[str, Any]:
    region = _fp(body).get("region", "")
    # AWS names an instance's host and ARN by its DB identifier (forProvider.identifier), not by
    # the Terraform id: <identifier>.<one id per account and region>.<region>.rds.amazonaws.com
    # (Amazon RDS User Guide, "Finding the connection information for an RDS DB instance").
    name = str(_fp(body).get("identifier") or ext)
    address = f"{name}.c{_h(ACCOUNT, region, n=9)}.{region}.rds.amazonaws.com"
    fp = _fp(body)
    version = str(fp.get("engineVersion") or "16")
    # What RDS runs once a ModifyDBInstance is applied (the twin applies it at once, whatever
    # applyImmediately says): terraform-provider-aws resourceInstanceRead sets instance_class,
    # allocated_storage, multi_az and parameter_group_name (DBParameterGroups[0]) from
    # DescribeDBInstances, so atProvider reports them as running.
    running = {
        k: fp[k]
        for k in ("instanceClass", "allocatedStorage", "multiAz", "parameterGroupName")
        if k in fp
    }
    return {
        **running,
        "arn": _arn("rds", body, f"db:{name}"),
        "address": address,
        "port": 5432,
        "endpoint": f"{address}:5432",
        "resourceId": f"db-{_h(ext, n=26).upper()}",
        "engineVersionActual": version if "." in version else f"{version}.4",
        "latestRestorableTime": "2025-06-10T11:55:00Z",
        "status": "available",
    }


def _rds_details(body: dict, ext: str, cluster: Any) -> dict[str, bytes]:
    at = _rds_instance(body, ext)
    master = secret_value(cluster, _fp(body).get("passwordSecretRef"))
    out = {
        "endpoint": at["endpoint"],
        "address": at["address"],
        "host": at["address"],
        "port": "5432",
        "username": str(_fp(body).get("username") or "postgres"),
        # autoGeneratePassword: the provider wrote it to passwordSecretRef; upjet reads it back
        # into the state, so it is a connection detail and a sensitive attribute.
        "password": master or f"pw-{_h(ext, 'master', n=20)}",
    }
    out["attribute.password"] = out["password"]
    return {k: v.encode() for k, v in out.items()}


SECRET_API = ("v1", "Secret")


def secret_key(namespace: str, name: str) -> tuple[str, str, str, str]:
    """The cluster key of the Secret ``namespace/name``."""
    return (*SECRET_API, namespace, name)


def secret_value(cluster: Any, ref: Any) -> str | None:
    """The value a ``SecretKeySelector`` (``{name, namespace, key}``) names, decoded; None when
    the Secret or the key is missing."""
    if not isinstance(ref, dict):
        return None
    body = cluster.get(secret_key(ref.get("namespace") or "", ref.get("name") or ""))
    value = ((body or {}).get("data") or {}).get(ref.get("key") or "")
    return base64.b64decode(value).decode() if value else None


def password_generator(body: dict, cluster: Any) -> None:
    """provider-upjet-aws v2.6.0 ``config/cluster/common/common.go`` ``PasswordGenerator``, for
    ``spec.forProvider.passwordSecretRef`` / ``spec.forProvider.autoGeneratePassword``:

    - no selector, or the Secret exists with the key set: nothing ("Password is already set");
    - the toggle not true: nothing;
    - else a new password (``password.Generate()``; here derived from the MR's uid) under the
      key. Only when the Secret did not exist (``!meta.WasCreated(s)``) is the MR added as its
      owner, ``meta.AsOwner`` (apiVersion, kind, name, uid: no controller flag): "We don't want
      to own the Secret if it is created by someone else". Written with
      ``NewAPIPatchingApplicator(client).Apply``: create, or a merge patch of the Secret as it
      was read plus the key (its owner references unchanged).
    """
    sel = _fp(body).get("passwordSecretRef")
    if not isinstance(sel, dict):
        return
    key = secret_key(sel.get("namespace") or "", sel.get("name") or "")
    s = cluster.get(key)
    if s is not None and ((s.get("data") or {}).get(sel.get("key") or "")):
        return
    if _fp(body).get("autoGeneratePassword") is not True:
        return
    meta = body["metadata"]
    pw = f"pw-{_h(meta['uid'], 'generated', n=24)}"
    created = s is None
    if s is None:  # !meta.WasCreated(s): ours, so owned by the MR
        owner = {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
        }
        s = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": key[3], "namespace": key[2], "ownerReferences": [owner]},
        }
    s.setdefault("data", {})[sel.get("key") or ""] = base64.b64encode(pw.encode()).decode()
    cluster.put(s)
    if created:
        # The provider's field manager owns that entry: a server-side apply of others keeps it.
        cluster.foreign_owner_refs.setdefault(s["metadata"]["uid"], set()).add(meta["uid"])


def _access_key_details(_body: dict, ext: str, _cluster: Any) -> dict[str, bytes]:
    secret = f"secret-{_h(ext, 'secret', n=32)}"
    return {
        "username": ext.encode(),
        "password": secret.encode(),
        "attribute.secret": secret.encode(),
    }


def _bucket_details(body: dict, ext: str, _cluster: Any) -> dict[str, bytes]:
    return {
        "id": ext.encode(),
        "arn": f"arn:aws:s3:::{ext}".encode(),
        "region": str(_fp(body).get("region", "")).encode(),
    }


def _role_details(body: dict, ext: str, cluster: Any) -> dict[str, bytes]:
    creds = cluster.sql_credentials(body)
    return {
        "username": ext.encode(),
        "password": f"role-{_h(ext, 'role', n=20)}".encode(),
        "endpoint": creds["endpoint"],
        "port": creds["port"],
    }


_S3 = "s3.aws.upbound.io"
# The bucket's sub-resources: each names its bucket and takes the provider's id as its name.
BUCKET_SUB_RESOURCES = (
    "BucketServerSideEncryptionConfiguration",
    "BucketPublicAccessBlock",
    "BucketOwnershipControls",
    "BucketPolicy",
    "BucketLifecycleConfiguration",
)

KINDS: dict[tuple[str, str], KindModel] = {
    # s3 (config/cluster/s3/config.go; aws_s3_bucket: ParameterAsIdentifier("bucket"))
    ("s3.aws.upbound.io", "Bucket"): KindModel(
        computed=lambda b, e: {
            "id": e,
            "arn": f"arn:aws:s3:::{e}",
            "bucketDomainName": f"{e}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{e}.s3.{_fp(b).get('region', '')}.amazonaws.com",
        },
        details=_bucket_details,
    ),
    **{
        ("s3.aws.upbound.io", k): KindModel(
            external_name=FROM_PROVIDER, computed=lambda _b, e: {"id": e}
        )
        for k in BUCKET_SUB_RESOURCES
    },
    # kms (config/cluster/kms/config.go: aws_kms_alias UseAsync; externalname.go kmsAlias())
    ("kms.aws.upbound.io", "Key"): KindModel(
        external_name=FROM_PROVIDER,
        computed=lambda b, e: {"id": e, "keyId": e, "arn": _arn("kms", b, f"key/{e}")},
    ),
    ("kms.aws.upbound.io", "Alias"): KindModel(
        external_name=KMS_ALIAS,
        is_async=True,
        computed=lambda b, e: {"id": f"alias/{e}", "arn": _arn("kms", b, f"alias/{e}")},
    ),
    # iam (config/cluster/iam/config.go; externalname.go: User NameAsIdentifier, Policy
    # iamPolicy(), AccessKey and UserPolicyAttachment IdentifierFromProvider)
    ("iam.aws.upbound.io", "User"): KindModel(
        computed=lambda _b, e: {
            "id": e,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{e}",
            "uniqueId": f"AIDA{_h(e, n=17).upper()}",
        }
    ),
    ("iam.aws.upbound.io", "Policy"): KindModel(
        computed=lambda _b, e: {
            "id": f"arn:aws:iam::{ACCOUNT}:policy/{e}",
            "arn": f"arn:aws:iam::{ACCOUNT}:policy/{e}",
            "policyId": f"ANPA{_h(e, n=17).upper()}",
        }
    ),
    ("iam.aws.upbound.io", "UserPolicyAttachment"): KindModel(
        external_name=FROM_PROVIDER, computed=lambda _b, e: {"id": e}
    ),
    ("iam.aws.upbound.io", "AccessKey"): KindModel(
        external_name=FROM_PROVIDER,
        computed=lambda _b, e: {"id": e, "status": "Active"},
        details=_access_key_details,
    ),
    # rds (config/cluster/rds/config.go: aws_db_instance and aws_db_snapshot UseAsync)
    ("rds.aws.upbound.io", "Instance"): KindModel(
        external_name=FROM_PROVIDER,
        is_async=True,
        computed=lambda b, e: {"id": e, **_rds_instance(b, e)},
        details=_rds_details,
    ),
    ("rds.aws.upbound.io", "ParameterGroup"): KindModel(
        computed=lambda b, e: {"id": e, "arn": _arn("rds", b, f"pg:{e}")}
    ),
    ("rds.aws.upbound.io", "Snapshot"): KindModel(
        is_async=True,
        computed=lambda b, e: {
            "id": e,
            "dbSnapshotArn": _arn("rds", b, f"snapshot:{e}"),
            "status": "available",
        },
    ),
    # backup (config/cluster/backup/config.go: aws_backup_plan UseAsync)
    ("backup.aws.upbound.io", "Vault"): KindModel(
        computed=lambda b, e: {"id": e, "arn": _arn("backup", b, f"backup-vault:{e}")}
    ),
    ("backup.aws.upbound.io", "Plan"): KindModel(
        external_name=FROM_PROVIDER,
        is_async=True,
        computed=lambda b, e: {
            "id": e,
            "arn": _arn("backup", b, f"backup-plan:{e}"),
            "version": _h(e, "v"),
        },
    ),
    ("backup.aws.upbound.io", "Selection"): KindModel(
        external_name=FROM_PROVIDER, computed=lambda _b, e: {"id": e}
    ),
    # The network a PostgresqlInstance renders and the AWS Backup role a ScheduledBackup renders
    # (config/externalname.go: aws_db_subnet_group and aws_iam_role NameAsIdentifier;
    # aws_security_group, aws_iam_role_policy_attachment IdentifierFromProvider;
    # aws_vpc_security_group_ingress_rule vpcSecurityGroupRule(), IdentifierFromProvider with
    # a stub id before create; none UseAsync in config/cluster/{rds,ec2,iam}/config.go).
    ("rds.aws.upbound.io", "SubnetGroup"): KindModel(
        computed=lambda b, e: {"id": e, "arn": _arn("rds", b, f"subgrp:{e}")}
    ),
    ("ec2.aws.upbound.io", "SecurityGroup"): KindModel(
        external_name=FROM_PROVIDER,
        computed=lambda b, e: {"id": e, "arn": _arn("ec2", b, f"security-group/{e}")},
    ),
    ("ec2.aws.upbound.io", "SecurityGroupIngressRule"): KindModel(
        external_name=FROM_PROVIDER,
        computed=lambda b, e: {"id": e, "arn": _arn("ec2", b, f"security-group-rule/{e}")},
    ),
    ("iam.aws.upbound.io", "Role"): KindModel(
        computed=lambda b, e: {"id": e, "arn": _arn("iam", b, f"role/{e}")}
    ),
    ("iam.aws.upbound.io", "RolePolicyAttachment"): KindModel(
        external_name=FROM_PROVIDER, computed=lambda _b, e: {"id": e}
    ),
    # provider-sql
    (SQL_GROUP, "ProviderConfig"): KindModel(ready_condition=False),
    (SQL_GROUP, "Role"): KindModel(details=_role_details),
    (SQL_GROUP, "Grant"): KindModel(),
}


# Extractors of the referenced value (upjet ``pkg/resource/extractor.go``, crossplane-runtime
# ``reference.ExternalName``, provider-upjet-aws ``config/common/common.go`` ``ARNExtractor``).
ID = "status.atProvider.id"  # resource.ExtractResourceID()
ARN = "status.atProvider.arn"  # common.ARNExtractor(), resource.ExtractParamPath("arn", true)
EXTERNAL = "external-name"  # reference.ExternalName()
IDENTIFIER = "spec.forProvider.identifier"  # resource.ExtractParamPath("identifier", false)

# (group, kind) of the referencing MR -> its top-level field -> (referenced group/kind, extractor)
REFERENCES: dict[tuple[str, str], dict[str, tuple[tuple[str, str], str]]] = {
    **{(_S3, k): {"bucket": ((_S3, "Bucket"), ID)} for k in BUCKET_SUB_RESOURCES},
    ("kms.aws.upbound.io", "Alias"): {"targetKeyId": (("kms.aws.upbound.io", "Key"), EXTERNAL)},
    ("rds.aws.upbound.io", "Instance"): {
        "kmsKeyId": (("kms.aws.upbound.io", "Key"), ARN),
        "parameterGroupName": (("rds.aws.upbound.io", "ParameterGroup"), EXTERNAL),
        "replicateSourceDb": (("rds.aws.upbound.io", "Instance"), IDENTIFIER),
    },
    ("iam.aws.upbound.io", "UserPolicyAttachment"): {
        "user": (("iam.aws.upbound.io", "User"), EXTERNAL),
        "policyArn": (("iam.aws.upbound.io", "Policy"), ARN),
    },
    ("iam.aws.upbound.io", "AccessKey"): {"user": (("iam.aws.upbound.io", "User"), EXTERNAL)},
    ("backup.aws.upbound.io", "Selection"): {
        "planId": (("backup.aws.upbound.io", "Plan"), EXTERNAL)
    },
}
# A create AWS refuses while the parent named by the field does not exist (S3: NoSuchBucket).
PARENTS: dict[tuple[str, str], tuple[str, str]] = {
    **{gk: ("bucket", "Bucket") for gk in REFERENCES if gk[0] == _S3},
    # provider-sql v0.16.0 grant/reconciler.go ``Create``: ``GRANT ... TO <role>`` fails while
    # the role does not exist; make e2e showed it ("pq: role \"klutch_app_owner\" does not
    # exist (42704)") for Grants composed together with their Role.
    (SQL_GROUP, "Grant"): ("role", "Role"),
}


def _group_kind(body: dict) -> tuple[str, str]:
    return str(body.get("apiVersion", "")).split("/")[0], str(body.get("kind", ""))


def _controller(body: dict) -> str | None:
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _extract(target: dict, how: str) -> str:
    if how == EXTERNAL:
        return str(
            ((target.get("metadata") or {}).get("annotations") or {}).get(EXTERNAL_NAME) or ""
        )
    node: Any = target
    for part in how.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


REFERENCE_SUFFIXES = ("Ref", "Refs", "Selector")


def list_references(node: Any, path: str = "", in_list: bool = False) -> list[str]:
    """The paths of every ``*Ref``/``*Refs``/``*Selector`` key inside a list item of ``node``
    (``rule[0].targetVaultNameSelector``): references that never settle (module docstring)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in sorted(node.items()):
            where = f"{path}.{key}" if path else key
            if in_list and key.endswith(REFERENCE_SUFFIXES):
                found.append(where)
            found += list_references(value, where, in_list)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += list_references(item, f"{path}[{i}]", True)
    return found


def resolve_references(body: dict, objects: list[dict]) -> tuple[dict, list[str], str]:
    """crossplane-runtime's reference resolution of the MR ``body`` among ``objects``: the MR
    with the resolved fields set, the fields written, and the error ("" when none)."""
    fp = _fp(body)
    written: list[str] = []
    looping = list_references(fp, "spec.forProvider")
    if looping:
        return body, written, f"{looping[0]}: {LIST_REFERENCE}"
    for field_name, (target_kind, how) in sorted(REFERENCES.get(_group_kind(body), {}).items()):
        selector = fp.get(f"{field_name}Selector")
        if fp.get(field_name) or not isinstance(selector, dict):
            continue  # IsNoOp: a set value is kept; nothing to resolve without a selector
        labels = selector.get("matchLabels") or {}
        for target in objects:
            if _group_kind(target) != target_kind:
                continue
            if any(
                ((target.get("metadata") or {}).get("labels") or {}).get(k) != v
                for k, v in labels.items()
            ):
                continue
            if selector.get("matchControllerRef") and _controller(target) != _controller(body):
                continue
            value = _extract(target, how)
            if not value:
                return body, written, f"{field_name}Selector: {NO_VALUE}"
            fp[field_name] = value
            fp[f"{field_name}Ref"] = {"name": target["metadata"]["name"]}
            written += [field_name, f"{field_name}Ref"]
            break
        else:
            return body, written, f"{field_name}Selector: {NO_MATCHES}"
    return body, written, ""


LIST_REFERENCE = (
    "a reference inside an atomic list: the resolver's force-owned apply of the list and"
    " Crossplane's apply without the value replace each other on every reconcile"
)
NO_VALUE = "referenced field was empty (referenced resource may not yet be ready)"
NO_MATCHES = "no resources matched selector"


def model(body: dict) -> KindModel:
    group = str(body.get("apiVersion", "")).split("/")[0]
    try:
        return KINDS[(group, body.get("kind"))]
    except KeyError as err:
        raise LookupError(
            f"no provider model for {body.get('apiVersion')} {body.get('kind')}"
        ) from err


def condition(typ: str, status: str, reason: str, at: str) -> dict[str, str]:
    return {"type": typ, "status": status, "reason": reason, "lastTransitionTime": at}


@dataclass
class External:
    """What exists on the cloud side for one MR (the fake AWS / PostgreSQL)."""

    kind: str
    ext: str
    deletion_policy: str


@dataclass
class Providers:
    """The provider controllers. ``external``: what exists outside the cluster, by MR uid."""

    external: dict[str, External] = field(default_factory=dict)
    stage: dict[str, int] = field(default_factory=dict)  # MR uid -> 1 created, 2 observed
    # MR uid -> spec.forProvider fields the provider wrote (resolved references).
    owned: dict[str, set[str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # creates AWS refused

    def tick(self, body: dict, cluster: Any, at: str) -> dict:
        """One reconcile of the MR ``body``: the MR as the provider leaves it."""
        m = model(body)
        if not m.ready_condition:
            return _provider_config(body, cluster)
        if body["apiVersion"].startswith(SQL_GROUP) and not cluster.sql_credentials(body):
            # Connect fails: the ProviderConfig or its Secret is not there yet.
            return _set_conditions(body, [condition("Synced", "False", "ReconcileError", at)])
        uid = body["metadata"]["uid"]
        if _group_kind(body) == ("rds.aws.upbound.io", "Instance"):
            password_generator(body, cluster)  # Initialize, before ResolveReferences
        body, written, error = resolve_references(body, list(cluster.objects.values()))
        self.owned.setdefault(uid, set()).update(written)
        if error:
            return _set_conditions(body, [condition("Synced", "False", "ReconcileError", at)])
        if uid not in self.external and not self._parent_exists(body):
            self.refused.append(f"{body['kind']} {body['metadata']['name']}: parent missing")
            return _set_conditions(body, [condition("Synced", "False", "ReconcileError", at)])
        stage = self.stage.get(uid, 0) + 1
        self.stage[uid] = min(stage, 2)
        body = _init_external_name(body, m)
        if stage == 1 and m.is_async:
            return _set_conditions(body, _creating(at))
        ext = _external_after(body, m)
        self.external[uid] = External(body["kind"], ext, _deletion_policy(body))
        body = _observed(body, m, ext)
        if m.details is not None:
            cluster.write_connection_secret(body, m.details(body, ext, cluster))
        if stage == 1:
            return _set_conditions(body, _creating(at))
        return _set_conditions(body, [condition("Ready", "True", "Available", at), _synced(at)])

    def _parent_exists(self, body: dict) -> bool:
        parent = PARENTS.get(_group_kind(body))
        if parent is None:
            return True
        field_name, kind = parent
        name = _fp(body).get(field_name)
        return any(e.kind == kind and e.ext == name for e in self.external.values())

    def delete(self, body: dict) -> None:
        """The MR was deleted: the external resource goes unless the policy keeps it."""
        uid = body["metadata"]["uid"]
        self.stage.pop(uid, None)
        self.owned.pop(uid, None)
        ext = self.external.get(uid)
        if ext is not None and ext.deletion_policy != "Orphan":
            del self.external[uid]


def _synced(at: str) -> dict[str, str]:
    return condition("Synced", "True", "ReconcileSuccess", at)


def _creating(at: str) -> list[dict[str, str]]:
    return [condition("Ready", "False", "Creating", at), _synced(at)]


def _deletion_policy(body: dict) -> str:
    return str((body.get("spec") or {}).get("deletionPolicy") or "Delete")


def _annotations(body: dict) -> dict:
    return body.setdefault("metadata", {}).setdefault("annotations", {})


def _init_external_name(body: dict, m: KindModel) -> dict:
    """crossplane-runtime's NameAsExternalName initializer (disabled for
    IdentifierFromProvider)."""
    if m.external_name != FROM_PROVIDER and not _annotations(body).get(EXTERNAL_NAME):
        _annotations(body)[EXTERNAL_NAME] = body["metadata"]["name"]
    return body


def _external_after(body: dict, m: KindModel) -> str:
    """The external name upjet sets from the Terraform state after create/observe."""
    current = _annotations(body).get(EXTERNAL_NAME) or ""
    if m.external_name == FROM_PROVIDER:
        return current or f"{body['kind'].lower()}-{_h(body['metadata']['uid'])}"
    if m.external_name == KMS_ALIAS:
        return current.removeprefix("alias/")
    return current


def _observed(body: dict, m: KindModel, ext: str) -> dict:
    _annotations(body)[EXTERNAL_NAME] = ext
    params = {
        k: v
        for k, v in _fp(body).items()
        if not k.endswith(("Ref", "Refs", "Selector", "SecretRef"))
    }
    body.setdefault("status", {})["atProvider"] = {**params, **m.computed(body, ext)}
    return body


def _set_conditions(body: dict, conditions: list[dict[str, str]]) -> dict:
    """Set conditions as crossplane-runtime does: a condition whose type, status, reason
    and message are unchanged keeps its lastTransitionTime."""
    status = body.setdefault("status", {})
    current = {c["type"]: c for c in status.get("conditions") or []}
    for c in conditions:
        old = current.get(c["type"])
        same = old is not None and all(
            old.get(k) == c.get(k) for k in ("status", "reason", "message")
        )
        current[c["type"]] = old if same else c
    status["conditions"] = [current[t] for t in sorted(current)]
    return body


def _provider_config(body: dict, cluster: Any) -> dict:
    """crossplane-runtime providerconfig reconciler: finalizer and users, nothing else."""
    meta = body["metadata"]
    finalizers = meta.setdefault("finalizers", [])
    if "in-use.crossplane.io" not in finalizers:
        finalizers.append("in-use.crossplane.io")
    body.setdefault("status", {})["users"] = cluster.provider_config_users(meta["name"])
    return body


def upjet_late_initialize(body: dict, state: dict) -> dict:
    """upjet's ``Observe`` of an existing resource (commit 59c45527ebe4,
    ``pkg/controller/external_tfpluginsdk.go``): when the MR's management policies hold
    ``LateInitialize`` or ``*`` (the CRD's default), ``LateInitialize`` fills every
    ``forProvider`` field that is not set from the Terraform state (``state``: the external
    resource's arguments); otherwise nothing. Returns the MR as the provider leaves it."""
    spec = body.setdefault("spec", {})
    policies = set(spec.get("managementPolicies") or ["*"])
    if policies & {"LateInitialize", "*"}:
        fp = spec.setdefault("forProvider", {})
        for key, value in state.items():
            fp.setdefault(key, value)
    return body


def upjet_ignored_changes(body: dict) -> set[str]:
    """The top-level fields upjet keeps out of the diff (``filterInitExclusiveDiffs`` ->
    ``getTerraformIgnoreChanges(forProvider, initProvider)``): those in ``initProvider`` and
    not in ``forProvider``. Any other field differing from the state is updated back."""
    spec = body.get("spec") or {}
    return set(spec.get("initProvider") or {}) - set(spec.get("forProvider") or {})
