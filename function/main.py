"""The ``function`` console script: serve RunFunction over gRPC."""

from typing import Any

import click
from crossplane.function import cli as sdkcli

from function import fn
from function.cache import DEFAULT_MAX_ENTRIES


@click.command()
@sdkcli.standard_options
@click.option(
    "--cache-entries",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_ENTRIES,
    show_default=True,
    envvar="FUNCTION_CACHE_ENTRIES",
    help="Answers kept by request tag, so an unchanged claim is not rendered again "
    "(about 5 KB each; 0 turns the cache off).",
)
def cli(cache_entries: int, **kwargs: Any) -> None:
    """function-klutch-aws: renders AWS S3 and RDS PostgreSQL resources for klutch claims.

    Flags: --insecure, --address (default 0.0.0.0:9443), --tls-certs-dir (env
    TLS_SERVER_CERTS_DIR; tls.crt, tls.key and ca.crt, mTLS), --debug, --cache-entries
    (env FUNCTION_CACHE_ENTRIES).
    """
    sdkcli.run(fn.FunctionRunner(cache_entries), **kwargs)


if __name__ == "__main__":
    cli()
