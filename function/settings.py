"""Operator settings: the function's input, given in each Composition's pipeline step.

The CRD that documents this input, ``package/input/aws.fn.anynines.com_inputs.yaml``, and
the settings table of ``docs/operator-guide.md`` are generated from these models (their
field descriptions and docstrings) by ``tools/gen_input_crd.py``: run ``make generate``
after changing them. Every field has a default that makes the examples work; an operator
overrides them in the Composition, never in the code.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from function.regions import REGIONS, region_error

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
    storageType: Literal["gp2", "gp3", "io1", "io2"] = Field(
        default="gp3", description="RDS storage type."
    )
    multiAz: bool = Field(default=False, description="A standby in a second availability zone.")

    @model_validator(mode="after")
    def _max_at_least_allocated(self) -> PostgresqlPlan:
        if self.maxAllocatedStorage < self.allocatedStorage:
            raise ValueError("maxAllocatedStorage must be >= allocatedStorage")
        return self


class PostgresqlVersion(_Strict):
    """An offered PostgreSQL major version."""

    parameterGroupFamily: str = Field(
        pattern=r"^postgres[0-9]+$", description="RDS parameter group family, e.g. postgres16."
    )


def _default_plans() -> dict[str, PostgresqlPlan]:
    return {
        "small": PostgresqlPlan(
            instanceClass="db.t4g.micro", allocatedStorage=20, maxAllocatedStorage=100
        ),
        "medium": PostgresqlPlan(
            instanceClass="db.m7g.large", allocatedStorage=100, maxAllocatedStorage=500
        ),
        "large": PostgresqlPlan(
            instanceClass="db.m7g.xlarge", allocatedStorage=250, maxAllocatedStorage=1000
        ),
        "large-ha": PostgresqlPlan(
            instanceClass="db.m7g.xlarge",
            allocatedStorage=250,
            maxAllocatedStorage=1000,
            multiAz=True,
        ),
    }


def _default_versions() -> dict[str, PostgresqlVersion]:
    return {
        major: PostgresqlVersion(parameterGroupFamily=f"postgres{major}")
        for major in ("14", "15", "16", "17")
    }


class PostgresqlSettings(_Strict):
    """PostgreSQL on RDS."""

    plans: dict[str, PostgresqlPlan] = Field(
        default_factory=_default_plans,
        min_length=1,
        description=(
            "Plan name -> instance class and storage. Replaces the whole default catalogue."
        ),
    )
    versions: dict[str, PostgresqlVersion] = Field(
        default_factory=_default_versions,
        min_length=1,
        description=(
            "Offered major version -> parameter group family. Replaces the whole default list."
        ),
    )
    dbSubnetGroupName: str = Field(
        default="klutch-postgresql",
        description="An existing RDS DB subnet group (the VPC and subnets of every instance).",
    )
    vpcSecurityGroupIds: list[str] = Field(
        default_factory=list,
        description="Security groups of every instance; empty means the VPC's default group.",
    )


class BackupSettings(_Strict):
    """AWS Backup (ScheduledBackup)."""

    serviceRoleArn: str = Field(
        default="arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole",
        pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$",
        description="IAM role AWS Backup assumes for scheduled backups; set your account's.",
    )


class Settings(_Strict):
    """Operator settings of function-klutch-aws. Every field has a default."""

    apiVersion: Literal["aws.fn.anynines.com/v1beta1"] = INPUT_API_VERSION
    kind: Literal["Input"] = INPUT_KIND
    metadata: dict[str, Any] | None = None

    providerConfigName: str = Field(
        default="default",
        min_length=1,
        max_length=253,
        description="The provider-upjet-aws ProviderConfig every AWS managed resource uses.",
    )
    namingPrefix: str = Field(
        default="klutch",
        pattern=r"^[a-z][a-z0-9-]{0,14}[a-z0-9]$",
        description=(
            "Start of every generated AWS name (bucket, IAM user, DB identifier, KMS alias)."
        ),
    )
    defaultRegion: str = Field(
        default="eu-central-1",
        description="Region of claims that give none (PostgreSQL); one in function/regions.py.",
    )
    defaultTags: dict[str, str] = Field(
        default_factory=lambda: {"managed-by": "klutch"},
        description="Tags on every taggable resource; a claim's tags override them.",
    )
    internalSecretNamespace: str = Field(
        default="crossplane-system",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="Namespace of internal Secrets (access keys, master passwords).",
    )
    postgresql: PostgresqlSettings = Field(default_factory=PostgresqlSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)

    @field_validator("defaultRegion")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in REGIONS:
            raise ValueError(region_error(value))
        return value
