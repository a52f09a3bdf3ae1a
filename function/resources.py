"""Provider kinds we render (one table) and the shape every managed resource shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple


class Kind(NamedTuple):
    """A provider kind: its ``apiVersion`` (the storage version we render) and ``kind``."""

    api_version: str
    kind: str


# provider-upjet-aws v2: cluster-scoped groups, the storage version of each kind.
S3_BUCKET = Kind("s3.aws.upbound.io/v1beta2", "Bucket")
S3_SSE = Kind("s3.aws.upbound.io/v1beta2", "BucketServerSideEncryptionConfiguration")
S3_PUBLIC_ACCESS_BLOCK = Kind("s3.aws.upbound.io/v1beta1", "BucketPublicAccessBlock")
S3_OWNERSHIP_CONTROLS = Kind("s3.aws.upbound.io/v1beta2", "BucketOwnershipControls")
S3_POLICY = Kind("s3.aws.upbound.io/v1beta1", "BucketPolicy")
# v1beta1 is the storage version of BucketLifecycleConfiguration (v1beta2 is only served).
S3_LIFECYCLE = Kind("s3.aws.upbound.io/v1beta1", "BucketLifecycleConfiguration")
KMS_KEY = Kind("kms.aws.upbound.io/v1beta1", "Key")
KMS_ALIAS = Kind("kms.aws.upbound.io/v1beta1", "Alias")
IAM_USER = Kind("iam.aws.upbound.io/v1beta1", "User")
IAM_POLICY = Kind("iam.aws.upbound.io/v1beta1", "Policy")
IAM_USER_POLICY_ATTACHMENT = Kind("iam.aws.upbound.io/v1beta1", "UserPolicyAttachment")
IAM_ACCESS_KEY = Kind("iam.aws.upbound.io/v1beta1", "AccessKey")
IAM_ROLE = Kind("iam.aws.upbound.io/v1beta1", "Role")
IAM_ROLE_POLICY_ATTACHMENT = Kind("iam.aws.upbound.io/v1beta1", "RolePolicyAttachment")
RDS_INSTANCE = Kind("rds.aws.upbound.io/v1beta3", "Instance")
RDS_PARAMETER_GROUP = Kind("rds.aws.upbound.io/v1beta1", "ParameterGroup")
RDS_SNAPSHOT = Kind("rds.aws.upbound.io/v1beta1", "Snapshot")
RDS_SUBNET_GROUP = Kind("rds.aws.upbound.io/v1beta1", "SubnetGroup")
EC2_SECURITY_GROUP = Kind("ec2.aws.upbound.io/v1beta1", "SecurityGroup")
EC2_SECURITY_GROUP_INGRESS_RULE = Kind("ec2.aws.upbound.io/v1beta1", "SecurityGroupIngressRule")
BACKUP_VAULT = Kind("backup.aws.upbound.io/v1beta1", "Vault")
BACKUP_PLAN = Kind("backup.aws.upbound.io/v1beta2", "Plan")
BACKUP_SELECTION = Kind("backup.aws.upbound.io/v1beta1", "Selection")
# Crossplane v2: deletion protection. Cluster-scoped, because our XRs are (see function/refs.py).
CLUSTER_USAGE = Kind("protection.crossplane.io/v1beta1", "ClusterUsage")
# provider-sql
SQL_PROVIDER_CONFIG = Kind("postgresql.sql.crossplane.io/v1alpha1", "ProviderConfig")
SQL_ROLE = Kind("postgresql.sql.crossplane.io/v1alpha1", "Role")
SQL_GRANT = Kind("postgresql.sql.crossplane.io/v1alpha1", "Grant")
# Kubernetes core (group ""): the master password Secret a PostgresqlInstance composes, and the
# Namespace it requires to keep that Secret (function/master_secret.py). No CRD: the API server
# serves them.
SECRET = Kind("v1", "Secret")
NAMESPACE = Kind("v1", "Namespace")
CORE_KINDS = frozenset({SECRET, NAMESPACE})
# The only data keys of a Secret the function composes, and so the only ones it ever echoes of
# an observed Secret (``fn._as_desired``): never a password, which the provider writes.
COMPOSED_SECRET_KEYS = frozenset({"username", "dbname"})

# How a kind says it is ready, when not by a ``Ready`` condition. Every upjet MR
# (provider-upjet-aws) and every provider-sql managed resource (Role, Grant) gets ``Ready``
# from crossplane-runtime's managed reconciler (``Available()`` once the external resource
# exists). A provider-sql ProviderConfig is no managed resource: crossplane-runtime's
# ProviderConfig reconciler (``pkg/reconciler/providerconfig/reconciler.go``, v2.2.1 per
# provider-sql v0.16.0's go.mod) only counts its users (``status.users``), adds a finalizer
# and, once deleted while still in use, sets ``Terminating``. It is usable as soon as it
# exists, so it is ready once observed and not being deleted. A core Secret has no status at
# all (Kubernetes ``core/v1`` ``Secret``: data, stringData, type, immutable): it is ready once
# it exists, as the provider can fill it from then on.
READY_CONDITION = "ReadyCondition"
READY_WHEN_EXISTS = "ReadyWhenExists"
READINESS: dict[Kind, str] = {SQL_PROVIDER_CONFIG: READY_WHEN_EXISTS, SECRET: READY_WHEN_EXISTS}


def readiness(kind: Kind) -> str:
    """How an observed resource of ``kind`` tells it is ready."""
    return READINESS.get(kind, READY_CONDITION)


DeletionPolicy = Literal["Delete", "Orphan"]


def managed(
    kind: Kind,
    provider_config: str,
    for_provider: Mapping[str, Any],
    *,
    deletion_policy: DeletionPolicy = "Delete",
    external_name: str | None = None,
    init_provider: Mapping[str, Any] | None = None,
    connection_secret: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A provider-upjet-aws managed resource.

    ``provider_config`` names its ProviderConfig (``Request.provider_config``: the
    EnvironmentConfig's, per namespace when it has a template); ``connection_secret`` is
    ``(name, namespace)`` of the Secret the provider writes.
    """
    body: dict[str, Any] = {"apiVersion": kind.api_version, "kind": kind.kind}
    if external_name is not None:
        body["metadata"] = {"annotations": {"crossplane.io/external-name": external_name}}
    spec: dict[str, Any] = {
        "deletionPolicy": deletion_policy,
        "providerConfigRef": {"name": provider_config},
        "forProvider": dict(for_provider),
    }
    if init_provider:
        spec["initProvider"] = dict(init_provider)
    if connection_secret is not None:
        name, namespace = connection_secret
        spec["writeConnectionSecretToRef"] = {"name": name, "namespace": namespace}
    body["spec"] = spec
    return body


def controller_ref_selector() -> dict[str, Any]:
    """Select the one resource of a kind that the same XR composed."""
    return {"matchControllerRef": True}


def parent_ref(field: str, name: str, observed: Any) -> dict[str, Any]:
    """Name the parent resource ``name`` (composed by the same XR, the only one of its kind
    there) by ``<field>Selector``, so the provider resolves ``<field>`` only once the parent can
    be found (crossplane-runtime ``pkg/reference/reference.go`` ``APIResolver.Resolve``: the
    first resource of the kind with the same controller; an empty extracted value is an error,
    so the child is not created yet).

    ``observed`` is the child's observed ``spec.forProvider.<field>``. Once it holds ``name``
    (resolved by the provider, or rendered as a plain name by an earlier version of this
    function), ``<field>`` is rendered too: the value does not change, so nothing is replaced,
    and Crossplane's server-side apply keeps owning a field it already owned instead of
    removing it for the provider to resolve again. A set value makes the selector a no-op
    (``ResolutionRequest.IsNoOp``). Any other observed value is never echoed.
    """
    out: dict[str, Any] = {f"{field}Selector": controller_ref_selector()}
    if observed == name:
        out[field] = name
    return out
