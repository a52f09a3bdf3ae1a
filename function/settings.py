"""Operator settings: the function's input, given in each Composition's pipeline step.

The CRD that documents this input is ``package/input/aws.fn.anynines.com_inputs.yaml``.
Every field has a default that makes the examples work; an operator overrides them in
the Composition, never in the code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from function.regions import REGIONS, region_error

INPUT_API_VERSION = "aws.fn.anynines.com/v1beta1"
INPUT_KIND = "Input"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostgresqlPlan(_Strict):
    """One entry of the PostgreSQL plan catalogue."""

    instanceClass: str = Field(pattern=r"^db\.[a-z0-9-]+\.[a-z0-9]+$")
    allocatedStorage: int = Field(ge=20, le=65536, description="GiB at creation")
    maxAllocatedStorage: int = Field(ge=20, le=65536, description="GiB storage autoscaling limit")
    storageType: Literal["gp2", "gp3", "io1", "io2"] = "gp3"
    multiAz: bool = Field(default=False, description="a standby in a second availability zone")
    maxReplicas: int = Field(
        default=0, ge=0, le=15, description="read replicas a claim may ask for; 0: a single plan"
    )
    defaultReplicas: int = Field(
        default=0, ge=0, le=15, description="read replicas when the claim names no count"
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

    parameterGroupFamily: str = Field(pattern=r"^postgres[0-9]+$")
    minors: list[str] = Field(
        default_factory=list, description="offered minor versions, e.g. '17.4'"
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


class PublicAccess(_Strict):
    """Where publicly accessible instances go: without it, claims cannot ask for one."""

    dbSubnetGroupName: str = Field(min_length=1, description="a DB subnet group of public subnets")
    vpcSecurityGroupIds: list[str] = Field(
        min_length=1, description="security groups that admit the allowed clients"
    )


class PostgresqlSettings(_Strict):
    """The PostgreSQL catalogue and where instances go."""

    plans: dict[str, PostgresqlPlan] = Field(default_factory=_default_plans, min_length=1)
    versions: dict[str, PostgresqlVersion] = Field(default_factory=_default_versions, min_length=1)
    dbSubnetGroupName: str = "klutch-postgresql"
    vpcSecurityGroupIds: list[str] = Field(default_factory=list)
    publicAccess: PublicAccess | None = Field(
        default=None, description="set to let claims ask for publiclyAccessible instances"
    )
    allowUnencryptedStorage: bool = Field(
        default=False, description="let claims turn storage encryption off"
    )


class BackupSettings(_Strict):
    serviceRoleArn: str = Field(
        default="arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole",
        pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$",
    )


class Settings(_Strict):
    """The function input (DESIGN section 4)."""

    apiVersion: Literal["aws.fn.anynines.com/v1beta1"] = INPUT_API_VERSION
    kind: Literal["Input"] = INPUT_KIND
    metadata: dict | None = None

    providerConfigName: str = Field(default="default", min_length=1, max_length=253)
    namingPrefix: str = Field(default="klutch", pattern=r"^[a-z][a-z0-9-]{0,14}[a-z0-9]$")
    defaultRegion: str = "eu-central-1"
    defaultTags: dict[str, str] = Field(default_factory=lambda: {"managed-by": "klutch"})
    internalSecretNamespace: str = Field(
        default="crossplane-system", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    )
    postgresql: PostgresqlSettings = Field(default_factory=PostgresqlSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)

    @field_validator("defaultRegion")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in REGIONS:
            raise ValueError(region_error(value))
        return value
