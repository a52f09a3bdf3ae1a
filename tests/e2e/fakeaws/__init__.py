"""fakeaws: the AWS provider side of ``make e2e``.

provider-upjet-aws v2.6.0 does not fit CI (every family compiles the whole Terraform AWS
provider), so its CRDs are installed as they are and this controller does, for the kinds the
function renders, what upjet and crossplane-runtime do (each behaviour cites its upstream file):

- ``model.py``: the kinds (storage versions), external-name rules, reference tables, conditions,
  management policies, the TagInitializer, reference resolution and the resolver's apply body,
  late initialization: pure functions on dicts;
- ``controller.py``: crossplane-runtime's managed reconciler against a real API server (one
  MR after another, in passes; ``--workers N`` reconciles N at once from a work queue, for
  ``make bench-scale``);
- ``aws.py``: Terraform's create/read/update/delete per kind, as boto3 calls against moto;
- ``postgres.py``: one real PostgreSQL server per rds Instance (its endpoint).

Real (moto answers): S3 buckets, tagging, encryption, public access block, ownership controls,
policy, lifecycle; IAM users, policies (versions), user/role policy attachments, access keys,
roles; KMS keys (rotation, scheduled deletion) and aliases; RDS instances (create, read replica,
restore from snapshot and to a point in time, modify, delete with final snapshot), parameter
groups, subnet groups, snapshots; EC2 security groups and ingress rules; AWS Backup vaults and
plans (create, get, delete).

Emulated here, because moto 5.2.5 has no such operation:
- AWS Backup selections (CreateBackupSelection, GetBackupSelection, DeleteBackupSelection): kept
  in this process, checked against the plan in moto; a plan with selections refuses deletion as
  AWS does;
- UpdateBackupPlan: the new rules and a new version id are kept in this process;
- AWS Backup vaults and plans too, when moto has IAM enforcement on
  (``INITIAL_NO_AUTH_ACTION_COUNT``): moto 5.2.5 then refuses every signed Backup GET and
  DELETE (SignatureDoesNotMatch: its iam/access_control.py re-signs them with the parsed
  parameters as payload). The controller checks at start and logs which it uses;
- S3 GetBucketRequestPayment (Terraform's bucket Read): ``requestPayer`` is reported as
  ``BucketOwner`` without a call;
- RDS's refusal of a ModifyDBInstance ``AllocatedStorage`` below a restore source's size, and
  of a new major ``EngineVersion`` without ``AllowMajorVersionUpgrade`` (moto accepts both);
  DescribeDBEngineVersions is not called (nothing here needs it). The engine's PostgreSQL
  server keeps its binary's version whatever ``EngineVersion`` moto reports;
- RDS's refusal of DeleteDBParameterGroup while an instance is a member
  (InvalidDBParameterGroupState): moto deletes the group and then fails every
  DescribeDBInstances of the member (HTTP 500), so that instance could never be deleted;
- the rds Instance's DbiResourceId (its external name): moto answers one constant for every
  instance; a stable id per instance (its ARN and creation time) is reported instead;
- the rds Instance's LatestRestorableTime: moto answers the time of the request, RDS moves it
  once per 5-minute transaction-log upload (``aws.latest_restorable_time``), so a resting
  instance's ``atProvider`` does not change on every poll.

moto is reached over TLS (``--aws-ca``), through ``tests/e2e/motoserver.py``, which evaluates
bucket policies as AWS does for a request over TLS (``aws:SecureTransport`` true).

Not modelled: upjet's async operations (Create runs to the end in one reconcile; no
``LastAsyncOperation`` condition), ProviderConfigUsage objects, the management-policy
combination check (``Validate``), late initialization of kinds other than the rds Instance,
update diffs beyond the fields each handler compares. Emulated state (selections, plan updates,
access-key secrets, PostgreSQL servers) lives in this process: restart it and they are gone
(a selection is created again under a new id; an instance gets a new, empty server on a new
port, with the password its Secret holds; an access key's Secret keeps its secret).
"""
