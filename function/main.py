"""The ``function`` console script: serve RunFunction over gRPC."""

from typing import Any

import click
from crossplane.function import cli as sdkcli

from function import fn, server
from function.cache import DEFAULT_MAX_BYTES


@click.command()
@sdkcli.standard_options
@click.option(
    "--cache-bytes",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    envvar="FUNCTION_CACHE_BYTES",
    help="Memory for answers kept by request content, so an unchanged claim is not rendered "
    "again (1 to 12 KB per answer; 0 turns the cache off).",
)
@click.option(
    "--cache-entries",
    type=click.IntRange(min=0),
    default=None,
    envvar="FUNCTION_CACHE_ENTRIES",
    help="Also keep at most this many answers (default: bounded by --cache-bytes only; "
    "0 turns the cache off).",
)
def cli(cache_bytes: int, cache_entries: int | None, **kwargs: Any) -> None:
    """function-klutch-aws: renders AWS S3 and RDS PostgreSQL resources for klutch claims.

    Flags: --insecure, --address (default 0.0.0.0:9443), --tls-certs-dir (env
    TLS_SERVER_CERTS_DIR; tls.crt, tls.key and ca.crt, mTLS), --debug, --cache-bytes
    (env FUNCTION_CACHE_BYTES), --cache-entries (env FUNCTION_CACHE_ENTRIES).
    """
    server.run(fn.FunctionRunner(cache_bytes, cache_entries), **kwargs)


if __name__ == "__main__":
    cli()
