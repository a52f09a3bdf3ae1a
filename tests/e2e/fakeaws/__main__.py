"""Run the AWS provider side of ``make e2e`` against a real API server and moto.

    python -m tests.e2e.fakeaws --kubeconfig PATH --aws-endpoint https://127.0.0.1:PORT \\
        [--aws-ca CA_FILE] [--interval 1] [--poll 60] [--no-postgres] [--log-level info]

It reconciles every managed kind the function renders (``model.KINDS``), at the CRDs' storage
versions, until SIGTERM/SIGINT; then it stops the PostgreSQL servers it started. One log line
per write: ``write <Kind>/<name> <what> rv <old>-><new>``.

moto must run with ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` (AWS-managed policies such as
``AWSBackupServiceRolePolicyForBackup`` exist only then) and, when IAM enforcement is on, an
``INITIAL_NO_AUTH_ACTION_COUNT`` of at least 4: at start this creates its own IAM user allowed
everything (create_user, put_user_policy, create_access_key, then signed calls).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from kubernetes import config as kconfig

from .aws import AWS
from .controller import Controller
from .model import KINDS
from .postgres import Servers


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.e2e.fakeaws",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kubeconfig", required=True, help="kubeconfig of the API server (admin)")
    p.add_argument(
        "--aws-endpoint", required=True, help="moto server URL, e.g. https://127.0.0.1:5000"
    )
    p.add_argument(
        "--aws-ca", default=None, help="CA file verifying moto's serving cert (TLS endpoints)"
    )
    p.add_argument(
        "--interval", type=float, default=1.0, help="seconds between passes over every kind (1)"
    )
    p.add_argument(
        "--poll",
        type=float,
        default=60.0,
        help="seconds before an unchanged, healthy MR is observed again (60: crossplane-runtime's "
        "default; provider-upjet-aws's --poll default is 10m)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="MRs reconciled at once (1: in passes, one after the other, as make e2e runs it; "
        "more: from a work queue by that many workers, as make bench-scale asks)",
    )
    p.add_argument(
        "--no-postgres",
        action="store_true",
        help="start no PostgreSQL server for rds Instances (their endpoint is then moto's)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    api = kconfig.new_client_from_config(config_file=args.kubeconfig)
    postgres = None
    if not args.no_postgres:
        postgres = Servers()
    stopping = []

    def stop(signum: int, _frame: object) -> None:
        logging.getLogger("fakeaws").info("signal %d: stopping", signum)
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    aws = AWS(args.aws_endpoint, verify=args.aws_ca)
    aws.bootstrap()  # before moto's INITIAL_NO_AUTH_ACTION_COUNT runs out
    ctl = Controller(api, aws, postgres, args.interval, args.poll, workers=args.workers)
    logging.getLogger("fakeaws").info(
        "fakeaws: reconciling %d kinds against %s", len(KINDS), args.aws_endpoint
    )
    try:
        ctl.run(lambda: bool(stopping))
    finally:
        if postgres is not None:
            postgres.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
