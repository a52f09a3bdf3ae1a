"""The AWS side of each kind: what Terraform's resource does (observe, create, update, delete),
as boto3 calls against moto, plus the few operations moto lacks, emulated here.

Each handler follows hashicorp/terraform-provider-aws ``internal/service/<svc>/<resource>.go``
(``resource<Name>Create/Read/Update/Delete``) in the calls it makes and the identifier it
sets (``d.SetId``), which upjet turns into the external name (``config/externalname.go``).

Emulated (moto 5.2.5 has no such operation; see ``__init__`` for the list):
- AWS Backup selections (Create/Get/DeleteBackupSelection): kept in this process;
- UpdateBackupPlan: the new rules are kept in this process over what moto stored;
- S3 GetBucketRequestPayment: Terraform's bucket Read calls it; ``requestPayer`` is reported as
  ``BucketOwner`` (the default) without a call;
- the size check of ModifyDBInstance after a restore (RDS refuses a size below the snapshot's;
  moto accepts any);
- the rds Instance's DbiResourceId (moto gives every instance the same one);
- AWS Backup vaults and plans altogether (``LocalBackup``) when moto refuses signed AWS
  Backup reads, as it does with IAM enforcement on.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .model import Observation, dig, external_name, for_provider, parameters

log = logging.getLogger("fakeaws.aws")
_CLIENT_LOCK = threading.Lock()  # AWS.moto_client


class AWSError(Exception):
    """An error AWS (or the SDK) returned: the reconciler reports it as ReconcileError."""


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _missing(err: Exception, *codes: str) -> bool:
    if isinstance(err, _NotFoundError):
        return True
    assert isinstance(err, ClientError)
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(err) in codes or (status == 404 and not codes)


def _tags_kv(tags: dict | None) -> list[dict[str, str]]:
    return [{"Key": str(k), "Value": str(v)} for k, v in sorted((tags or {}).items())]


def _unique(prefix: str) -> str:
    """Terraform's ``id.PrefixedUniqueId(prefix)``: the prefix, a timestamp and a counter."""
    return f"{prefix}{time.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(4)}"


AWS_MANAGED_PROBE = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"


@dataclass
class Context:
    """What a handler needs besides the MR: secrets it may read, PostgreSQL servers."""

    secret: Callable[[dict | None], str | None]  # a SecretKeySelector's value
    postgres: Any  # postgres.Servers or None


@dataclass
class AWS:
    endpoint: str | None
    verify: str | None = None  # CA file of moto's serving cert (boto3's verify)
    account: str = ""
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Emulated state (moto lacks the operations)
    selections: dict[str, dict[str, Any]] = field(default_factory=dict)
    plan_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_key_secrets: dict[str, str] = field(default_factory=dict)
    snapshot_passwords: dict[str, str] = field(default_factory=dict)
    master_passwords: dict[str, str] = field(default_factory=dict)
    credentials: tuple[str, str] = ("testing", "testing")
    backup_local: bool = False
    _local_backup: dict[str, LocalBackup] = field(default_factory=dict)

    def bootstrap(self, user: str = "fakeaws-provider") -> None:
        """The provider's own IAM identity in moto: a user allowed everything and its access
        key, used for every later call. With ``INITIAL_NO_AUTH_ACTION_COUNT`` set, moto checks
        every request after the first N against IAM (moto core/responses.py
        ``ActionAuthenticatorMixin``): these first calls must come before that."""
        iam = self.client("iam", None)
        try:
            iam.create_user(UserName=user)
        except ClientError as err:
            if _code(err) != "EntityAlreadyExists":
                raise
            for k in iam.list_access_keys(UserName=user).get("AccessKeyMetadata", []):
                iam.delete_access_key(UserName=user, AccessKeyId=k["AccessKeyId"])
        iam.put_user_policy(
            UserName=user,
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.credentials = (key["AccessKeyId"], key["SecretAccessKey"])
        self._clients.clear()
        try:
            self.client("iam", None).get_policy(PolicyArn=AWS_MANAGED_PROBE)
        except ClientError as err:
            if _code(err) == "NoSuchEntity":
                log.warning(
                    "moto has no AWS-managed policies (start it with "
                    "MOTO_IAM_LOAD_MANAGED_POLICIES=true): attaching %s will fail",
                    AWS_MANAGED_PROBE,
                )

    def client(self, service: str, region: str | None) -> Any:
        region = region or "us-east-1"
        if service == "backup" and self.backup_local:
            if region not in self._local_backup:
                self._local_backup[region] = LocalBackup(region, self.account_id())
            return self._local_backup[region]
        if service == "backup":
            return _BackupSwitch(self, region)
        return self.moto_client(service, region)

    def moto_client(self, service: str, region: str) -> Any:
        key = (service, region)
        client = self._clients.get(key)
        if client is not None:
            return client
        # boto3's default session is not safe to make clients from in two threads at once
        # (the controller's --workers); a made client is (boto3 docs, "Multithreading").
        with _CLIENT_LOCK:
            if key not in self._clients:
                self._clients[key] = boto3.client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint,
                    verify=self.verify,
                    aws_access_key_id=self.credentials[0],
                    aws_secret_access_key=self.credentials[1],
                    config=Config(
                        retries={"max_attempts": 2, "mode": "standard"},
                        s3={"addressing_style": "path"},
                        connect_timeout=5,
                        read_timeout=30,
                    ),
                )
        return self._clients[key]

    def account_id(self) -> str:
        if not self.account:
            self.account = self.client("sts", None).get_caller_identity()["Account"]
        return self.account


class _BackupSwitch:
    """moto's AWS Backup client until moto refuses a signed call (SignatureDoesNotMatch, with
    IAM enforcement on); then ``LocalBackup`` for good (what was made in moto before is not
    seen any more: with enforcement on from the start, nothing was)."""

    def __init__(self, aws: AWS, region: str) -> None:
        self.aws = aws
        self.region = region

    def __getattr__(self, op: str) -> Any:
        def call(**kw: Any) -> Any:
            if not self.aws.backup_local:
                try:
                    return getattr(self.aws.moto_client("backup", self.region), op)(**kw)
                except ClientError as err:
                    if _code(err) not in ("SignatureDoesNotMatch", "403"):
                        raise
                    log.warning(
                        "moto refuses signed AWS Backup calls (%s on %s): AWS Backup is "
                        "emulated here from now on",
                        _code(err),
                        op,
                    )
                    self.aws.backup_local = True
            return getattr(self.aws.client("backup", self.region), op)(**kw)

        return call


class LocalBackup:
    """AWS Backup vaults and plans in this process, for when moto cannot serve them: with IAM
    enforcement on (``INITIAL_NO_AUTH_ACTION_COUNT``) moto 5.2.5 refuses every signed AWS
    Backup GET and DELETE with SignatureDoesNotMatch (its moto/iam/access_control.py re-signs
    the request with ``data=self._body or self._data``, the parsed parameters, not the empty
    payload the client signed). The same calls and answers as the boto3 client, errors as
    AWS's (ResourceNotFoundException, AlreadyExistsException)."""

    def __init__(self, region: str, account: str) -> None:
        self.region = region
        self.account = account
        self.vaults: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, dict[str, Any]] = {}

    def _arn(self, what: str) -> str:
        return f"arn:aws:backup:{self.region}:{self.account}:{what}"

    @staticmethod
    def _error(code: str, message: str, op: str) -> ClientError:
        return ClientError(
            {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            op,
        )

    def list_backup_vaults(self) -> dict[str, Any]:
        return {"BackupVaultList": list(self.vaults.values())}

    def create_backup_vault(self, BackupVaultName: str, **kw: Any) -> dict[str, Any]:  # noqa: N803
        if BackupVaultName in self.vaults:
            raise self._error("AlreadyExistsException", "already exists", "CreateBackupVault")
        v = {
            "BackupVaultName": BackupVaultName,
            "BackupVaultArn": self._arn(f"backup-vault:{BackupVaultName}"),
            "NumberOfRecoveryPoints": 0,
            "EncryptionKeyArn": kw.get("EncryptionKeyArn"),
        }
        self.vaults[BackupVaultName] = v
        return dict(v)

    def describe_backup_vault(self, BackupVaultName: str) -> dict[str, Any]:  # noqa: N803
        if BackupVaultName not in self.vaults:
            raise self._error(
                "ResourceNotFoundException", f"{BackupVaultName} not found", "DescribeBackupVault"
            )
        return dict(self.vaults[BackupVaultName])

    def delete_backup_vault(self, BackupVaultName: str) -> dict[str, Any]:  # noqa: N803
        self.describe_backup_vault(BackupVaultName)
        del self.vaults[BackupVaultName]
        return {}

    def create_backup_plan(self, BackupPlan: dict, **kw: Any) -> dict[str, Any]:  # noqa: N803
        for r in BackupPlan.get("Rules", []):
            if r.get("TargetBackupVaultName") not in self.vaults:
                raise self._error(
                    "InvalidParameterValueException",
                    f"Backup vault {r.get('TargetBackupVaultName')} does not exist",
                    "CreateBackupPlan",
                )
        plan_id = secrets.token_hex(18)
        rules = [
            {"CompletionWindowMinutes": 10080, "ScheduleExpressionTimezone": "Etc/UTC", **r}
            for r in BackupPlan.get("Rules", [])
        ]
        self.plans[plan_id] = {
            "BackupPlanId": plan_id,
            "BackupPlanArn": self._arn(f"backup-plan:{plan_id}"),
            "VersionId": secrets.token_urlsafe(36),
            "BackupPlan": {"BackupPlanName": BackupPlan.get("BackupPlanName"), "Rules": rules},
        }
        return {k: v for k, v in self.plans[plan_id].items() if k != "BackupPlan"}

    def get_backup_plan(self, BackupPlanId: str) -> dict[str, Any]:  # noqa: N803
        if BackupPlanId not in self.plans:
            raise self._error(
                "ResourceNotFoundException", f"{BackupPlanId} not found", "GetBackupPlan"
            )
        return copy.deepcopy(self.plans[BackupPlanId])

    def delete_backup_plan(self, BackupPlanId: str) -> dict[str, Any]:  # noqa: N803
        self.get_backup_plan(BackupPlanId)
        del self.plans[BackupPlanId]
        return {}


# --- one handler per kind --------------------------------------------------------------------


class Handler:
    """observe(body) -> Observation; create(body) -> (external name, details);
    update(body, obs); delete(body). ``body`` is the MR after reference resolution."""

    service = ""

    def __init__(self, aws: AWS, ctx: Context) -> None:
        self.aws = aws
        self.ctx = ctx

    def c(self, body: dict) -> Any:
        return self.aws.client(self.service, for_provider(body).get("region"))

    def observe(self, body: dict) -> Observation:
        raise NotImplementedError

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def update(self, body: dict, obs: Observation) -> None:
        return None

    def delete(self, body: dict) -> None:
        raise NotImplementedError


def _region(body: dict) -> str:
    return str(for_provider(body).get("region") or "us-east-1")


# --- s3 (internal/service/s3/bucket*.go) ---------------------------------------------------


class Bucket(Handler):
    service = "s3"

    def observe(self, body: dict) -> Observation:
        ext = external_name(body)
        try:
            self.c(body).head_bucket(Bucket=ext)
        except ClientError as err:
            if _missing(err, "404", "NoSuchBucket", "NotFound"):
                return Observation(False)
            raise
        try:
            tagset = self.c(body).get_bucket_tagging(Bucket=ext).get("TagSet", [])
        except ClientError as err:
            if not _missing(err, "NoSuchTagSet"):
                raise
            tagset = []
        tags = {t["Key"]: t["Value"] for t in tagset}
        region = _region(body)
        at = {
            "id": ext,
            "arn": f"arn:aws:s3:::{ext}",
            "bucket": ext,
            "bucketDomainName": f"{ext}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{ext}.s3.{region}.amazonaws.com",
            "hostedZoneId": "Z21DNDUVLTQW6Q",
            "region": region,
            "requestPayer": "BucketOwner",  # emulated: moto has no GetBucketRequestPayment
            "objectLockEnabled": False,
            "tags": tags,
            "tagsAll": tags,
        }
        details = {"id": ext, "arn": at["arn"], "region": region}
        want = for_provider(body).get("tags") or {}
        return Observation(True, at, details, up_to_date=(tags == want))

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        ext = external_name(body)
        region = _region(body)
        kw: dict[str, Any] = {"Bucket": ext}
        if region != "us-east-1":
            kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.c(body).create_bucket(**kw)
        self.update(body, Observation(True))
        return ext, {}

    def update(self, body: dict, obs: Observation) -> None:
        tags = for_provider(body).get("tags") or {}
        if tags:
            self.c(body).put_bucket_tagging(
                Bucket=external_name(body), Tagging={"TagSet": _tags_kv(tags)}
            )

    def delete(self, body: dict) -> None:
        ext = external_name(body)
        s3 = self.c(body)
        if for_provider(body).get("forceDestroy"):
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=ext):
                objs = [
                    {"Key": o["Key"], "VersionId": o["VersionId"]}
                    for o in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                if objs:
                    s3.delete_objects(Bucket=ext, Delete={"Objects": objs, "Quiet": True})
        s3.delete_bucket(Bucket=ext)


class BucketSub(Handler):
    """A bucket sub-resource: Terraform's id is the bucket name (``d.SetId(bucket)``)."""

    service = "s3"
    missing_codes: tuple[str, ...] = ()

    def bucket(self, body: dict) -> str:
        return str(for_provider(body).get("bucket") or "")

    def get(self, body: dict) -> dict[str, Any]:
        raise NotImplementedError

    def put(self, body: dict) -> None:
        raise NotImplementedError

    def desired(self, body: dict) -> Any:
        return None

    def observe(self, body: dict) -> Observation:
        if not external_name(body):
            return Observation(False)
        try:
            got = self.get(body)
        except ClientError as err:
            if _missing(err, "NoSuchBucket", *self.missing_codes):
                return Observation(False)
            raise
        params = {k: v for k, v in parameters(body).items()}
        at = {**params, "id": external_name(body), "bucket": self.bucket(body)}
        return Observation(True, at, {}, up_to_date=(self.desired(body) == got))

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        self.put(body)
        return self.bucket(body), {}

    def update(self, body: dict, obs: Observation) -> None:
        self.put(body)


def _sse_rules(body: dict) -> list[dict[str, Any]]:
    out = []
    for r in for_provider(body).get("rule") or []:
        d = r.get("applyServerSideEncryptionByDefault") or {}
        if isinstance(d, list):  # v1beta1 spelling
            d = d[0] if d else {}
        rule: dict[str, Any] = {}
        if d:
            by_default = {"SSEAlgorithm": d.get("sseAlgorithm")}
            if d.get("kmsMasterKeyId"):
                by_default["KMSMasterKeyID"] = d["kmsMasterKeyId"]
            rule["ApplyServerSideEncryptionByDefault"] = by_default
        if r.get("bucketKeyEnabled") is not None:
            rule["BucketKeyEnabled"] = bool(r["bucketKeyEnabled"])
        out.append(rule)
    return out


class BucketEncryption(BucketSub):
    missing_codes = ("ServerSideEncryptionConfigurationNotFoundError",)

    def desired(self, body: dict) -> Any:
        return _sse_rules(body)

    def get(self, body: dict) -> Any:
        got = self.c(body).get_bucket_encryption(Bucket=self.bucket(body))
        rules = got["ServerSideEncryptionConfiguration"]["Rules"]
        for r in rules:
            r.setdefault("BucketKeyEnabled", False)
        want = self.desired(body)
        for r in want:
            r.setdefault("BucketKeyEnabled", False)
        return rules if rules != want else want

    def put(self, body: dict) -> None:
        self.c(body).put_bucket_encryption(
            Bucket=self.bucket(body),
            ServerSideEncryptionConfiguration={"Rules": _sse_rules(body)},
        )

    def delete(self, body: dict) -> None:
        self.c(body).delete_bucket_encryption(Bucket=self.bucket(body))


class BucketPublicAccessBlock(BucketSub):
    missing_codes = ("NoSuchPublicAccessBlockConfiguration",)
    FIELDS = (
        ("blockPublicAcls", "BlockPublicAcls"),
        ("blockPublicPolicy", "BlockPublicPolicy"),
        ("ignorePublicAcls", "IgnorePublicAcls"),
        ("restrictPublicBuckets", "RestrictPublicBuckets"),
    )

    def desired(self, body: dict) -> Any:
        fp = for_provider(body)
        return {aws: bool(fp.get(k)) for k, aws in self.FIELDS}

    def get(self, body: dict) -> Any:
        return self.c(body).get_public_access_block(Bucket=self.bucket(body))[
            "PublicAccessBlockConfiguration"
        ]

    def put(self, body: dict) -> None:
        self.c(body).put_public_access_block(
            Bucket=self.bucket(body), PublicAccessBlockConfiguration=self.desired(body)
        )

    def delete(self, body: dict) -> None:
        self.c(body).delete_public_access_block(Bucket=self.bucket(body))


class BucketOwnershipControls(BucketSub):
    missing_codes = ("OwnershipControlsNotFoundError",)

    def desired(self, body: dict) -> Any:
        rule = for_provider(body).get("rule") or {}
        if isinstance(rule, list):
            rule = rule[0] if rule else {}
        return [{"ObjectOwnership": rule.get("objectOwnership")}]

    def get(self, body: dict) -> Any:
        got = self.c(body).get_bucket_ownership_controls(Bucket=self.bucket(body))
        return got["OwnershipControls"]["Rules"]

    def put(self, body: dict) -> None:
        self.c(body).put_bucket_ownership_controls(
            Bucket=self.bucket(body), OwnershipControls={"Rules": self.desired(body)}
        )

    def delete(self, body: dict) -> None:
        self.c(body).delete_bucket_ownership_controls(Bucket=self.bucket(body))


class BucketPolicy(BucketSub):
    missing_codes = ("NoSuchBucketPolicy",)

    def desired(self, body: dict) -> Any:
        return json.loads(for_provider(body).get("policy") or "{}")

    def get(self, body: dict) -> Any:
        return json.loads(self.c(body).get_bucket_policy(Bucket=self.bucket(body))["Policy"])

    def put(self, body: dict) -> None:
        self.c(body).put_bucket_policy(
            Bucket=self.bucket(body), Policy=str(for_provider(body).get("policy") or "")
        )

    def delete(self, body: dict) -> None:
        self.c(body).delete_bucket_policy(Bucket=self.bucket(body))


def _one(v: Any) -> dict:
    """A v1beta1 singleton list (``filter: [{...}]``) or an object: the object."""
    if isinstance(v, list):
        return v[0] if v else {}
    return v or {}


def _lifecycle_rules(body: dict) -> list[dict[str, Any]]:
    out = []
    for r in for_provider(body).get("rule") or []:
        rule: dict[str, Any] = {"ID": r.get("id"), "Status": r.get("status")}
        f = _one(r.get("filter"))
        rule["Filter"] = {"Prefix": f.get("prefix", "")} if "prefix" in f or not f else {}
        if f.get("objectSizeGreaterThan") is not None:
            rule["Filter"] = {"ObjectSizeGreaterThan": int(f["objectSizeGreaterThan"])}
        if r.get("abortIncompleteMultipartUpload"):
            a = _one(r["abortIncompleteMultipartUpload"])
            rule["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(a.get("daysAfterInitiation") or 0)
            }
        if r.get("expiration"):
            e = _one(r["expiration"])
            rule["Expiration"] = {"Days": int(e.get("days") or 0)}
        if r.get("transition"):
            rule["Transitions"] = [
                {"Days": int(t.get("days") or 0), "StorageClass": t.get("storageClass")}
                for t in r["transition"]
            ]
        if r.get("noncurrentVersionExpiration"):
            n = _one(r["noncurrentVersionExpiration"])
            rule["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(n.get("noncurrentDays") or 0)
            }
        out.append(rule)
    return out


class BucketLifecycle(BucketSub):
    missing_codes = ("NoSuchLifecycleConfiguration",)

    def desired(self, body: dict) -> Any:
        return _lifecycle_rules(body)

    def get(self, body: dict) -> Any:
        return self.c(body).get_bucket_lifecycle_configuration(Bucket=self.bucket(body))["Rules"]

    def put(self, body: dict) -> None:
        self.c(body).put_bucket_lifecycle_configuration(
            Bucket=self.bucket(body),
            LifecycleConfiguration={"Rules": _lifecycle_rules(body)},
        )

    def delete(self, body: dict) -> None:
        self.c(body).delete_bucket_lifecycle(Bucket=self.bucket(body))


# --- kms (internal/service/kms/key.go, alias.go) --------------------------------------------


class KmsKey(Handler):
    service = "kms"

    def observe(self, body: dict) -> Observation:
        ext = external_name(body)
        if not ext:
            return Observation(False)
        try:
            md = self.c(body).describe_key(KeyId=ext)["KeyMetadata"]
        except ClientError as err:
            if _missing(err, "NotFoundException"):
                return Observation(False)
            raise
        if md.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
            return Observation(False)  # Terraform's Read: a key pending deletion is gone
        rotation = self.c(body).get_key_rotation_status(KeyId=ext).get("KeyRotationEnabled")
        fp = for_provider(body)
        at = {
            **parameters(body),
            "id": md["KeyId"],
            "keyId": md["KeyId"],
            "arn": md["Arn"],
            "description": md.get("Description", ""),
            "enableKeyRotation": bool(rotation),
            "isEnabled": md.get("Enabled", True),
            "keyUsage": md.get("KeyUsage"),
            "customerMasterKeySpec": md.get("KeySpec"),
        }
        up = bool(rotation) == bool(fp.get("enableKeyRotation")) and at["description"] == (
            fp.get("description") or ""
        )
        return Observation(True, at, {}, up_to_date=up)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        kw: dict[str, Any] = {"Description": fp.get("description") or ""}
        if fp.get("tags"):
            kw["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in sorted(fp["tags"].items())]
        key_id = self.c(body).create_key(**kw)["KeyMetadata"]["KeyId"]
        if fp.get("enableKeyRotation"):
            self.c(body).enable_key_rotation(KeyId=key_id)
        return key_id, {}

    def update(self, body: dict, obs: Observation) -> None:
        fp = for_provider(body)
        ext = external_name(body)
        if fp.get("enableKeyRotation"):
            self.c(body).enable_key_rotation(KeyId=ext)
        else:
            self.c(body).disable_key_rotation(KeyId=ext)
        self.c(body).update_key_description(KeyId=ext, Description=fp.get("description") or "")

    def delete(self, body: dict) -> None:
        days = int(for_provider(body).get("deletionWindowInDays") or 30)
        self.c(body).schedule_key_deletion(KeyId=external_name(body), PendingWindowInDays=days)


def _alias_name(body: dict) -> str:
    ext = external_name(body)
    return ext if ext.startswith("alias/") else f"alias/{ext}"


class KmsAlias(Handler):
    service = "kms"

    def observe(self, body: dict) -> Observation:
        name = _alias_name(body)
        for page in self.c(body).get_paginator("list_aliases").paginate():
            for a in page.get("Aliases", []):
                if a["AliasName"] == name:
                    target = a.get("TargetKeyId", "")
                    at = {
                        **parameters(body),
                        "id": name,
                        "name": name,
                        "arn": a.get("AliasArn"),
                        "targetKeyId": target,
                        "targetKeyArn": a.get("AliasArn", "").rsplit(":", 1)[0] + f":key/{target}",
                    }
                    up = target == for_provider(body).get("targetKeyId")
                    # kmsAlias().GetExternalNameFn: the id without "alias/"
                    return Observation(
                        True, at, {}, external_name=name.removeprefix("alias/"), up_to_date=up
                    )
        return Observation(False)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        name = _alias_name(body)
        self.c(body).create_alias(
            AliasName=name, TargetKeyId=str(for_provider(body).get("targetKeyId") or "")
        )
        return external_name(body), {}

    def update(self, body: dict, obs: Observation) -> None:
        self.c(body).update_alias(
            AliasName=_alias_name(body), TargetKeyId=str(for_provider(body).get("targetKeyId"))
        )

    def delete(self, body: dict) -> None:
        self.c(body).delete_alias(AliasName=_alias_name(body))


# --- iam (internal/service/iam/user.go, policy.go, *_policy_attachment.go, access_key.go) ----


class IamUser(Handler):
    service = "iam"

    def observe(self, body: dict) -> Observation:
        try:
            u = self.c(body).get_user(UserName=external_name(body))["User"]
        except ClientError as err:
            if _missing(err, "NoSuchEntity"):
                return Observation(False)
            raise
        tags = {t["Key"]: t["Value"] for t in u.get("Tags", [])}
        at = {
            **parameters(body),
            "id": u["UserName"],
            "arn": u["Arn"],
            "uniqueId": u["UserId"],
            "path": u.get("Path", "/"),
            "tags": tags,
            "tagsAll": tags,
        }
        return Observation(True, at, {}, up_to_date=tags == (for_provider(body).get("tags") or {}))

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        self.c(body).create_user(
            UserName=external_name(body), Path=fp.get("path") or "/", Tags=_tags_kv(fp.get("tags"))
        )
        return external_name(body), {}

    def update(self, body: dict, obs: Observation) -> None:
        if for_provider(body).get("tags"):
            self.c(body).tag_user(
                UserName=external_name(body), Tags=_tags_kv(for_provider(body)["tags"])
            )

    def delete(self, body: dict) -> None:
        iam = self.c(body)
        user = external_name(body)
        if for_provider(body).get("forceDestroy"):
            # Terraform's deleteUser with force_destroy: keys, policies, then the user
            for k in iam.list_access_keys(UserName=user).get("AccessKeyMetadata", []):
                iam.delete_access_key(UserName=user, AccessKeyId=k["AccessKeyId"])
            for p in iam.list_attached_user_policies(UserName=user).get("AttachedPolicies", []):
                iam.detach_user_policy(UserName=user, PolicyArn=p["PolicyArn"])
            for p in iam.list_user_policies(UserName=user).get("PolicyNames", []):
                iam.delete_user_policy(UserName=user, PolicyName=p)
        iam.delete_user(UserName=user)


class IamPolicy(Handler):
    service = "iam"

    def arn(self, body: dict) -> str:
        path = for_provider(body).get("path") or "/"
        return f"arn:aws:iam::{self.aws.account_id()}:policy{path}{external_name(body)}"

    def observe(self, body: dict) -> Observation:
        iam = self.c(body)
        try:
            p = iam.get_policy(PolicyArn=self.arn(body))["Policy"]
        except ClientError as err:
            if _missing(err, "NoSuchEntity"):
                return Observation(False)
            raise
        doc = iam.get_policy_version(PolicyArn=p["Arn"], VersionId=p["DefaultVersionId"])[
            "PolicyVersion"
        ]["Document"]
        if isinstance(doc, str):
            doc = json.loads(doc)
        want = json.loads(for_provider(body).get("policy") or "{}")
        at = {
            **parameters(body),
            "id": p["Arn"],
            "arn": p["Arn"],
            "policyId": p["PolicyId"],
            "attachmentCount": p.get("AttachmentCount", 0),
        }
        return Observation(True, at, {}, up_to_date=doc == want)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        kw: dict[str, Any] = {
            "PolicyName": external_name(body),
            "PolicyDocument": fp.get("policy") or "",
            "Path": fp.get("path") or "/",
            "Tags": _tags_kv(fp.get("tags")),
        }
        if fp.get("description"):
            kw["Description"] = fp["description"]
        self.c(body).create_policy(**kw)
        return external_name(body), {}

    def update(self, body: dict, obs: Observation) -> None:
        iam = self.c(body)
        arn = self.arn(body)
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        if len(versions) >= 5:  # Terraform's policyPruneVersions: the oldest non-default goes
            old = sorted(
                (v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"]
            )
            iam.delete_policy_version(PolicyArn=arn, VersionId=old[0]["VersionId"])
        iam.create_policy_version(
            PolicyArn=arn, PolicyDocument=for_provider(body).get("policy") or "", SetAsDefault=True
        )

    def delete(self, body: dict) -> None:
        iam = self.c(body)
        arn = self.arn(body)
        for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not v["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
        iam.delete_policy(PolicyArn=arn)


class IamAttachment(Handler):
    """User/RolePolicyAttachment: ``d.SetId(id.PrefixedUniqueId(<user|role> + "-"))``."""

    service = "iam"
    who = "user"

    def principal(self, body: dict) -> str:
        return str(for_provider(body).get(self.who) or "")

    def attached(self, body: dict) -> list[str]:
        iam = self.c(body)
        if self.who == "user":
            got = iam.list_attached_user_policies(UserName=self.principal(body))
        else:
            got = iam.list_attached_role_policies(RoleName=self.principal(body))
        return [p["PolicyArn"] for p in got.get("AttachedPolicies", [])]

    def observe(self, body: dict) -> Observation:
        if not external_name(body):
            return Observation(False)
        try:
            arns = self.attached(body)
        except ClientError as err:
            if _missing(err, "NoSuchEntity"):
                return Observation(False)
            raise
        if for_provider(body).get("policyArn") not in arns:
            return Observation(False)
        return Observation(True, {**parameters(body), "id": external_name(body)})

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        arn = str(for_provider(body).get("policyArn") or "")
        if self.who == "user":
            self.c(body).attach_user_policy(UserName=self.principal(body), PolicyArn=arn)
        else:
            self.c(body).attach_role_policy(RoleName=self.principal(body), PolicyArn=arn)
        return _unique(f"{self.principal(body)}-"), {}

    def delete(self, body: dict) -> None:
        arn = str(for_provider(body).get("policyArn") or "")
        if self.who == "user":
            self.c(body).detach_user_policy(UserName=self.principal(body), PolicyArn=arn)
        else:
            self.c(body).detach_role_policy(RoleName=self.principal(body), PolicyArn=arn)


class RoleAttachment(IamAttachment):
    who = "role"


class IamAccessKey(Handler):
    service = "iam"

    def observe(self, body: dict) -> Observation:
        ext = external_name(body)
        if not ext:
            return Observation(False)
        try:
            keys = self.c(body).list_access_keys(UserName=str(for_provider(body).get("user")))
        except ClientError as err:
            if _missing(err, "NoSuchEntity"):
                return Observation(False)
            raise
        for k in keys.get("AccessKeyMetadata", []):
            if k["AccessKeyId"] == ext:
                at = {**parameters(body), "id": ext, "status": k.get("Status", "Active")}
                details = {"username": ext}
                secret = self.aws.access_key_secrets.get(ext)
                if secret:  # the secret is only known from the create (in Terraform's state)
                    details |= {"password": secret, "attribute.secret": secret}
                return Observation(True, at, details)
        return Observation(False)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        k = self.c(body).create_access_key(UserName=str(for_provider(body).get("user")))[
            "AccessKey"
        ]
        self.aws.access_key_secrets[k["AccessKeyId"]] = k["SecretAccessKey"]
        # config/cluster/iam/config.go aws_iam_access_key: username = id, password = secret;
        # upjet pkg/resource/sensitive.go publishes sensitive attributes as attribute.<name>
        return k["AccessKeyId"], {
            "username": k["AccessKeyId"],
            "password": k["SecretAccessKey"],
            "attribute.secret": k["SecretAccessKey"],
        }

    def delete(self, body: dict) -> None:
        self.c(body).delete_access_key(
            UserName=str(for_provider(body).get("user")), AccessKeyId=external_name(body)
        )


class IamRole(Handler):
    service = "iam"

    def observe(self, body: dict) -> Observation:
        try:
            r = self.c(body).get_role(RoleName=external_name(body))["Role"]
        except ClientError as err:
            if _missing(err, "NoSuchEntity"):
                return Observation(False)
            raise
        at = {
            **parameters(body),
            "id": r["RoleName"],
            "arn": r["Arn"],
            "uniqueId": r["RoleId"],
            "name": r["RoleName"],
        }
        return Observation(True, at)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        kw: dict[str, Any] = {
            "RoleName": external_name(body),
            "AssumeRolePolicyDocument": fp.get("assumeRolePolicy") or "",
            "Path": fp.get("path") or "/",
            "Tags": _tags_kv(fp.get("tags")),
        }
        if fp.get("description"):
            kw["Description"] = fp["description"]
        self.c(body).create_role(**kw)
        return external_name(body), {}

    def delete(self, body: dict) -> None:
        # Without forceDetachPolicies AWS refuses (DeleteConflict) while a policy is attached.
        self.c(body).delete_role(RoleName=external_name(body))


# --- ec2 (internal/service/ec2/vpc_security_group.go, vpc_security_group_ingress_rule.go) ---


class SecurityGroup(Handler):
    service = "ec2"

    def observe(self, body: dict) -> Observation:
        ext = external_name(body)
        if not ext:
            return Observation(False)
        try:
            groups = self.c(body).describe_security_groups(GroupIds=[ext])["SecurityGroups"]
        except ClientError as err:
            if _missing(err, "InvalidGroup.NotFound", "InvalidGroupId.Malformed"):
                return Observation(False)
            raise
        if not groups:
            return Observation(False)
        g = groups[0]
        at = {
            **parameters(body),
            "id": g["GroupId"],
            "arn": f"arn:aws:ec2:{_region(body)}:{g.get('OwnerId')}:security-group/{g['GroupId']}",
            "ownerId": g.get("OwnerId"),
            "vpcId": g.get("VpcId"),
            "name": g.get("GroupName"),
        }
        return Observation(True, at)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        kw: dict[str, Any] = {
            "GroupName": fp.get("name") or _unique("terraform-"),
            "Description": fp.get("description") or "Managed by Terraform",
        }
        if fp.get("vpcId"):
            kw["VpcId"] = fp["vpcId"]
        if fp.get("tags"):
            kw["TagSpecifications"] = [
                {"ResourceType": "security-group", "Tags": _tags_kv(fp["tags"])}
            ]
        ec2 = self.c(body)
        gid = ec2.create_security_group(**kw)["GroupId"]
        if fp.get("vpcId"):
            # Terraform removes the default allow-all egress rule of a VPC security group.
            with suppress(ClientError):
                ec2.revoke_security_group_egress(
                    GroupId=gid,
                    IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
                )
        return gid, {}

    def delete(self, body: dict) -> None:
        self.c(body).delete_security_group(GroupId=external_name(body))


class SecurityGroupIngressRule(Handler):
    service = "ec2"

    def observe(self, body: dict) -> Observation:
        ext = external_name(body)
        if not ext:
            return Observation(False)
        try:
            rules = self.c(body).describe_security_group_rules(SecurityGroupRuleIds=[ext])[
                "SecurityGroupRules"
            ]
        except ClientError as err:
            if _missing(err, "InvalidSecurityGroupRuleId.NotFound", "InvalidGroup.NotFound"):
                return Observation(False)
            raise
        if not rules:
            return Observation(False)
        r = rules[0]
        at = {
            **parameters(body),
            "id": ext,
            "securityGroupRuleId": ext,
            "arn": f"arn:aws:ec2:{_region(body)}:{self.aws.account_id()}:security-group-rule/{ext}",
            "securityGroupId": r.get("GroupId"),
        }
        return Observation(True, at)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        perm: dict[str, Any] = {"IpProtocol": str(fp.get("ipProtocol") or "-1")}
        if fp.get("fromPort") is not None:
            perm["FromPort"] = int(fp["fromPort"])
        if fp.get("toPort") is not None:
            perm["ToPort"] = int(fp["toPort"])
        if fp.get("cidrIpv4"):
            rng: dict[str, Any] = {"CidrIp": fp["cidrIpv4"]}
            if fp.get("description"):
                rng["Description"] = fp["description"]
            perm["IpRanges"] = [rng]
        if fp.get("cidrIpv6"):
            perm["Ipv6Ranges"] = [{"CidrIpv6": fp["cidrIpv6"]}]
        kw: dict[str, Any] = {"GroupId": fp.get("securityGroupId"), "IpPermissions": [perm]}
        if fp.get("tags"):
            kw["TagSpecifications"] = [
                {"ResourceType": "security-group-rule", "Tags": _tags_kv(fp["tags"])}
            ]
        got = self.c(body).authorize_security_group_ingress(**kw)
        return got["SecurityGroupRules"][0]["SecurityGroupRuleId"], {}

    def delete(self, body: dict) -> None:
        self.c(body).revoke_security_group_ingress(
            GroupId=for_provider(body).get("securityGroupId"),
            SecurityGroupRuleIds=[external_name(body)],
        )


# --- rds (internal/service/rds/instance.go, parameter_group.go, subnet_group.go, snapshot.go) -


class ParameterGroup(Handler):
    service = "rds"

    def observe(self, body: dict) -> Observation:
        name = external_name(body)
        try:
            g = _first(
                self.c(body).describe_db_parameter_groups(DBParameterGroupName=name),
                "DBParameterGroups",
            )
        except (ClientError, _NotFoundError) as err:
            if _missing(err, "DBParameterGroupNotFound"):
                return Observation(False)
            raise
        at = {**parameters(body), "id": name, "arn": g.get("DBParameterGroupArn"), "name": name}
        return Observation(True, at)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        name = external_name(body)
        self.c(body).create_db_parameter_group(
            DBParameterGroupName=name,
            DBParameterGroupFamily=str(fp.get("family")),
            Description=fp.get("description") or "Managed by Terraform",
            Tags=_tags_kv(fp.get("tags")),
        )
        self.update(body, Observation(True))
        return name, {}

    def update(self, body: dict, obs: Observation) -> None:
        params = [
            {
                "ParameterName": p["name"],
                "ParameterValue": str(p["value"]),
                "ApplyMethod": p.get("applyMethod") or "immediate",
            }
            for p in for_provider(body).get("parameter") or []
        ]
        if params:
            self.c(body).modify_db_parameter_group(
                DBParameterGroupName=external_name(body), Parameters=params
            )

    def delete(self, body: dict) -> None:
        """RDS refuses to delete a group that instances still use (InvalidDBParameterGroupState,
        the AWS RDS API's DeleteDBParameterGroup errors); moto does not check, and its
        DescribeDBInstances then fails on every member (KeyError, HTTP 500): emulated here.
        terraform-provider-aws internal/service/rds/parameter_group.go
        resourceParameterGroupDelete retries that error for 3 minutes; here the failed delete
        is reported and the reconcile requeued, which a slow instance deletion also gives."""
        name = external_name(body)
        members = sorted(
            d["DBInstanceIdentifier"]
            for page in self.c(body).get_paginator("describe_db_instances").paginate()
            for d in page.get("DBInstances", [])
            if any(g.get("DBParameterGroupName") == name for g in d.get("DBParameterGroups", []))
        )
        if members:
            raise AWSError(
                f"deleting RDS DB Parameter Group ({name}): operation error RDS: "
                "DeleteDBParameterGroup, api error InvalidDBParameterGroupState: One or more "
                f"database instances are still members of this parameter group {name}, so the "
                f"group cannot be deleted ({', '.join(members)})"
            )
        self.c(body).delete_db_parameter_group(DBParameterGroupName=name)


class SubnetGroup(Handler):
    service = "rds"

    def observe(self, body: dict) -> Observation:
        name = external_name(body)
        try:
            g = _first(
                self.c(body).describe_db_subnet_groups(DBSubnetGroupName=name), "DBSubnetGroups"
            )
        except (ClientError, _NotFoundError) as err:
            if _missing(err, "DBSubnetGroupNotFoundFault"):
                return Observation(False)
            raise
        at = {**parameters(body), "id": name, "arn": g.get("DBSubnetGroupArn"), "name": name}
        return Observation(True, at)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        name = external_name(body)
        self.c(body).create_db_subnet_group(
            DBSubnetGroupName=name,
            DBSubnetGroupDescription=fp.get("description") or "Managed by Terraform",
            SubnetIds=list(fp.get("subnetIds") or []),
            Tags=_tags_kv(fp.get("tags")),
        )
        return name, {}

    def delete(self, body: dict) -> None:
        self.c(body).delete_db_subnet_group(DBSubnetGroupName=external_name(body))


class Snapshot(Handler):
    service = "rds"

    def observe(self, body: dict) -> Observation:
        name = external_name(body)
        try:
            s = _first(self.c(body).describe_db_snapshots(DBSnapshotIdentifier=name), "DBSnapshots")
        except (ClientError, _NotFoundError) as err:
            if _missing(err, "DBSnapshotNotFound", "DBSnapshotNotFoundFault"):
                return Observation(False)
            raise
        at = {
            **parameters(body),
            "id": name,
            "dbSnapshotArn": s.get("DBSnapshotArn"),
            "status": s.get("Status"),
            "engine": s.get("Engine"),
            "engineVersion": s.get("EngineVersion"),
            "allocatedStorage": s.get("AllocatedStorage"),
            "encrypted": s.get("Encrypted", False),
            "kmsKeyId": s.get("KmsKeyId", ""),
            "port": s.get("Port"),
            "snapshotType": s.get("SnapshotType"),
            "storageType": s.get("StorageType"),
            "vpcId": s.get("VpcId", ""),
        }
        return Observation(True, {k: v for k, v in at.items() if v is not None})

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        name = external_name(body)
        source = str(fp.get("dbInstanceIdentifier") or "")
        self.c(body).create_db_snapshot(
            DBSnapshotIdentifier=name,
            DBInstanceIdentifier=source,
            Tags=_tags_kv(fp.get("tags")),
        )
        if source in self.aws.master_passwords:
            self.aws.snapshot_passwords[name] = self.aws.master_passwords[source]
        return name, {}

    def delete(self, body: dict) -> None:
        self.c(body).delete_db_snapshot(DBSnapshotIdentifier=external_name(body))


_INSTANCE_FIELDS = {
    # forProvider field -> (DescribeDBInstances key, ModifyDBInstance argument)
    "allocatedStorage": ("AllocatedStorage", "AllocatedStorage"),
    "backupRetentionPeriod": ("BackupRetentionPeriod", "BackupRetentionPeriod"),
    "backupWindow": ("PreferredBackupWindow", "PreferredBackupWindow"),
    "maintenanceWindow": ("PreferredMaintenanceWindow", "PreferredMaintenanceWindow"),
    "instanceClass": ("DBInstanceClass", "DBInstanceClass"),
    "maxAllocatedStorage": ("MaxAllocatedStorage", "MaxAllocatedStorage"),
    "multiAz": ("MultiAZ", "MultiAZ"),
    "publiclyAccessible": ("PubliclyAccessible", "PubliclyAccessible"),
    "storageType": ("StorageType", "StorageType"),
    "autoMinorVersionUpgrade": ("AutoMinorVersionUpgrade", "AutoMinorVersionUpgrade"),
    "copyTagsToSnapshot": ("CopyTagsToSnapshot", "CopyTagsToSnapshot"),
    "deletionProtection": ("DeletionProtection", "DeletionProtection"),
}


def _version(v: Any) -> tuple[int, ...]:
    return tuple(int(p) for p in str(v).split(".") if p.isdigit())


def _version_diffs(fp: dict, d: dict) -> dict[str, Any]:
    """The ModifyDBInstance arguments of a version or parameter group change.

    provider-upjet-aws config/cluster/rds/config.go ``aws_db_instance`` TerraformCustomDiff:
    an ``engine_version`` diff whose new value is not newer than the old
    (``utils.CompareEngineVersions(New, Old) <= 0``) is dropped, so a major (``"16"``) never
    moves a running ``16.4``. terraform-provider-aws ``resourceInstanceUpdate``: a changed
    ``engine_version`` sends ``EngineVersion`` with ``AllowMajorVersionUpgrade``, a changed
    ``parameter_group_name`` ``DBParameterGroupName``, in the same call. A replica has no
    engine version of its own (``ConflictsWith: replicate_source_db``)."""
    kw: dict[str, Any] = {}
    want, have = fp.get("engineVersion"), d.get("EngineVersion")
    new, old = _version(want or ""), _version(have or "")
    newer = new[:1] > old[:1] or (new[:1] == old[:1] and len(new) > 1 and new > old)
    if want and have and newer and not fp.get("replicateSourceDb"):
        kw["EngineVersion"] = str(want)
        kw["AllowMajorVersionUpgrade"] = bool(fp.get("allowMajorVersionUpgrade", False))
    group = fp.get("parameterGroupName")
    have_group = (d.get("DBParameterGroups") or [{}])[0].get("DBParameterGroupName")
    if group and group != have_group:
        kw["DBParameterGroupName"] = group
    return kw


class RdsInstance(Handler):
    service = "rds"

    def identifier(self, body: dict) -> str:
        return str(parameters(body).get("identifier") or "")

    def describe(self, body: dict) -> dict | None:
        ident = self.identifier(body)
        if not ident:
            return None
        try:
            return _first(
                self.c(body).describe_db_instances(DBInstanceIdentifier=ident), "DBInstances"
            )
        except (ClientError, _NotFoundError) as err:
            if _missing(err, "DBInstanceNotFound", "DBInstanceNotFoundFault"):
                return None
            raise

    def password(self, body: dict) -> str | None:
        return self.ctx.secret(for_provider(body).get("passwordSecretRef"))

    def observe(self, body: dict) -> Observation:
        d = self.describe(body)
        if d is None:
            return Observation(False)
        ident = d["DBInstanceIdentifier"]
        pg = self.ctx.postgres.endpoint(ident) if self.ctx.postgres else None
        if self.ctx.postgres is not None and pg is None:
            pg = self._adopt(body, d)
        address, port = (
            pg
            if pg
            else (d.get("Endpoint", {}).get("Address", ""), d.get("Endpoint", {}).get("Port", 5432))
        )
        observed_params = {
            "identifier": ident,
            "engine": d.get("Engine"),
            "engineVersion": d.get("EngineVersion"),
            "username": d.get("MasterUsername"),
            "dbName": d.get("DBName"),
            "port": port,
            "kmsKeyId": d.get("KmsKeyId"),
            "storageEncrypted": d.get("StorageEncrypted"),
            "parameterGroupName": (d.get("DBParameterGroups") or [{}])[0].get(
                "DBParameterGroupName"
            ),
            "dbSubnetGroupName": (d.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "vpcSecurityGroupIds": [
                g["VpcSecurityGroupId"] for g in d.get("VpcSecurityGroups", [])
            ],
            "availabilityZone": d.get("AvailabilityZone"),
            "caCertIdentifier": d.get("CACertificateIdentifier"),
            "licenseModel": d.get("LicenseModel"),
            "optionGroupName": (d.get("OptionGroupMemberships") or [{}])[0].get("OptionGroupName"),
            "networkType": d.get("NetworkType"),
            "replicateSourceDb": d.get("ReadReplicaSourceDBInstanceIdentifier"),
        }
        for f, (key, _) in _INSTANCE_FIELDS.items():
            observed_params[f] = d.get(key)
        observed_params = {k: v for k, v in observed_params.items() if v is not None}
        endpoint = f"{address}:{port}"
        at = {
            **parameters(body),
            **observed_params,
            "id": _resource_id(d),
            "resourceId": _resource_id(d),
            "arn": d.get("DBInstanceArn"),
            "address": address,
            "endpoint": endpoint,
            "status": d.get("DBInstanceStatus"),
            "engineVersionActual": d.get("EngineVersion"),
            "hostedZoneId": "Z2R2ITUGPM61AM",
            "latestRestorableTime": _iso(latest_restorable_time(d)),
        }
        at = {k: v for k, v in at.items() if v not in (None, "") and not k.endswith("SecretRef")}
        at.pop("password", None)
        at.pop("autoGeneratePassword", None)  # the provider's own toggle (TF tag "-")
        username = str(observed_params.get("username") or parameters(body).get("username") or "")
        details = {
            "endpoint": endpoint,
            "address": address,
            "host": address,
            "port": str(port),
            "username": username,
        }
        pw = self.password(body)
        if pw:
            details |= {"password": pw, "attribute.password": pw}
        fp = for_provider(body)
        diffs = [f for f, (key, _) in _INSTANCE_FIELDS.items() if f in fp and fp[f] != d.get(key)]
        diffs += list(_version_diffs(fp, d))
        if (
            pw
            and self.aws.master_passwords.get(ident) not in (None, pw)
            and not fp.get("replicateSourceDb")
        ):
            diffs.append("password")
        return Observation(
            True,
            at,
            details,
            external_name=_resource_id(d),
            up_to_date=not diffs,
            late_init=observed_params,
        )

    def _adopt(self, body: dict, d: dict) -> tuple[str, int] | None:
        """An instance moto has but no server here (this process restarted, and its servers
        stopped with the old one): a replica points at its source again; any other gets a
        new, EMPTY server with the master password from its Secret."""
        ident = d["DBInstanceIdentifier"]
        source = d.get("ReadReplicaSourceDBInstanceIdentifier")
        if source:
            self.ctx.postgres.share(ident, str(source))
            return self.ctx.postgres.endpoint(ident)
        password = self.password(body)
        if not password:
            return None
        log.warning("rds Instance %s: no PostgreSQL server here; starting an empty one", ident)
        self.ctx.postgres.start(
            ident,
            str(d.get("MasterUsername") or "postgres"),
            password,
            str(d.get("DBName") or "postgres"),
            major=_major(d),
        )
        self.aws.master_passwords[ident] = password
        return self.ctx.postgres.endpoint(ident)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        p = parameters(body)
        rds = self.c(body)
        ident = self.identifier(body)
        tags = _tags_kv(p.get("tags"))
        common: dict[str, Any] = {"DBInstanceIdentifier": ident, "Tags": tags}
        for f, arg in (
            ("instanceClass", "DBInstanceClass"),
            ("port", "Port"),
            ("publiclyAccessible", "PubliclyAccessible"),
            ("autoMinorVersionUpgrade", "AutoMinorVersionUpgrade"),
            ("storageType", "StorageType"),
            ("copyTagsToSnapshot", "CopyTagsToSnapshot"),
            ("multiAz", "MultiAZ"),
            ("dbSubnetGroupName", "DBSubnetGroupName"),
        ):
            if p.get(f) is not None:
                common[arg] = p[f]
        if p.get("vpcSecurityGroupIds"):
            common["VpcSecurityGroupIds"] = list(p["vpcSecurityGroupIds"])
        if p.get("parameterGroupName"):
            common["DBParameterGroupName"] = p["parameterGroupName"]
        password = self.password(body)
        source_password: str | None = None
        pitr = p.get("restoreToPointInTime")
        if isinstance(pitr, list):
            pitr = pitr[0] if pitr else None
        if p.get("replicateSourceDb"):
            # resourceInstanceCreate: CreateDBInstanceReadReplica (an in-region replica)
            common.pop("DBSubnetGroupName", None)
            common.pop("MultiAZ", None)
            rds.create_db_instance_read_replica(
                SourceDBInstanceIdentifier=p["replicateSourceDb"],
                **{k: v for k, v in common.items() if k != "Tags"},
                Tags=tags,
            )
            kind = "replica"
        elif p.get("snapshotIdentifier"):
            snap = str(p["snapshotIdentifier"])
            rds.restore_db_instance_from_db_snapshot(DBSnapshotIdentifier=snap, **common)
            source_password = self.aws.snapshot_passwords.get(snap)
            kind = "restore"
        elif pitr:
            kw = dict(common)
            kw["TargetDBInstanceIdentifier"] = kw.pop("DBInstanceIdentifier")
            if pitr.get("useLatestRestorableTime"):
                kw["UseLatestRestorableTime"] = True
            elif pitr.get("restoreTime"):
                kw["RestoreTime"] = pitr["restoreTime"]
            source = pitr.get("sourceDbInstanceIdentifier")
            if p.get("maxAllocatedStorage"):
                kw["MaxAllocatedStorage"] = int(p["maxAllocatedStorage"])
            rds.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier=source, **kw)
            source_password = self.aws.master_passwords.get(str(source))
            kind = "restore"
        else:
            kw = dict(common)
            kw["Engine"] = p.get("engine") or "postgres"
            for f, arg in (
                ("engineVersion", "EngineVersion"),
                ("allocatedStorage", "AllocatedStorage"),
                ("maxAllocatedStorage", "MaxAllocatedStorage"),
                ("backupRetentionPeriod", "BackupRetentionPeriod"),
                ("backupWindow", "PreferredBackupWindow"),
                ("maintenanceWindow", "PreferredMaintenanceWindow"),
                ("storageEncrypted", "StorageEncrypted"),
                ("kmsKeyId", "KmsKeyId"),
                ("username", "MasterUsername"),
                ("dbName", "DBName"),
                ("deletionProtection", "DeletionProtection"),
            ):
                if p.get(f) is not None:
                    kw[arg] = p[f]
            if password is None:
                raise AWSError(
                    "api error InvalidParameterValue: The parameter MasterUserPassword is not "
                    "a valid password because it is shorter than 8 characters."
                )
            kw["MasterUserPassword"] = password
            rds.create_db_instance(**kw)
            kind = "primary"
        d = self.describe(body) or {}
        if self.ctx.postgres is not None:
            if kind == "replica":
                self.ctx.postgres.share(ident, str(p["replicateSourceDb"]))
            else:
                user = str(d.get("MasterUsername") or p.get("username") or "postgres")
                db = str(d.get("DBName") or p.get("dbName") or "postgres")
                # A restore starts empty here (no data copied), with the source's password.
                first = (
                    password
                    if kind == "primary"
                    else (source_password or secrets.token_urlsafe(18))
                )
                self.ctx.postgres.start(ident, user, first, db, major=_major(d))
        self.aws.master_passwords[ident] = (
            password if kind == "primary" else (source_password or "")
        )
        if kind == "restore":
            # Terraform's resourceInstanceCreate after a restore: d.SetId, then ONE
            # ModifyDBInstance with AllocatedStorage and MasterUserPassword (and the rest that
            # differs). Refused, it fails the create; the instance stays (the partial state).
            mod: dict[str, Any] = {}
            if p.get("allocatedStorage") is not None:
                mod["AllocatedStorage"] = int(p["allocatedStorage"])
            self._modify(body, mod, password)
        return _resource_id(d), {}

    def _modify(self, body: dict, kw: dict[str, Any], password: str | None) -> None:
        """One ModifyDBInstance. RDS refuses an AllocatedStorage below what the instance has
        (after a restore: what its source had); moto does not check: emulated here. The
        password reaches the PostgreSQL server only when the call succeeds."""
        ident = self.identifier(body)
        d = self.describe(body) or {}
        have = d.get("AllocatedStorage")
        want = kw.get("AllocatedStorage")
        if want is not None and have is not None and int(want) < int(have):
            raise AWSError(
                f"updating RDS DB Instance ({ident}): operation error RDS: ModifyDBInstance, "
                "api error InvalidParameterCombination: Invalid storage size for engine name "
                f"postgres and storage type {d.get('StorageType') or 'gp2'}: {want} "
                f"(it has {have} GiB; storage cannot shrink)"
            )
        if want is not None and have is not None and int(want) == int(have):
            kw.pop("AllocatedStorage")
        version = kw.get("EngineVersion")
        if (
            version
            and _version(version)[:1] != _version(d.get("EngineVersion"))[:1]
            and not kw.get("AllowMajorVersionUpgrade")
        ):
            # RDS refuses it; moto does not check: emulated here.
            raise AWSError(
                f"updating RDS DB Instance ({ident}): operation error RDS: ModifyDBInstance, "
                "api error InvalidParameterCombination: The AllowMajorVersionUpgrade flag "
                "must be present when upgrading to a new major version."
            )
        if password:
            kw["MasterUserPassword"] = password
        if not kw:
            return
        self.c(body).modify_db_instance(
            DBInstanceIdentifier=ident,
            ApplyImmediately=bool(for_provider(body).get("applyImmediately", True)),
            **kw,
        )
        if password:
            if self.ctx.postgres is not None:
                self.ctx.postgres.set_password(
                    ident, str(d.get("MasterUsername") or "postgres"), password
                )
            self.aws.master_passwords[ident] = password

    def update(self, body: dict, obs: Observation) -> None:
        fp = for_provider(body)
        d = self.describe(body) or {}
        kw: dict[str, Any] = {}
        for f, (key, arg) in _INSTANCE_FIELDS.items():
            if f in fp and fp[f] != d.get(key):
                kw[arg] = fp[f]
        kw.update(_version_diffs(fp, d))
        ident = self.identifier(body)
        pw = self.password(body)
        send_pw = pw if (pw and not fp.get("replicateSourceDb")) else None
        if send_pw and self.aws.master_passwords.get(ident) == send_pw:
            send_pw = None
        self._modify(body, kw, send_pw)

    def delete(self, body: dict) -> None:
        fp = for_provider(body)
        ident = self.identifier(body)
        kw: dict[str, Any] = {
            "DBInstanceIdentifier": ident,
            "SkipFinalSnapshot": bool(fp.get("skipFinalSnapshot", False)),
            "DeleteAutomatedBackups": bool(fp.get("deleteAutomatedBackups", True)),
        }
        if not kw["SkipFinalSnapshot"]:
            if not fp.get("finalSnapshotIdentifier"):
                raise AWSError(
                    "final_snapshot_identifier is required when skip_final_snapshot is false"
                )
            kw["FinalDBSnapshotIdentifier"] = fp["finalSnapshotIdentifier"]
        self.c(body).delete_db_instance(**kw)
        if kw.get("FinalDBSnapshotIdentifier") and ident in self.aws.master_passwords:
            self.aws.snapshot_passwords[kw["FinalDBSnapshotIdentifier"]] = (
                self.aws.master_passwords[ident]
            )
        if self.ctx.postgres is not None:
            self.ctx.postgres.stop(ident)
        self.aws.master_passwords.pop(ident, None)


def _first(got: dict, key: str) -> Any:
    """The one item a describe by name returns; moto answers some with an empty list."""
    items = got.get(key) or []
    if not items:
        raise _NotFoundError(key)
    return items[0]


class _NotFoundError(Exception):
    pass


MOTO_DBI_RESOURCE_ID = "db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U"  # moto/rds/models.py: one for all


def _resource_id(d: dict) -> str:
    """The instance's DbiResourceId (Terraform's id of aws_db_instance since v5, so upjet's
    external name). moto gives every instance the same constant: emulated here as a stable
    id of the instance's ARN and creation time, in RDS's shape (db- and 26 base32 chars)."""
    rid = str(d.get("DbiResourceId") or "")
    if rid and rid != MOTO_DBI_RESOURCE_ID:
        return rid
    seed = f"{d.get('DBInstanceArn')}|{d.get('InstanceCreateTime')}".encode()
    return "db-" + base64.b32encode(hashlib.sha256(seed).digest()).decode()[:26]


# RDS uploads an instance's transaction logs every 5 minutes, and its LatestRestorableTime is
# the end of the last upload (Amazon RDS User Guide, "Restoring a DB instance to a specified
# time": "RDS uploads transaction logs for DB instances to Amazon S3 every 5 minutes").
LOG_UPLOAD_SECONDS = 300


def latest_restorable_time(d: dict) -> dt.datetime | None:
    """DescribeDBInstances' LatestRestorableTime as RDS reports it: it moves once per log
    upload (every ``LOG_UPLOAD_SECONDS``), never before the instance's creation. moto 5.2.5
    answers the time of the request (``moto/rds/models.py`` ``DBInstance.
    latest_restorable_time`` returns ``utcnow()``), so Terraform's read (terraform-provider-aws
    ``internal/service/rds/instance.go`` ``resourceInstanceRead``: ``d.Set(
    "latest_restorable_time", ...)``) and with it the MR's ``status.atProvider`` changed on
    every poll, and crossplane-runtime's ``Status().Update`` of an up-to-date MR (v2.2.0
    ``pkg/reconciler/managed/reconciler.go``) wrote the rds Instance at every poll."""
    now = d.get("LatestRestorableTime")
    if not isinstance(now, dt.datetime):
        return now
    created = d.get("InstanceCreateTime")
    step = int(now.timestamp()) // LOG_UPLOAD_SECONDS * LOG_UPLOAD_SECONDS
    uploaded = dt.datetime.fromtimestamp(step, tz=now.tzinfo or dt.UTC)
    if isinstance(created, dt.datetime) and uploaded < created:
        return created
    return uploaded


def _major(d: dict) -> int | None:
    head = str(d.get("EngineVersion") or "").partition(".")[0]
    return int(head) if head.isdigit() else None


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    return v.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(v, "strftime") else str(v)


# --- backup (internal/service/backup/vault.go, plan.go, selection.go) -----------------------


class BackupVault(Handler):
    service = "backup"

    def observe(self, body: dict) -> Observation:
        name = external_name(body)
        try:
            v = self.c(body).describe_backup_vault(BackupVaultName=name)
        except ClientError as err:
            if _missing(err, "ResourceNotFoundException", "AccessDeniedException"):
                return Observation(False)
            raise
        at = {
            **parameters(body),
            "id": name,
            "arn": v.get("BackupVaultArn"),
            "recoveryPoints": v.get("NumberOfRecoveryPoints", 0),
        }
        return Observation(True, at)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        kw: dict[str, Any] = {"BackupVaultName": external_name(body)}
        if fp.get("tags"):
            kw["BackupVaultTags"] = dict(fp["tags"])
        if fp.get("kmsKeyArn"):
            kw["EncryptionKeyArn"] = fp["kmsKeyArn"]
        self.c(body).create_backup_vault(**kw)
        return external_name(body), {}

    def delete(self, body: dict) -> None:
        self.c(body).delete_backup_vault(BackupVaultName=external_name(body))


def _plan_rules(body: dict) -> list[dict[str, Any]]:
    out = []
    for r in for_provider(body).get("rule") or []:
        rule: dict[str, Any] = {
            "RuleName": r.get("ruleName"),
            "TargetBackupVaultName": r.get("targetVaultName"),
        }
        if r.get("schedule"):
            rule["ScheduleExpression"] = r["schedule"]
        if r.get("startWindow") is not None:
            rule["StartWindowMinutes"] = int(r["startWindow"])
        if r.get("completionWindow") is not None:
            rule["CompletionWindowMinutes"] = int(r["completionWindow"])
        lc = _one(r.get("lifecycle"))
        if lc:
            rule["Lifecycle"] = {
                k2: int(lc[k1])
                for k1, k2 in (
                    ("deleteAfter", "DeleteAfterDays"),
                    ("coldStorageAfter", "MoveToColdStorageAfterDays"),
                )
                if lc.get(k1) is not None
            }
        if r.get("recoveryPointTags"):
            rule["RecoveryPointTags"] = dict(r["recoveryPointTags"])
        if r.get("enableContinuousBackup") is not None:
            rule["EnableContinuousBackup"] = bool(r["enableContinuousBackup"])
        out.append(rule)
    return out


def _check_rules(rules: list[dict[str, Any]], op: str) -> None:
    """The SDK's required-field validation (the Go SDK and boto3 both refuse before sending)."""
    for i, r in enumerate(rules):
        for f in ("RuleName", "TargetBackupVaultName"):
            if not r.get(f):
                raise AWSError(
                    f"operation error Backup: {op}, 1 validation error(s) found.\n"
                    f"- missing required field, {op}Input.BackupPlan.Rules[{i}].{f}."
                )


class BackupPlan(Handler):
    service = "backup"

    def observe(self, body: dict) -> Observation:
        ext = external_name(body)
        if not ext:
            return Observation(False)
        try:
            p = self.c(body).get_backup_plan(BackupPlanId=ext)
        except ClientError as err:
            if _missing(err, "ResourceNotFoundException"):
                return Observation(False)
            raise
        if p.get("DeletionDate"):
            return Observation(False)
        overlay = self.aws.plan_updates.get(ext)
        rules = (
            overlay["rules"]
            if overlay
            else [
                {k: v for k, v in r.items() if k not in ("RuleId",)}
                for r in p["BackupPlan"]["Rules"]
            ]
        )
        version = overlay["version"] if overlay else p.get("VersionId")
        want = _plan_rules(body)
        at = {
            **parameters(body),
            "id": ext,
            "arn": p.get("BackupPlanArn"),
            "version": version,
        }
        # Terraform's defaults (completion window 10080, timezone) are no diff: compare what
        # the MR sets.
        up = len(rules) == len(want) and all(
            all(got.get(k) == v for k, v in w.items() if v is not None or k.startswith("Target"))
            for got, w in zip(rules, want, strict=True)
        )
        return Observation(True, at, up_to_date=up)

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        rules = _plan_rules(body)
        _check_rules(rules, "CreateBackupPlan")
        kw: dict[str, Any] = {"BackupPlan": {"BackupPlanName": fp.get("name"), "Rules": rules}}
        if fp.get("tags"):
            kw["BackupPlanTags"] = dict(fp["tags"])
        return self.c(body).create_backup_plan(**kw)["BackupPlanId"], {}

    def update(self, body: dict, obs: Observation) -> None:
        """UpdateBackupPlan, emulated: moto has none. The rules are kept here."""
        rules = _plan_rules(body)
        _check_rules(rules, "UpdateBackupPlan")
        ext = external_name(body)
        self.aws.plan_updates[ext] = {"rules": rules, "version": secrets.token_hex(16)}

    def delete(self, body: dict) -> None:
        ext = external_name(body)
        if any(s["plan"] == ext for s in self.aws.selections.values()):
            raise AWSError(
                "deleting Backup Plan: InvalidRequestException: Related backup plan selections "
                "must be deleted prior to backup plan deletion"
            )
        self.c(body).delete_backup_plan(BackupPlanId=ext)
        self.aws.plan_updates.pop(ext, None)


class BackupSelection(Handler):
    """Emulated entirely: moto has no Create/Get/DeleteBackupSelection."""

    service = "backup"

    def observe(self, body: dict) -> Observation:
        s = self.aws.selections.get(external_name(body))
        if s is None:
            return Observation(False)
        return Observation(True, {**parameters(body), "id": external_name(body)})

    def create(self, body: dict) -> tuple[str, dict[str, str]]:
        fp = for_provider(body)
        plan = str(fp.get("planId") or "")
        try:
            self.c(body).get_backup_plan(BackupPlanId=plan)
        except ClientError as err:
            raise AWSError(f"creating Backup Selection: {err}") from err
        for f in ("iamRoleArn", "name"):
            if not fp.get(f):
                raise AWSError(
                    "operation error Backup: CreateBackupSelection, 1 validation error(s) "
                    f"found.\n- missing required field, {f}."
                )
        sid = secrets.token_hex(18)
        self.aws.selections[sid] = {
            "plan": plan,
            "name": fp["name"],
            "role": fp["iamRoleArn"],
            "resources": list(fp.get("resources") or []),
        }
        return sid, {}

    def delete(self, body: dict) -> None:
        self.aws.selections.pop(external_name(body), None)


HANDLERS: dict[tuple[str, str], type[Handler]] = {
    ("s3.aws.upbound.io", "Bucket"): Bucket,
    ("s3.aws.upbound.io", "BucketServerSideEncryptionConfiguration"): BucketEncryption,
    ("s3.aws.upbound.io", "BucketPublicAccessBlock"): BucketPublicAccessBlock,
    ("s3.aws.upbound.io", "BucketOwnershipControls"): BucketOwnershipControls,
    ("s3.aws.upbound.io", "BucketPolicy"): BucketPolicy,
    ("s3.aws.upbound.io", "BucketLifecycleConfiguration"): BucketLifecycle,
    ("kms.aws.upbound.io", "Key"): KmsKey,
    ("kms.aws.upbound.io", "Alias"): KmsAlias,
    ("iam.aws.upbound.io", "User"): IamUser,
    ("iam.aws.upbound.io", "Policy"): IamPolicy,
    ("iam.aws.upbound.io", "UserPolicyAttachment"): IamAttachment,
    ("iam.aws.upbound.io", "AccessKey"): IamAccessKey,
    ("iam.aws.upbound.io", "Role"): IamRole,
    ("iam.aws.upbound.io", "RolePolicyAttachment"): RoleAttachment,
    ("ec2.aws.upbound.io", "SecurityGroup"): SecurityGroup,
    ("ec2.aws.upbound.io", "SecurityGroupIngressRule"): SecurityGroupIngressRule,
    ("rds.aws.upbound.io", "ParameterGroup"): ParameterGroup,
    ("rds.aws.upbound.io", "SubnetGroup"): SubnetGroup,
    ("rds.aws.upbound.io", "Snapshot"): Snapshot,
    ("rds.aws.upbound.io", "Instance"): RdsInstance,
    ("backup.aws.upbound.io", "Vault"): BackupVault,
    ("backup.aws.upbound.io", "Plan"): BackupPlan,
    ("backup.aws.upbound.io", "Selection"): BackupSelection,
}


def describe_error(err: BaseException) -> str:
    """An AWS error as the message upjet reports (the SDK's text)."""
    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        op = getattr(err, "operation_name", "")
        return f"operation error {op}: api error {e.get('Code')}: {e.get('Message')}"
    return str(err)


__all__ = ["AWS", "HANDLERS", "AWSError", "Context", "Handler", "describe_error", "dig"]
