"""The ``function`` console script: serve RunFunction over gRPC."""

import click
from crossplane.function import cli as sdkcli

from function import fn


@click.command()
@sdkcli.standard_options
def cli(**kwargs) -> None:
    """function-klutch-aws: renders AWS S3 and RDS PostgreSQL resources for klutch claims.

    Flags: --insecure, --address (default 0.0.0.0:9443), --tls-certs-dir (env
    TLS_SERVER_CERTS_DIR; tls.crt, tls.key and ca.crt, mTLS), --debug.
    """
    sdkcli.run(fn.FunctionRunner(), **kwargs)


if __name__ == "__main__":
    cli()
