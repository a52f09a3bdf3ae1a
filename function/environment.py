"""The account and environment: read at run time from an EnvironmentConfig.

The function's input (``function/settings.py``) says what is true of the product everywhere.
Everything that belongs to one AWS account and one installation comes from the ``data`` of an
``EnvironmentConfig`` (``apiextensions.crossplane.io/v1beta1``, cluster-scoped) named by
``input.environmentConfigName`` (default ``klutch-aws``). The operator changes it with kubectl;
no package is rebuilt.

How it arrives (``locate``): the Compositions declare it in their step's
``requirements.requiredResources`` under ``REQUIREMENT``, so Crossplane fetches it before the
first call and keeps it in the request on every call of the step (crossplane v2.3.4
``internal/xfn/required_resources.go``, ``FetchingFunctionRunner.RunFunction``: each iteration
starts again from these "bootstrap" resources). The function then asks for nothing, and a
claim that needs nothing else is answered in one call (the loop stops when the answer's
requirements equal the previous ones, and the first call's previous ones are none).

A Composition without that bootstrap requirement (or one naming another EnvironmentConfig, or
one that is not found) still works: the function asks for it itself, under its own key
``ASKED``, and goes on asking for it on every call, so the requirements settle: a requirement
missing from an answer is no longer fetched (each iteration starts from the bootstrap
resources alone), and asking under the bootstrap key would make the answers alternate between
asking and not asking until Crossplane gives up. ``read`` tells the cases apart:

- resolved but empty: ``ExistingRequiredResourcesFetcher.Fetch`` returns nothing for a name
  that is not found, so the EnvironmentConfig does not exist: a fatal naming it;
- resolved: ``data`` validated as ``Environment``; a bad or missing setting is a fatal naming
  the EnvironmentConfig and the field.

Until it is in the request the function answers only its requirements (``fn.py``): Crossplane
throws that answer away and calls again with it.

A fatal result stops the pipeline before anything is applied (``PipelineFatalError``), so bad
settings never delete or change a claim's existing resources.

The operator guide's EnvironmentConfig table is generated from these models
(``tools/gen_input_crd.py``, ``make generate``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from function.answer import (
    Condition,
    InputError,
    Rendered,
    Requirement,
    Result,
    Severity,
    describe,
)
from function.regions import REGIONS, region_error

API_VERSION: Final = "apiextensions.crossplane.io/v1beta1"
KIND: Final = "EnvironmentConfig"
# The ``requirementName`` of every Composition step's bootstrap requirement: the key of
# ``required_resources`` Crossplane fills before the first call.
REQUIREMENT: Final = "klutch-environment"
# The key the function asks for it under, when the bootstrap did not bring it (``locate``).
ASKED: Final = "klutch-environment-asked"
DEFAULT_NAME: Final = "klutch-aws"

CONDITION: Final = "EnvironmentReady"
WAITING_REASON: Final = "WaitingForEnvironment"
READ_REASON: Final = "Available"
NAMESPACE_PLACEHOLDER: Final = "{namespace}"


Schedule = Literal["hourly", "daily", "cron"]


class _Strict(BaseModel):
    """A frozen model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_region(value: str) -> str:
    if value not in REGIONS:
        raise ValueError(region_error(value))
    return value


def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise ValueError(f"not a CIDR block such as 10.0.0.0/16: {err}") from None
    return str(net)


Region = Annotated[str, AfterValidator(_known_region)]
Cidr = Annotated[str, AfterValidator(_cidr)]
SubnetId = Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]
SecurityGroupId = Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]
VpcId = Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
AccountId = Annotated[str, Field(pattern=r"^[0-9]{12}$")]
K8sName = Annotated[
    str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
IAM_ROLE_ARN = r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$"
# A namespace name: an RFC 1123 DNS label (kubernetes/apimachinery
# ``pkg/api/validation/generic.go``: ``ValidateNamespaceName = NameIsDNSLabel``;
# ``pkg/util/validation/validation.go``: ``dns1123LabelFmt``, ``DNS1123LabelMaxLength = 63``).
NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
NAMESPACE_MAX = 63
# A longest namespace: what a template is checked with.
_LONGEST_NAMESPACE = "n" * NAMESPACE_MAX


class Network(_Strict):
    """Where a region's instances go: an existing DB subnet group and security groups, or
    subnets and client CIDRs from which the function renders both (one per instance)."""

    dbSubnetGroupName: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description=(
            "An existing RDS DB subnet group in this region. Give it with vpcSecurityGroupIds,"
            " or give vpcId, subnetIds and allowedCidrs instead."
        ),
    )
    vpcSecurityGroupIds: list[SecurityGroupId] = Field(
        default_factory=list,
        description="Existing security groups (sg-...) of every instance; with dbSubnetGroupName.",
    )
    vpcId: VpcId | None = Field(
        default=None,
        description="The VPC (vpc-...) of subnetIds: the rendered security group is created in it.",
    )
    subnetIds: list[SubnetId] = Field(
        default_factory=list,
        description=(
            "Subnets (subnet-...) in at least two availability zones of vpcId: each instance"
            " gets a DB subnet group of them."
        ),
    )
    allowedCidrs: list[Cidr] = Field(
        default_factory=list,
        description=(
            "CIDR blocks (IPv4 or IPv6) allowed to connect: each instance gets a security"
            " group admitting TCP 5432 from each of them."
        ),
    )

    @model_validator(mode="after")
    def _one_way(self) -> Network:
        existing = self.dbSubnetGroupName is not None or bool(self.vpcSecurityGroupIds)
        rendered = self.vpcId is not None or bool(self.subnetIds) or bool(self.allowedCidrs)
        if existing and rendered:
            raise ValueError(
                "give either dbSubnetGroupName and vpcSecurityGroupIds (an existing network)"
                " or vpcId, subnetIds and allowedCidrs (rendered), not both"
            )
        if existing and (self.dbSubnetGroupName is None or not self.vpcSecurityGroupIds):
            raise ValueError("an existing network needs dbSubnetGroupName and vpcSecurityGroupIds")
        if not existing and (
            self.vpcId is None or len(self.subnetIds) < 2 or not self.allowedCidrs
        ):
            raise ValueError(
                "a rendered network needs vpcId, at least two subnetIds (RDS: two availability"
                " zones) and at least one of allowedCidrs"
            )
        if len(set(self.subnetIds)) != len(self.subnetIds):
            raise ValueError("subnetIds must not repeat")
        if len(set(self.allowedCidrs)) != len(self.allowedCidrs):
            raise ValueError("allowedCidrs must not repeat")
        return self

    @property
    def rendered(self) -> bool:
        """True when the function renders the subnet group and security group."""
        return self.dbSubnetGroupName is None


class RegionSettings(_Strict):
    """What a region offers PostgreSQL: its network, and a public one if public databases are
    allowed there."""

    network: Network | None = Field(
        default=None,
        description=(
            "Network of the region's private instances; without it PostgresqlInstance claims"
            " cannot use this region."
        ),
    )
    publicNetwork: Network | None = Field(
        default=None,
        description=(
            "Network of publicly accessible instances (public subnets); without it a claim's"
            " config.publiclyAccessible: true is refused in this region."
        ),
    )


class BackupEnvironment(_Strict):
    """AWS Backup (ScheduledBackup)."""

    serviceRoleArn: str | None = Field(
        default=None,
        pattern=IAM_ROLE_ARN,
        description=(
            "IAM role AWS Backup assumes for scheduled backups. Without it each ScheduledBackup"
            " renders its own role (trusting backup.amazonaws.com, with AWS's managed policies"
            " AWSBackupServiceRolePolicyForBackup and AWSBackupServiceRolePolicyForRestores)."
        ),
    )


class KmsEnvironment(_Strict):
    """Existing customer-managed KMS keys claims may name (``encryption.key.existing``)."""

    allowedAccounts: list[AccountId] = Field(
        default_factory=list,
        description="AWS accounts (12 digits) whose keys claims may name.",
    )
    allowedKeyArnPatterns: list[str] = Field(
        default_factory=list,
        description=(
            "Shell-style patterns (* and ?) a named key's ARN must match, e.g."
            " arn:aws:kms:eu-central-1:*:key/*; empty: any key of allowedAccounts."
        ),
    )


class Limits(_Strict):
    """Limits on what claims may ask for."""

    automatedBackupMaxRetentionDays: int = Field(
        default=35,
        ge=1,
        le=35,
        description="Most days a PostgresqlInstance's config.backup.retentionDays may be.",
    )
    scheduledBackupMaxRetentionDays: int = Field(
        default=365,
        ge=1,
        le=36500,
        description="Most days a ScheduledBackup's retentionDays may be.",
    )
    allowedSchedules: list[Schedule] = Field(
        default_factory=lambda: list(get_args(Schedule)),
        min_length=1,
        description=(
            "Schedules a ScheduledBackup may use: hourly, daily, and cron for any AWS cron"
            " expression (AWS Backup runs a plan at most hourly)."
        ),
    )
    maxManualBackupsPerInstance: int = Field(
        default=20,
        ge=1,
        le=100,
        description=(
            "Most Backup claims (manual snapshots) per PostgresqlInstance; RDS allows 100"
            " manual snapshots per region and account. A new Backup beyond it is refused;"
            " snapshots already taken are never touched. Counts the retained snapshots of"
            " deleted Backup claims too."
        ),
    )
    maxManualBackupsPerNamespace: int = Field(
        default=50,
        ge=1,
        le=100,
        description=(
            "Most manual snapshots one namespace keeps: its Backup claims and the retained"
            " snapshots of deleted ones (deletionPolicy Retain), of all its instances. A new"
            " Backup beyond it is refused."
        ),
    )


class Environment(_Strict):
    """The account and environment: the ``data`` of the operator's EnvironmentConfig."""

    providerConfigName: K8sName = Field(
        default="default",
        description=(
            "The provider-upjet-aws ProviderConfig every AWS managed resource uses (the"
            " providers' default is named default)."
        ),
    )
    reservedProviderConfigNames: list[K8sName] = Field(
        default_factory=list,
        description=(
            "ProviderConfigs no tenant namespace may get from providerConfigNameTemplate"
            " (besides providerConfigName, which is always reserved): your other"
            " ProviderConfigs, e.g. those of other accounts."
        ),
    )
    providerConfigNameTemplate: str | None = Field(
        default=None,
        description=(
            "Per-namespace ProviderConfigs: a name with {namespace}, e.g. aws-{namespace}. When"
            " set, the managed resources of a claim use the ProviderConfig of the claim's"
            " namespace instead of providerConfigName. It needs a constant part besides"
            " {namespace}, and no namespace may get providerConfigName or one of"
            " reservedProviderConfigNames from it."
        ),
    )
    defaultRegion: Region = Field(
        description="Region of PostgresqlInstance claims that name none; one of allowedRegions."
    )
    allowedRegions: list[Region] = Field(
        min_length=1, description="Regions claims may use (spec.region, spec.config.region)."
    )
    regions: dict[Region, RegionSettings] = Field(
        default_factory=dict,
        description=(
            "Region -> its PostgreSQL network. New PostgresqlInstance claims may use the"
            " allowedRegions listed here with a network; existing instances keep working in a"
            " region listed here that is no longer allowed."
        ),
    )
    backup: BackupEnvironment = Field(default_factory=BackupEnvironment)
    kms: KmsEnvironment = Field(default_factory=KmsEnvironment)
    limits: Limits = Field(default_factory=Limits)

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        if len(set(self.allowedRegions)) != len(self.allowedRegions):
            raise ValueError("allowedRegions must not repeat")
        if self.defaultRegion not in self.allowedRegions:
            raise ValueError(f"defaultRegion {self.defaultRegion!r} must be one of allowedRegions")
        return self

    @field_validator("providerConfigNameTemplate")
    @classmethod
    def _template(cls, template: str | None, info: ValidationInfo) -> str | None:
        # A field validator, so an error names the field; the names it must never give were
        # validated before it (declared above it).
        if template is not None:
            reserved = (
                info.data.get("providerConfigName", ""),
                *info.data.get("reservedProviderConfigNames", ()),
            )
            problem = template_error(template, reserved)
            if problem:
                raise ValueError(problem)
        return template

    @property
    def per_namespace_provider_configs(self) -> bool:
        """True when every claim's managed resources use its namespace's ProviderConfig
        (``providerConfigNameTemplate``): then AWS IAM, not the function, decides which raw
        AWS sources (snapshot ARNs, DB identifiers) a namespace may restore."""
        return self.providerConfigNameTemplate is not None

    def provider_config_name(self, namespace: str | None) -> str:
        """The provider-upjet-aws ProviderConfig of a claim in ``namespace``: the template's
        name for that namespace when one is set, else ``providerConfigName``."""
        template = self.providerConfigNameTemplate
        if template is None:
            return self.providerConfigName
        if not namespace:
            raise InputError(
                "providerConfigNameTemplate is set in the EnvironmentConfig, but this composite"
                " resource has no claim namespace; create it through its namespaced claim"
            )
        return template.replace(NAMESPACE_PLACEHOLDER, namespace)

    def check_region(self, region: str, field: str) -> str:
        """``region`` if claims may use it, else InputError naming ``field`` and the allowed."""
        if region not in self.allowedRegions:
            raise InputError(
                f"{field}: region {region!r} is not offered here; allowed regions: "
                + ", ".join(self.allowedRegions)
            )
        return region

    def postgresql_regions(self) -> list[str]:
        """The allowed regions with a PostgreSQL network."""
        return [r for r in self.allowedRegions if r in self.regions and self.regions[r].network]

    def network(self, region: str, public: bool, field: str, *, exists: bool = False) -> Network:
        """The network of a PostgreSQL instance in ``region`` (the public one when ``public``),
        or InputError naming ``field`` (the claim's region field) and what is covered. An
        instance that ``exists`` may stay in a region no longer allowed that has a network."""
        covered = self.postgresql_regions()
        settings = self.regions.get(region)
        allowed = exists or region in self.allowedRegions
        if not allowed or settings is None or settings.network is None:
            raise InputError(
                f"{field}: region {region!r} is not covered for PostgreSQL by this environment;"
                f" covered regions: {', '.join(covered) or 'none'}"
            )
        if not public:
            return settings.network
        if settings.publicNetwork is None:
            offered = [r for r in covered if self.regions[r].publicNetwork is not None]
            raise InputError(
                "spec.config.publiclyAccessible: the platform does not allow publicly accessible"
                f" databases in region {region!r}; allowed values: false"
                + (f" (public databases are offered in: {', '.join(offered)})" if offered else "")
            )
        return settings.publicNetwork

    def allowed_kms_keys(self) -> KmsEnvironment:
        """The existing KMS keys claims may name (accounts and ARN patterns)."""
        return self.kms

    def check_kms_key(self, arn: str, region: str, field: str) -> str:
        """``arn`` if a claim in ``region`` may encrypt with this existing key, else InputError
        naming ``field`` and why: the key is in another region (a KMS key encrypts only in its
        own region), or the operator does not allow it (``kms``: its account, its patterns).
        Empty ``kms.allowedAccounts`` (the default) allows no existing key at all."""
        parts = arn.split(":")
        key_region = parts[3] if len(parts) > 3 else ""
        if key_region != region:
            raise InputError(
                f"{field}: the key is in region {key_region!r}, but this claim's region is"
                f" {region!r}; a KMS key encrypts only in its own region"
            )
        if self.kms_key_allowed(arn):
            return arn
        kms = self.kms
        if not kms.allowedAccounts:
            why = "this platform allows no existing KMS keys (kms.allowedAccounts is empty)"
        elif len(parts) < 6 or parts[4] not in kms.allowedAccounts:
            # Never the allowed accounts: operator configuration stays with the operator.
            why = "its account is not one whose keys claims may name on this platform"
        else:
            why = "it matches none of the key ARN patterns the platform allows"
        raise InputError(
            f"{field}: the key is not allowed: {why}; use encryption.key.managed, or ask the"
            " operator to allow the key in the EnvironmentConfig's kms settings"
        )

    def kms_key_allowed(self, arn: str) -> bool:
        """True when the key ARN is in an allowed account and matches an allowed pattern (any
        when no pattern is given). Nothing is allowed when no account is."""
        parts = arn.split(":")
        if len(parts) < 6 or parts[4] not in self.kms.allowedAccounts:
            return False
        patterns = self.kms.allowedKeyArnPatterns
        return not patterns or any(fnmatchcase(arn, p) for p in patterns)


def template_error(template: str, reserved: tuple[str, ...] = ()) -> str:
    """Why ``template`` is no ProviderConfig name template, or "" when it is one.

    A template hands each tenant namespace its ProviderConfig, so it must never hand one the
    operator's own (``reserved``: ``providerConfigName`` and ``reservedProviderConfigNames``).
    ``{namespace}`` alone would give namespace ``default`` the ProviderConfig ``default``:
    a constant part is required, and no namespace may turn it into a reserved name.
    """
    if template.count(NAMESPACE_PLACEHOLDER) != 1:
        return f"must contain {NAMESPACE_PLACEHOLDER} exactly once, e.g. aws-{{namespace}}"
    prefix, suffix = template.split(NAMESPACE_PLACEHOLDER)
    if "{" in prefix + suffix or "}" in prefix + suffix:
        return f"only {NAMESPACE_PLACEHOLDER} may be in braces"
    if not prefix and not suffix:
        return (
            f"needs a constant part besides {NAMESPACE_PLACEHOLDER}, e.g. aws-{{namespace}}:"
            " alone it gives a namespace named like one of your ProviderConfigs that one"
        )
    for namespace in ("a", _LONGEST_NAMESPACE):
        name = template.replace(NAMESPACE_PLACEHOLDER, namespace)
        if len(name) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
            return (
                "must give a Kubernetes object name (lowercase letters, digits, '-' and '.', at"
                f" most 253 characters) for every namespace, e.g. aws-{{namespace}}; got {name!r}"
            )
    for name in reserved:
        giving = namespace_giving(prefix, suffix, name)
        if giving is not None:
            return (
                f"gives namespace {giving!r} the ProviderConfig {name!r}, which is"
                " providerConfigName or one of reservedProviderConfigNames; choose a constant"
                " part no reserved name has"
            )
    return ""


def namespace_giving(prefix: str, suffix: str, name: str) -> str | None:
    """The namespace whose ProviderConfig ``prefix + namespace + suffix`` is ``name``, or
    None when no valid namespace name gives it."""
    if len(name) <= len(prefix) + len(suffix):
        return None
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    namespace = name[len(prefix) : len(name) - len(suffix)]
    if len(namespace) > NAMESPACE_MAX or not NAMESPACE_NAME.fullmatch(namespace):
        return None
    return namespace


def requirement(name: str) -> Requirement:
    """The EnvironmentConfig ``name``, by name (it is cluster-scoped)."""
    return Requirement(api_version=API_VERSION, kind=KIND, match_name=name)


def where(name: str) -> str:
    """How messages name the EnvironmentConfig: ``EnvironmentConfig klutch-aws``."""
    return f"{KIND} {name}"


def locate(required: Mapping[str, list[dict[str, Any]]], name: str) -> str | None:
    """The key of ``required`` that holds the EnvironmentConfig ``name``, or None while the
    request does not hold it (the function then asks for it under ``ASKED``).

    ``ASKED`` when the function asked for it (it keeps asking: ``requirements``); else the
    bootstrap requirement's key when that brought the one named ``name``. A bootstrap that
    found nothing or another EnvironmentConfig is not taken for it: the function asks itself,
    and concludes that ``name`` does not exist only from its own requirement."""
    if ASKED in required:
        return ASKED
    items = required.get(REQUIREMENT) or []
    if len(items) == 1 and requirement(name).selects(items[0]):
        return REQUIREMENT
    return None


def requirements(name: str, key: str | None) -> dict[str, Requirement]:
    """What the function asks for about the EnvironmentConfig ``name`` found under ``key``
    (``locate``): nothing when the bootstrap brought it, else ``ASKED``, on every call."""
    return {} if key == REQUIREMENT else {ASKED: requirement(name)}


def read(
    required: Mapping[str, list[dict[str, Any]]], name: str, key: str = REQUIREMENT
) -> Environment | None:
    """The environment from the required resources (under ``key``); None while Crossplane has
    not resolved the requirement yet, or what arrived is not the EnvironmentConfig ``name``;
    InputError when it does not exist or is invalid."""
    if key not in required:
        return None
    items = required[key]
    if not all(requirement(name).selects(item) for item in items) or len(items) > 1:
        # Not what was asked (another name or kind, or more than one): wait, never render
        # from it (issue 27 item 10). Crossplane sends exactly the one asked for.
        return None
    if not items:
        raise InputError(
            f"{where(name)} does not exist: create it (docs/operator-guide.md, 'The"
            f" environment'), or name another one in the function input's environmentConfigName"
        )
    data = items[0].get("data")
    if not isinstance(data, Mapping):
        raise InputError(f"{where(name)} data: required, the environment's settings")
    try:
        return Environment.model_validate(data)
    except ValidationError as err:
        raise InvalidEnvironmentError(name, err) from None


class InvalidEnvironmentError(InputError):
    """The EnvironmentConfig is invalid. ``str()`` is what every claim shows: which fields,
    never their values (operator configuration is not the tenants' business); ``detail`` is
    the whole story for the operator (the function's log, an event on the composite
    resource only)."""

    def __init__(self, name: str, err: ValidationError) -> None:
        root = f"{where(name)} data"
        self.detail = describe(err, root)
        super().__init__(
            f"{where(name)} is invalid ({', '.join(invalid_fields(err))}): the"
            " platform operator has been told what is wrong; this claim is rendered again"
            " once it is fixed, and nothing it has is changed meanwhile"
        )


def invalid_fields(err: ValidationError) -> list[str]:
    """The fields a validation error is about (``data.regions.eu-west-1.network``), each
    once, in order; no value."""
    out: list[str] = []
    for e in err.errors(include_url=False):
        field = ".".join(["data", *(str(p) for p in e["loc"])])
        if field not in out:
            out.append(field)
    return out


def mismatch(name: str, out: Rendered) -> Rendered:
    """The answer when what arrived for the EnvironmentConfig is not the one asked for
    (``read`` gave None: issue 27 item 10): ask for it, say so, keep everything as it is."""
    what = f"waiting for {where(name)}: what arrived under its requirement is not it"
    out.requirements[ASKED] = requirement(name)
    out.results.append(Result(Severity.WARNING, what, WAITING_REASON))
    out.conditions.append(Condition(CONDITION, False, WAITING_REASON, what))
    out.keep_desired = True
    out.waiting = True
    return out


def ready(name: str, key: str, out: Rendered) -> None:
    """Say the EnvironmentConfig was read (``EnvironmentReady=True``) and ask for it as
    ``requirements`` says (found under ``key``)."""
    out.requirements.update(requirements(name, key))
    out.conditions.append(Condition(CONDITION, True, READ_REASON, f"{where(name)} read"))
