"""The ``idp`` command: Flask's CLI around the app factory.

Packages add their own groups (``clients``, ``keys``, ``citizens``...) in ``init_app`` through
``app.cli``; this module only provides the entry point and ``idp serve``.
"""

from __future__ import annotations

import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup

from idp.app import create_app
from idp.config import ConfigError
from idp.server import run


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False, set_debug_flag=False)
def cli() -> None:
    """idp: national electronic identification server.

    Configured by IDP_* environment variables (see README). Example:

        IDP_ISSUER=https://id.example.gov idp db upgrade && idp serve --port 8000
    """


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 256),
              help="Threads per worker (gthread).")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the app with gunicorn, in the foreground (the container image runs granian instead).

    Example: idp serve --host 0.0.0.0 --port 8000 --workers 4
    """
    # gunicorn's own variable for its worker count; idp.auth.password shares the cores among them.
    os.environ["WEB_CONCURRENCY"] = str(workers)
    run(current_app._get_current_object(), host=host, port=port, workers=workers, threads=threads)


def main() -> None:
    """Console entry point: a configuration problem is one line on stderr and exit code 2."""
    try:
        cli.main(prog_name="idp")
    except ConfigError as exc:
        click.echo(f"idp: configuration error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
