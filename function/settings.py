"""Operator settings: the function's input, given in each Composition's pipeline step.

The CRD that documents this input, ``package/input/aws.fn.anynines.com_inputs.yaml``, and
the settings table of ``docs/operator-guide.md`` are generated from these models (their
field descriptions and docstrings) by ``tools/gen_input_crd.py``: run ``make generate``
after changing them. Every field has a default that makes the examples work; an operator
overrides them in the Composition, never in the code. What belongs to one AWS account or
installation (ProviderConfig, regions, network, backup role, limits) is not here: it comes
from the EnvironmentConfig this input names (``function/environment.py``).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

INPUT_API_VERSION: Final = "aws.fn.anynines.com/v1beta1"
INPUT_KIND: Final = "Input"


class _Strict(BaseModel):
    """A frozen model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PostgresqlPlan(_Strict):
    """One entry of the PostgreSQL plan catalogue."""

    instanceClass: str = Field(
        pattern=r"^db\.[a-z0-9-]+\.[a-z0-9]+$",
        description="RDS DB instance class, e.g. db.t4g.micro.",
    )
    allocatedStorage: int = Field(ge=20, le=65536, description="GiB at creation.")
    maxAllocatedStorage: int = Field(
        ge=20, le=65536, description="GiB storage autoscaling limit (at least allocatedStorage)."
    )
    # io1 and io2 need provisioned IOPS (AWS refuses CreateDBInstance without Iops), which a
    # plan cannot set: only the general-purpose types are offered.
    storageType: Literal["gp2", "gp3"] = Field(
        default="gp3",
        description="RDS storage type: gp3 or gp2 (general purpose). io1 and io2 need "
        "provisioned IOPS, which a plan does not set.",
    )
    multiAz: bool = Field(default=False, description="A standby in a second availability zone.")
    maxReplicas: int = Field(
        default=0,
        ge=0,
        le=15,
        description="Read replicas a claim may ask for; 0 makes a single-instance plan.",
    )
    defaultReplicas: int = Field(
        default=0,
        ge=0,
        le=15,
        description="Read replicas when the claim names no count (at most maxReplicas).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PostgresqlPlan:
        if self.maxAllocatedStorage < self.allocatedStorage:
            raise ValueError("maxAllocatedStorage must be >= allocatedStorage")
        if self.defaultReplicas > self.maxReplicas:
            raise ValueError("defaultReplicas must be <= maxReplicas")
        return self

    @property
    def cluster(self) -> bool:
        """A cluster plan: Multi-AZ, and read replicas allowed."""
        return self.maxReplicas > 0


class PostgresqlVersion(_Strict):
    """An offered PostgreSQL major version and the minor versions a claim may pin."""

    parameterGroupFamily: str = Field(
        pattern=r"^postgres[0-9]+$", description="RDS parameter group family, e.g. postgres16."
    )
    minors: list[str] = Field(
        default_factory=list,
        description="Offered minor versions a claim may pin, e.g. '17.4'.",
    )


def _plan(instance_class: str, storage: int, max_storage: int, cluster: bool) -> PostgresqlPlan:
    return PostgresqlPlan(
        instanceClass=instance_class,
        allocatedStorage=storage,
        maxAllocatedStorage=max_storage,
        multiAz=cluster,
        maxReplicas=5 if cluster else 0,
        defaultReplicas=1 if cluster else 0,
    )


# size -> (instance class, GiB at creation, GiB autoscaling limit); each size comes as a
# single-instance plan and as a cluster plan (Multi-AZ with read replicas).
_SIZES = {
    "nano": ("db.t4g.micro", 20, 100),
    "small": ("db.t4g.medium", 50, 250),
    "medium": ("db.m7g.large", 100, 500),
    "large": ("db.m7g.xlarge", 250, 1000),
}

# Minor versions RDS offers that a claim may pin (newest of each major follows automatically
# when the claim names only the major).
_MINORS = {
    "14": ["14.15", "14.17"],
    "15": ["15.10", "15.12"],
    "16": ["16.4", "16.5", "16.6", "16.8"],
    "17": ["17.2", "17.4", "17.5"],
}


def _default_plans() -> dict[str, PostgresqlPlan]:
    return {
        f"{kind}-{size}": _plan(cls, storage, max_storage, kind == "cluster")
        for kind in ("single", "cluster")
        for size, (cls, storage, max_storage) in _SIZES.items()
    }


def _default_versions() -> dict[str, PostgresqlVersion]:
    return {
        major: PostgresqlVersion(parameterGroupFamily=f"postgres{major}", minors=minors)
        for major, minors in _MINORS.items()
    }


class PostgresqlSettings(_Strict):
    """The PostgreSQL catalogue."""

    plans: dict[str, PostgresqlPlan] = Field(
        default_factory=_default_plans,
        min_length=1,
        description=(
            "Plan name -> instance class, storage and read replicas. Replaces the whole default"
            " catalogue (single-* and cluster-* plans of each size)."
        ),
    )
    versions: dict[str, PostgresqlVersion] = Field(
        default_factory=_default_versions,
        min_length=1,
        description=(
            "Offered major version -> parameter group family and pinnable minor versions."
            " Replaces the whole default list."
        ),
    )
    allowUnencryptedStorage: bool = Field(
        default=False, description="Let claims set config.compute.encryptedStorage: false."
    )


class Settings(_Strict):
    """Operator settings of function-klutch-aws. Every field has a default."""

    apiVersion: Literal["aws.fn.anynines.com/v1beta1"] = INPUT_API_VERSION
    kind: Literal["Input"] = INPUT_KIND
    metadata: dict[str, Any] | None = None

    environmentConfigName: str = Field(
        default="klutch-aws",
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "The EnvironmentConfig (apiextensions.crossplane.io/v1beta1) holding the account and"
            " environment settings: ProviderConfig, regions, network, backup role, limits."
        ),
    )
    namingPrefix: str = Field(
        default="klutch",
        pattern=r"^[a-z][a-z0-9-]{0,14}[a-z0-9]$",
        description=(
            "Start of every generated AWS name (bucket, IAM user, DB identifier, KMS alias)."
        ),
    )
    defaultTags: dict[str, str] = Field(
        default_factory=lambda: {"managed-by": "klutch"},
        description=(
            "Tags on every taggable resource; they win over a claim's tags, which may not "
            "set these keys."
        ),
    )
    internalSecretNamespace: str = Field(
        default="crossplane-system",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="Namespace of internal Secrets (access keys, master passwords).",
    )
    postgresql: PostgresqlSettings = Field(default_factory=PostgresqlSettings)

    @field_validator("namingPrefix")
    @classmethod
    def _not_reserved_by_aws(cls, value: str) -> str:
        # KMS keeps alias/aws/ for AWS's own keys; S3 refuses bucket names starting with
        # sthree- or amzn-s3-demo-. Every generated name starts with the prefix.
        if value in {"aws", "sthree"} or value.startswith("amzn-s3-demo"):
            raise ValueError(f"{value!r} is reserved by AWS (KMS alias/aws/, S3 bucket names)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        """Name the settings that moved to the EnvironmentConfig, instead of 'extra input'."""
        if not isinstance(data, dict):
            return data
        pg = data.get("postgresql")
        found = [f for f in _MOVED if f in data]
        if isinstance(pg, dict):
            found += [f"postgresql.{f}" for f in _MOVED_POSTGRESQL if f in pg]
        if found:
            raise ValueError(
                f"{', '.join(found)}: moved to the EnvironmentConfig (its data; see"
                " docs/operator-guide.md, 'The environment'); remove from the function input"
            )
        return data


# Input fields of versions before the EnvironmentConfig, now in its data.
_MOVED = ("providerConfigName", "defaultRegion", "backup")
_MOVED_POSTGRESQL = ("dbSubnetGroupName", "vpcSecurityGroupIds", "publicAccess")
