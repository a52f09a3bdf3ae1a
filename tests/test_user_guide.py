"""The user guide runs top to bottom as written (issue 28 item 1): every step's commands, in
order, applied from files that exist, every claim a step names applied before it, the sample
``kubectl get`` output what the manifests give, and the clean-up deleting everything created.
Replayed from the guide's own text (``tests/support/guide.py``), so ``make e2e`` can later run
the same extracted steps on a real control plane."""

from __future__ import annotations

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
