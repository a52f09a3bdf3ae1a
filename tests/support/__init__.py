"""Helpers the test modules share. Test modules import from here, never from each other. (The
control-plane twin, which ``make render`` runs too, is ``tools/twin.py`` with
``tools/providers.py``.)

- ``responses``: calling the function in-process and reading its response;
- ``schemas``: upstream CRD schemas (Go modules by version, else ``../shared/schemas``) and
  validation against them;
- ``xrds``: the XRDs in ``xrds/`` and the spec schema of each kind;
- ``cel``: the XRDs' CEL rules, evaluated as the API server would;
- ``examples``: the examples per kind, rendered as Crossplane would (with required resources);
- ``iam``: rendering an ObjectStorageBinding, an IAM policy evaluator and DESIGN section 2's
  reference model of what each permission level may do;
- ``pg``: throwaway PostgreSQL servers and a provider-sql emulator that drives them.

``make lint`` runs ``tools/check_test_imports.py``, which rejects a ``tests/test_*.py`` that
imports another test module or ``tests.conftest`` (conftest.py holds fixtures only).
"""
