"""The account and environment from the operator's EnvironmentConfig (function/environment.py):
how it arrives (Crossplane's required-resources loop), what a bad or missing one does, two
regions of one account from one package, and that the package ships no environment value."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import environment, fn, postgresql
from function.environment import Environment
from function.settings import Settings
from tests.support import environment as env
from tests.support import schemas
from tests.support.examples import examples_of
from tests.support.responses import (
    desired,
    fatal_messages,
    local_call,
    render_created,
    render_primary_ready,
    warnings,
)
from tools import xfn, xrender
from tools.twin import ControlPlane

ROOT = Path(__file__).resolve().parent.parent
PG = examples_of("XPostgresqlInstance")[0].xr
S3 = examples_of("XObjectStorageInstance")[0].xr


def _with_region(xr: dict, region: str) -> dict:
    out = copy.deepcopy(xr)
    out["spec"].setdefault("config", {})["region"] = region
    return out


def _fp(out: dict, key: str = "instance") -> dict:
    return out[key]["spec"]["forProvider"]


# --- how it arrives -----------------------------------------------------------------------


def test_every_composition_bootstraps_the_environment_the_function_reads():
    """Every Composition's bootstrap requirement names the EnvironmentConfig of its function
    input, under the key the function reads it from (``environment.locate``): the function then
    asks for nothing more about it, and a claim that needs nothing else is answered in one call
    (required_resources.go: proto.Equal of no requirements and the first call's none)."""
    for name, comp in xrender.compositions().items():
        selectors = xrender.bootstrap_selectors(comp)
        assert set(selectors) == {environment.REQUIREMENT} == {xrender.ENVIRONMENT_REQUIREMENT}
        wanted = Settings.model_validate(xrender.function_input(comp)).environmentConfigName
        sel = selectors[environment.REQUIREMENT]
        assert (sel.api_version, sel.kind, sel.match_name) == (
            environment.API_VERSION,
            environment.KIND,
            wanted,
        ), name


def _step(ex, required: dict | None = None, environment_docs=None) -> list:
    """One step of ``ex`` as Crossplane runs it, without the bootstrap requirement unless
    ``environment_docs`` is given (what it found): every call's request and answer."""
    calls: list = []
    req = xrender.build_request(
        ex.xr,
        xrender.function_input(ex.composition),
        ex.observed,
        required,
        environment=environment_docs,
    )
    req.ClearField("meta")
    xfn.run_step(
        local_call,
        req,
        lambda s: xfn.select(s, ex.required),
        on_call=lambda q, r: calls.append((q, r)),
    )
    return calls


def test_without_the_bootstrap_the_function_asks_under_its_own_key_and_the_step_settles():
    """A step whose Composition declares no bootstrap requirement: the first call holds no
    environment, and the function answers only its requirement, under its own key (the desired
    state as it came, no result). Crossplane fetches it and calls again; the function asks for
    it on every later call too, so the requirements settle: each iteration starts again from
    the bootstrap resources alone (required_resources.go), and an answer that stopped asking
    would lose it on the next call."""
    (ex,) = examples_of("XServiceBinding")
    calls = _step(ex)
    (first_req, first), (_, last) = calls[0], calls[-1]
    asked = first.requirements.resources[environment.ASKED]
    assert (asked.kind, asked.match_name) == ("EnvironmentConfig", "klutch-aws")
    assert set(first.requirements.resources) == {environment.ASKED}
    assert first.desired == first_req.desired and not first.results and not first.conditions
    assert [sorted(r.requirements.resources) for _, r in calls[1:]] == [
        sorted([environment.ASKED, "postgresql-instance"])
    ] * 2
    assert not fatal_messages(last) and last.desired.resources
    assert "waiting for EnvironmentConfig" not in " ".join(warnings(last))
    (read,) = [c for c in last.conditions if c.type == environment.CONDITION]
    assert (read.status, read.reason) == (fnv1.STATUS_CONDITION_TRUE, environment.READ_REASON)


def test_a_bootstrap_of_another_environment_config_is_not_taken_for_the_one_named():
    """The Composition bootstraps an EnvironmentConfig, the input names another: the function
    asks for the named one under its own key and renders with it."""
    (ex,) = [e for e in examples_of("XObjectStorageInstance") if "kms" not in e.name]
    other = env.config(env.example_data(), name="another")
    calls = _step(ex, environment_docs=[other])
    assert [sorted(r.requirements.resources) for _, r in calls] == [[environment.ASKED]] * 2
    assert not fatal_messages(calls[-1][1]) and calls[-1][1].desired.resources


def test_a_missing_environment_config_is_a_fatal_naming_it():
    """Concluded from the function's own requirement only: a bootstrap that found nothing may
    have named another EnvironmentConfig."""
    rsp = render_created(PG, required={environment.REQUIREMENT: [], environment.ASKED: []})
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("EnvironmentConfig klutch-aws does not exist")
    other = render_created(PG, {"environmentConfigName": "prod"})
    assert fatal_messages(other)[0].startswith("EnvironmentConfig prod does not exist")


@pytest.mark.parametrize(
    ("data", "field", "detail"),
    [
        ({"defaultRegion": None}, "data.defaultRegion", "data.defaultRegion: Field required"),
        ({"allowedRegions": ["eu-west-1"]}, "data", "defaultRegion 'eu-central-1' must be"),
        ({"defaultRegion": "mars-1"}, "data.defaultRegion", "(got 'mars-1')"),
        (
            {"providerConfigNameTemplate": "aws-{ns}"},
            "data.providerConfigNameTemplate",
            "exactly once",
        ),
        ({"backup": {"serviceRoleArn": "my-role"}}, "data.backup.serviceRoleArn", "'my-role'"),
        (
            {"regions": {"eu-west-1": {"network": {"vpcId": "vpc-00000000000000001"}}}},
            "data.regions.eu-west-1.network",
            "a rendered network needs vpcId",
        ),
        (
            {"limits": {"automatedBackupMaxRetentionDays": 40}},
            "limits.automatedBackup",
            "(got 40.0)",
        ),
    ],
)
def test_a_bad_setting_is_a_fatal_naming_the_environment_config_and_the_field(data, field, detail):
    """Issue 27 item 12: the claim learns which field of which EnvironmentConfig is wrong, never
    its value; the operator gets the whole story in the function's log and as a Warning event on
    the composite resource only (result target Composite, crossplane v2.3.4
    composition_functions.go)."""
    e = env.example_data()
    for key, value in data.items():
        if value is None:
            del e[key]
        else:
            e[key] = value
    rsp = render_created(PG, environment=[env.config(e)])
    (msg,) = fatal_messages(rsp)
    assert msg.startswith("EnvironmentConfig klutch-aws is invalid ("), msg
    assert field in msg, msg
    assert detail not in msg and "got" not in msg, msg
    (told,) = [r for r in rsp.results if r.target == fnv1.TARGET_COMPOSITE]
    assert told.severity == fnv1.SEVERITY_WARNING and detail in told.message, told.message
    assert told.message.startswith("EnvironmentConfig klutch-aws data")


def test_the_operator_reads_what_is_wrong_in_the_functions_log():
    logged = []

    class Log:
        def warning(self, event, **kw):
            logged.append((event, kw))

    e = env.with_data(defaultRegion="mars-1")
    req = xrender.build_request(PG, {}, None, None, environment=[e])
    rsp = fn.run(req, Log())
    assert "mars-1" not in fatal_messages(rsp)[0]
    ((event, kw),) = logged
    assert event == "invalid EnvironmentConfig"
    assert "EnvironmentConfig klutch-aws data.defaultRegion" in kw["problems"]
    assert "mars-1" in kw["problems"]


def test_bad_settings_never_delete_what_a_claim_has():
    """The twin: claims become Ready, then the operator breaks the environment. The fatal
    result stops the pipeline; every composed resource stays, unchanged, until it is fixed."""
    cp = ControlPlane(call=local_call)
    for ex in xrender.examples():
        if ex.xr["kind"] in {"XPostgresqlInstance", "XObjectStorageInstance"}:
            cp.create(ex.xr)
    cp.until_stable()
    before = copy.deepcopy(cp.cluster.objects)
    broken = env.with_data(defaultRegion=None)
    cp.cluster.put(broken)
    cp.round()
    for key, body in before.items():
        if key[1] == "EnvironmentConfig":
            continue
        assert key in cp.cluster.objects, key
        if not key[0].endswith("anynines.com/v1"):  # composed resources: untouched
            assert cp.cluster.objects[key].get("spec") == body.get("spec"), key
            assert cp.cluster.objects[key].get("data") == body.get("data"), key
    for key in cp.xrs():
        synced = {c["type"]: c for c in cp.xr(key)["status"]["conditions"]}["Synced"]
        assert synced["status"] == "False"


# --- two regions of one account, one package ----------------------------------------------


def test_two_regions_render_from_the_environment_alone():
    """The example environment: eu-central-1 names an existing network, eu-west-1 has one
    rendered. Same package, same Composition input; only the EnvironmentConfig says where."""
    data = env.example_data()
    central = data["regions"]["eu-central-1"]["network"]
    west = data["regions"]["eu-west-1"]["network"]
    xr = copy.deepcopy(PG)
    xr["spec"]["plan"] = "cluster-nano"

    a = desired(render_primary_ready(_with_region(xr, "eu-central-1")))
    assert _fp(a)["region"] == "eu-central-1"
    assert _fp(a)["dbSubnetGroupName"] == central["dbSubnetGroupName"]
    assert _fp(a)["vpcSecurityGroupIds"] == central["vpcSecurityGroupIds"]
    assert _fp(a, "replica-1")["vpcSecurityGroupIds"] == central["vpcSecurityGroupIds"]
    assert not {"subnet-group", "security-group"} & set(a)

    b = desired(render_primary_ready(_with_region(xr, "eu-west-1")))
    aws_keys = [k for k in b if ".aws.upbound.io/" in b[k]["apiVersion"]]
    assert {_fp(b, k)["region"] for k in aws_keys} == {"eu-west-1"}
    assert _fp(b)["dbSubnetGroupNameSelector"] == {"matchControllerRef": True}
    assert _fp(b)["vpcSecurityGroupIdSelector"] == {"matchControllerRef": True}
    assert _fp(b, "replica-1")["vpcSecurityGroupIdSelector"] == {"matchControllerRef": True}
    assert "dbSubnetGroupName" not in _fp(b) and "vpcSecurityGroupIds" not in _fp(b)
    assert _fp(b, "subnet-group")["subnetIds"] == west["subnetIds"]
    assert _fp(b, "security-group")["vpcId"] == west["vpcId"]
    rules = [k for k in b if k.startswith("security-group-ingress-")]
    assert {_fp(b, k)["cidrIpv4"] for k in rules} == set(west["allowedCidrs"])
    for k in rules:
        assert (_fp(b, k)["fromPort"], _fp(b, k)["toPort"]) == (5432, 5432)
        assert _fp(b, k)["ipProtocol"] == "tcp"
    for body in b.values():
        assert schemas.errors(body) == [], body["kind"]

    # The operator moves eu-central-1 to a rendered network and a new ProviderConfig: only
    # the EnvironmentConfig changes.
    regions = copy.deepcopy(data["regions"])
    regions["eu-central-1"]["network"] = {
        "vpcId": "vpc-00000000000000002",
        "subnetIds": ["subnet-0000000000000000a", "subnet-0000000000000000b"],
        "allowedCidrs": ["10.30.0.0/16", "fd00::/8"],
    }
    changed = env.with_data(regions=regions, providerConfigName="aws-prod")
    c = desired(render_created(_with_region(xr, "eu-central-1"), environment=[changed]))
    assert _fp(c, "subnet-group")["subnetIds"] == regions["eu-central-1"]["network"]["subnetIds"]
    ingress = [_fp(c, k) for k in c if k.startswith("security-group-ingress-")]
    assert sorted(r.get("cidrIpv4") or r.get("cidrIpv6") for r in ingress) == sorted(
        ["10.30.0.0/16", "fd00::/8"]
    )
    aws = [
        b
        for b in c.values()
        if b["apiVersion"].endswith(".aws.upbound.io/v1beta1")
        or b["apiVersion"].endswith(".aws.upbound.io/v1beta3")
    ]
    assert aws and {b["spec"]["providerConfigRef"]["name"] for b in aws} == {"aws-prod"}


def test_ingress_rules_follow_their_cidr_not_their_position():
    a = postgresql.ingress_key("10.0.0.0/16")
    assert a == postgresql.ingress_key("10.0.0.0/16") != postgresql.ingress_key("10.1.0.0/16")


def test_a_region_the_environment_does_not_cover_is_a_fatal_naming_the_field_and_the_covered():
    (msg,) = fatal_messages(render_created(_with_region(PG, "us-east-1")))
    assert msg.startswith("spec.config.region:")
    assert "eu-central-1" in msg and "eu-west-1" in msg
    # Allowed, but without a PostgreSQL network there.
    e = env.with_data(allowedRegions=["eu-central-1", "eu-west-1", "eu-north-1"])
    (msg,) = fatal_messages(render_created(_with_region(PG, "eu-north-1"), environment=[e]))
    assert msg.startswith("spec.config.region:") and "eu-north-1" in msg
    s3 = copy.deepcopy(S3)
    s3["spec"]["region"] = "us-east-1"
    (msg,) = fatal_messages(render_created(s3))
    assert msg.startswith("spec.region:") and "eu-west-1" in msg


def test_the_automated_backup_retention_limit():
    e = env.with_data(limits={"automatedBackupMaxRetentionDays": 7})
    xr = copy.deepcopy(PG)
    xr["spec"].setdefault("config", {})["backup"] = {"retentionDays": 8}
    (msg,) = fatal_messages(render_created(xr, environment=[e]))
    assert msg.startswith("spec.config.backup.retentionDays:") and "7" in msg


def test_per_namespace_provider_configs():
    e = env.with_data(providerConfigNameTemplate="aws-{namespace}")
    out = desired(render_created(PG, environment=[e]))
    ns = PG["metadata"]["labels"]["crossplane.io/claim-namespace"]
    refs = {
        b["spec"]["providerConfigRef"]["name"]
        for b in out.values()
        if ".aws.upbound.io/" in b["apiVersion"]
    }
    assert refs == {f"aws-{ns}"}
    model = Environment.model_validate(e["data"])
    assert model.provider_config_name("team-a") == "aws-team-a"
    for bad in ("aws", "aws-{namespace}-{namespace}", "AWS-{namespace}", "{namespace}{x}"):
        assert environment.template_error(bad), bad


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        # issue 27 item 7: namespace "default" would get the operator's ProviderConfig
        ({"providerConfigNameTemplate": "{namespace}"}, "constant part"),
        # namespace "prod" would get providerConfigName
        (
            {"providerConfigNameTemplate": "aws-{namespace}", "providerConfigName": "aws-prod"},
            "'prod'",
        ),
        # ... or one the operator reserves
        (
            {
                "providerConfigNameTemplate": "{namespace}-aws",
                "reservedProviderConfigNames": ["ops-aws"],
            },
            "'ops'",
        ),
    ],
)
def test_a_template_that_can_give_a_tenant_an_operators_provider_config_is_refused(
    changes, problem
):
    data = {**env.example_data(), **changes}
    with pytest.raises(ValueError, match="providerConfigNameTemplate") as err:
        Environment.model_validate(data)
    assert problem in str(err.value)
    (msg,) = fatal_messages(render_created(PG, environment=[env.config(data)]))
    assert msg.startswith("EnvironmentConfig klutch-aws"), msg
    assert "providerConfigNameTemplate" in msg


def test_templates_with_a_constant_part_that_gives_no_reserved_name_are_accepted():
    data = {
        **env.example_data(),
        "providerConfigName": "aws-operator",
        "reservedProviderConfigNames": ["aws-x", "billing"],
    }
    for template in ("aws-{namespace}-t", "{namespace}-aws", "tenant.{namespace}"):
        model = Environment.model_validate({**data, "providerConfigNameTemplate": template})
        assert model.provider_config_name("default") == template.replace("{namespace}", "default")
    # a reserved name no namespace can give: "aws--x" has an empty namespace part
    assert environment.namespace_giving("aws-", "", "aws-") is None
    assert environment.namespace_giving("aws-", "", "aws--x") is None
    assert environment.namespace_giving("aws-", "", "aws-" + "n" * 64) is None
    assert environment.namespace_giving("aws-", "", "aws-team-a") == "team-a"


def test_allowed_kms_keys():
    e = Environment.model_validate(
        {
            **env.example_data(),
            "kms": {
                "allowedAccounts": ["000000000000"],
                "allowedKeyArnPatterns": ["arn:aws:kms:eu-*:000000000000:key/*"],
            },
        }
    )
    key = "arn:aws:kms:eu-west-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert e.kms_key_allowed(key)
    assert not e.kms_key_allowed(key.replace("eu-west-1", "us-east-1"))
    assert not e.kms_key_allowed(key.replace("000000000000", "111111111111"))
    assert e.allowed_kms_keys().allowedAccounts == ["000000000000"]


def test_settings_that_moved_say_where():
    with pytest.raises(ValueError, match="moved to the EnvironmentConfig"):
        Settings.model_validate({"providerConfigName": "default"})
    (msg,) = fatal_messages(render_created(PG, {"postgresql": {"dbSubnetGroupName": "x"}}))
    assert "postgresql.dbSubnetGroupName" in msg and "EnvironmentConfig" in msg


# --- nothing account-specific ships -------------------------------------------------------

ACCOUNT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
RESOURCE_ID = re.compile(r"\b(?:sg|subnet|vpc)-[0-9a-f]{8,17}\b")
ARN_WITH_ACCOUNT = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:")
# The documented example account: AWS never assigns it (account IDs of examples in docs).
EXAMPLE_ACCOUNT = "000000000000"


STATE_FILES = {"required.yaml", "observed.yaml"}


def _shipped() -> list[Path]:
    """Every file of both packages, the function's code (its defaults), and the examples a
    user applies (claims and XRs), except the examples' EnvironmentConfig."""
    files = [
        *(ROOT / "compositions").rglob("*.yaml"),
        *(ROOT / "xrds").rglob("*.yaml"),
        *(ROOT / "package").rglob("*.yaml"),
        *(p for p in (ROOT / "function").glob("*.py") if p.name != "regions.py"),
    ]
    for path in (ROOT / "examples").rglob("*.yaml"):
        # required.yaml / observed.yaml model what the cluster reports to a render (a
        # provider's status, with moto's account as tools/providers.py), never applied.
        if path != xrender.ENVIRONMENT_CONFIG and path.name not in STATE_FILES:
            files.append(path)
    return sorted(files)


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_environment_value_ships(path):
    text = path.read_text()
    assert not RESOURCE_ID.findall(text), path
    in_package = not str(path.relative_to(ROOT)).startswith("examples/")
    accounts = set(ACCOUNT.findall(text)) | {
        m.rsplit(":", 2)[-2] for m in ARN_WITH_ACCOUNT.findall(text)
    }
    # The package: no account at all. The examples: only the documented example account.
    assert accounts <= (set() if in_package else {EXAMPLE_ACCOUNT}), (path, accounts)


def test_the_scan_finds_what_it_looks_for():
    assert RESOURCE_ID.findall("vpcSecurityGroupIds: [sg-0123456789abcdef0]")
    assert ACCOUNT.findall("arn:aws:iam::123456789012:role/x")
    assert not ACCOUNT.findall("db-ABC1234567890123")


def test_the_example_environment_config_is_valid_and_covers_two_regions():
    (doc,) = xrender.environment_configs()
    assert schemas.errors(doc) == []
    e = Environment.model_validate(doc["data"])
    assert e.postgresql_regions() == ["eu-central-1", "eu-west-1"]
    assert not e.regions["eu-central-1"].network.rendered
    assert e.regions["eu-west-1"].network.rendered
    assert fnv1  # the protocol module is the one the twin speaks
