"""Helpers the test modules share. Test modules import from here, never from each other.

- ``responses``: calling the function in-process and reading its response;
- ``schemas``: upstream CRD schemas from ``../shared/schemas`` and validation against them;
- ``xrds``: the XRDs in ``xrds/`` and the spec schema of each kind;
- ``cel``: the XRDs' CEL rules, evaluated as the API server would;
- ``examples``: the examples per kind, rendered as Crossplane would (with required resources);
- ``iam``: rendering an ObjectStorageBinding, an IAM policy evaluator and DESIGN section 2's
  reference model of what each permission level may do;
- ``crossplane``: a control-plane twin (fake cluster, Crossplane's composite reconciler calling
  the function as its function runner does, the providers of ``providers``);
- ``providers``: what the providers publish on the managed resources we render, per kind;
- ``pg``: throwaway PostgreSQL servers and a provider-sql emulator that drives them.

``make lint`` runs ``tools/check_test_imports.py``, which rejects a ``tests/test_*.py`` that
imports another test module or ``tests.conftest`` (conftest.py holds fixtures only).
"""
