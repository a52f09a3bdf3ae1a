"""The user guide runs top to bottom as written (issue 28 item 1): every step's commands, in
order, applied from files that exist, every claim a step names applied before it, the sample
``kubectl get`` output what the manifests give, and the clean-up deleting everything created.
Replayed from the guide's own text (``tests/support/guide.py``), so ``make e2e`` can later run
the same extracted steps on a real control plane."""

from __future__ import annotations

import re

import pytest

from tests.support import guide


def test_the_user_guide_works_top_to_bottom():
    assert guide.check(guide.USER_GUIDE.read_text()) == []


def test_the_user_guide_has_both_flows_and_a_clean_up():
    found = guide.steps(guide.USER_GUIDE.read_text())
    applied = {
        a[a.index("-f") + 1]
        for s in found
        if s.kind == "sh"
        for a in s.commands()
        if a[1] == "apply"
    }
    for path in (
        "examples/objectstorageinstance/s3-instance-example.yaml",
        "examples/objectstoragebinding/s3-binding-example.yaml",
        "examples/postgresqlinstance/pg-instance-example.yaml",
        "examples/servicebinding/pg-binding-example.yaml",
        "examples/backup/backup-example.yaml",
        "examples/scheduledbackup/scheduledbackup-daily.yaml",
        "examples/postgresqlinstance/pg-instance-restore-backup.yaml",
    ):
        assert path in applied, path
    assert sum(s.kind == "output" for s in found) >= 3


OK_GUIDE = """
```sh
kubectl apply -f examples/postgresqlinstance/pg-instance-example.yaml
kubectl get postgresqlinstances.rds.aws.anynines.com -n default
```

```
NAME    SYNCED   READY   VERSION   PLAN
pg-db   True     True    16        single-nano
```

```sh
kubectl apply -f examples/servicebinding/pg-binding-example.yaml
kubectl get secret pg-binding-credentials -n default
```

```sh
kubectl delete -f examples/servicebinding/pg-binding-example.yaml
kubectl delete -f examples/postgresqlinstance/pg-instance-example.yaml
```
"""


def test_a_guide_that_works_passes():
    assert guide.check(OK_GUIDE, "ok") == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        # the guide: pg-db shown, never applied
        (
            ("kubectl apply -f examples/postgresqlinstance/pg-instance-example.yaml\n", ""),
            "references PostgresqlInstance pg-db",
        ),
        (
            ("pg-instance-example.yaml\nkubectl get", "pg-instance-examples.yaml\nkubectl get"),
            "not a file of the repository",
        ),
        (
            ("kubectl delete -f examples/postgresqlinstance/pg-instance-example.yaml\n", ""),
            "the clean-up leaves",
        ),
        (("16        single-nano", "17        single-nano"), "shows VERSION 17"),
        (("16        single-nano", "16        cluster-nano"), "shows PLAN cluster-nano"),
        (("pg-db   True", "example-instance   True"), "the sample output lists"),
        (("postgresqlinstances.rds.aws.anynines.com", "postgresqlinstances"), "with its group"),
        (("secret pg-binding-credentials", "secret someone-elses"), "which no claim writes"),
        (
            ("kubectl apply -f examples/servicebinding", "helm install -f examples/servicebinding"),
            "not a kubectl command",
        ),
    ],
)
def test_each_way_a_guide_breaks_is_found(change, problem):
    old, new = change
    assert old in OK_GUIDE
    found = guide.check(OK_GUIDE.replace(old, new, 1), "broken")
    assert any(problem in p for p in found), found


def test_a_manifest_from_a_named_yaml_block_is_applied():
    text = """
```yaml
# file: my-db.yaml
apiVersion: rds.aws.anynines.com/v1
kind: PostgresqlInstance
metadata: {name: my-db, namespace: default}
spec: {serviceVersion: "17", plan: single-small}
```

```sh
kubectl apply -f my-db.yaml
kubectl get postgresqlinstances.rds.aws.anynines.com my-db -n default
```

```
NAME    VERSION   PLAN
my-db   17        single-small
```

```sh
kubectl delete -f my-db.yaml
```
"""
    assert guide.check(text, "named") == []
    assert guide.check(text.replace("my-db   17", "my-db   16"), "named")


# ----- what make e2e runs (tests/e2e/test_guide.py): never silently nothing ---------------------


def test_every_step_make_e2e_cannot_run_as_written_is_marked():
    user = guide.steps(guide.USER_GUIDE.read_text())
    install = guide.install_steps(guide.OPERATOR_GUIDE.read_text())
    assert guide.mark_problems(user, "docs/user-guide.md") == []
    assert guide.mark_problems(install, "docs/operator-guide.md") == []
    first_claim = guide.section_steps(guide.OPERATOR_GUIDE.read_text(), "5.")
    assert guide.mark_problems(first_claim, "docs/operator-guide.md") == []
    assert [line for s in first_claim if s.kind == "sh" for line in s.lines()][-1] == (
        "kubectl delete -f first-db.yaml"
    )


def test_the_extractor_finds_what_make_e2e_runs():
    user = guide.steps(guide.USER_GUIDE.read_text())
    lines = [line for s in user if s.kind == "sh" and s.mark != "skip" for line in s.lines()]
    verbs = {line.split()[1] for line in lines}
    assert len(lines) >= 20, lines
    assert {"apply", "wait", "get", "delete"} <= verbs, verbs
    assert sum(s.mark == "pods" for s in user) == 2  # the two Deployments with envFrom
    install = guide.install_steps(guide.OPERATOR_GUIDE.read_text())
    run = [line for s in install if s.kind == "sh" and not s.mark for line in s.lines()]
    assert "kubectl apply -f environmentconfig.yaml" in run
    assert "kubectl apply -f crossplane-namespaces.yaml" in run
    assert {s.section.split()[0] for s in install} == {"1.", "2.", "3.", "4."}
    assert all(s.reason for s in install if s.mark == "skip")


MARKED = """
```yaml
# file: app.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec: {}
```

<!-- e2e: pods: no kubelet -->
```sh
kubectl apply -f app.yaml
```

<!-- e2e: skip: needs Docker -->
```sh
make build
```
"""


def test_a_marked_step_carries_its_mark_and_reason():
    found = [s for s in guide.steps(MARKED) if s.kind == "sh"]
    assert [(s.mark, s.reason) for s in found] == [
        ("pods", "no kubelet"),
        ("skip", "needs Docker"),
    ]
    assert guide.mark_problems(guide.steps(MARKED), "marked") == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("<!-- e2e: pods: no kubelet -->\n", ""), "needs <!-- e2e: pods"),
        (("<!-- e2e: skip: needs Docker -->\n", ""), "needs <!-- e2e: skip"),
        (("e2e: pods:", "e2e: pod:"), "unknown e2e mark"),
        (("kind: Deployment", "kind: ConfigMap"), "can run it as written"),
        (("e2e: skip: needs Docker", "e2e: skip: "), "gives no reason"),
        # a mark separated from its fence by prose marks nothing
        (("<!-- e2e: pods: no kubelet -->\n", "<!-- e2e: pods: no kubelet -->\nText.\n"), "pods"),
    ],
)
def test_a_lost_or_wrong_mark_is_found(change, problem):
    old, new = change
    assert old in MARKED
    found = guide.mark_problems(guide.steps(MARKED.replace(old, new, 1)), "broken")
    assert any(problem in p for p in found), found


def test_a_real_guide_step_that_loses_its_mark_is_found():
    text = guide.USER_GUIDE.read_text()
    mark = re.search(r"<!-- e2e: pods:.*?-->\n", text)
    assert mark
    broken = text.replace(mark.group(0), "", 1)
    assert any("needs <!-- e2e: pods" in p for p in guide.mark_problems(guide.steps(broken), "u"))


SAMPLE = """NAME    VERSION   PLAN          ENDPOINT                          SYNCED   READY
pg-db   16        single-nano   klutch-pg-db-0000.example:5432    True     True
"""
# As kubectl v1.35.4 printed a claim on the e2e's control plane: the claim's own printer
# columns first, then Crossplane's SYNCED, READY, CONNECTION-SECRET and AGE.
PRINTED = (
    "NAME    VERSION   PLAN          REPLICAS   ENDPOINT   SYNCED   READY   CONNECTION-SECRET   AGE\n"  # noqa: E501
    "pg-db   16        single-nano   0          lo:40123   True     True                        9m\n"  # noqa: E501
)


def test_a_sample_table_matches_kubectl_in_the_deterministic_columns():
    # ENDPOINT and AGE differ (uid hash, loopback, clock); the sample leaves columns out.
    assert guide.table_problems(SAMPLE, PRINTED) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("single-nano   0", "single-small  0", "PLAN: kubectl prints 'single-small'"),
        (
            "True     True                        9m",
            "True     False                       9m",
            "READY",
        ),
        ("pg-db   16", "pg-dx   16", "rows"),
        ("ENDPOINT   SYNCED", "HOST       SYNCED", "no column ENDPOINT"),
        (
            "NAME    VERSION   PLAN  ",
            "NAME    PLAN      VERSION",
            "kubectl prints them as ['NAME', 'PLAN', 'VERSION'",
        ),
    ],
)
def test_a_sample_table_kubectl_does_not_print_is_found(old, new, problem):
    assert old in PRINTED
    found = guide.table_problems(SAMPLE, PRINTED.replace(old, new, 1))
    assert any(problem in p for p in found), found
