"""``idp registry``: load and inspect the population registry."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from idp.audit.log import admin_actor, record
from idp.citizens import registry
from idp.citizens.messages import identifier_message
from idp.cli_output import emit, json_option
from idp.db import db
from idp.identifiers import SCHEMES, InvalidIdentifier, get_scheme

registry_cli = AppGroup("registry", help="The population registry citizens are checked against.")


@registry_cli.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--scheme", type=click.Choice(sorted(SCHEMES)), default=None,
              help="Scheme of rows without a scheme column (default: IDP_IDENTIFIER_SCHEME).")
@json_option
def import_command(csv_file: str, scheme: str | None, as_json: bool) -> None:
    """Load people from a UTF-8 CSV file; all rows or none.

    Columns: identifier, full_name, birthdate (YYYY-MM-DD), gender (male/female), and
    optionally scheme, place_of_birth, address, document_number. Existing numbers are updated.

    Example: idp registry import scripts/demo_registry.csv
    """
    default_scheme = scheme or current_app.config["IDP"].identifier_scheme
    with open(csv_file, encoding="utf-8-sig", newline="") as handle:
        try:
            result = registry.import_csv(handle, default_scheme)
        except UnicodeDecodeError:
            click.echo("idp: the file is not UTF-8 text", err=True)
            sys.exit(1)
    if result.errors:
        db.session.rollback()
        for error in result.errors[:50]:
            click.echo(error, err=True)
        if len(result.errors) > 50:
            click.echo(f"... and {len(result.errors) - 50} more", err=True)
        click.echo("idp: nothing was imported", err=True)
        sys.exit(1)
    record("registry.import", actor=admin_actor(),
           details={"created": result.created, "updated": result.updated})
    db.session.commit()
    emit({"created": result.created, "updated": result.updated}, as_json,
         lambda d: [f"imported {d['created']} new and {d['updated']} updated registry entries"])


@registry_cli.command("show")
@click.argument("identifier")
@click.option("--scheme", type=click.Choice(sorted(SCHEMES)), default=None,
              help="Scheme of the number (default: IDP_IDENTIFIER_SCHEME).")
@json_option
def show_command(identifier: str, scheme: str | None, as_json: bool) -> None:
    """Print the registry entry of a national identifier.

    Example: idp registry show 001085012345 --json
    """
    chosen = get_scheme(scheme or current_app.config["IDP"].identifier_scheme)
    try:
        value = chosen.parse(identifier)
    except InvalidIdentifier as exc:
        click.echo(f"idp: {identifier_message(exc.part)}", err=True)
        sys.exit(1)
    entry = registry.lookup(chosen.name, value)
    if entry is None:
        click.echo("idp: no registry entry has this number", err=True)
        sys.exit(1)
    facts = chosen.facts(value)
    rows = [
        ("scheme", entry.scheme),
        ("identifier", chosen.display(entry.identifier)),
        ("full name", entry.full_name),
        ("birth date", entry.birthdate.isoformat()),
        ("gender", entry.gender),
        ("place of birth", entry.place_of_birth or ""),
        ("address", entry.address or ""),
        ("document number", entry.document_number or ""),
        ("imported at", entry.imported_at.isoformat(timespec="seconds")),
    ]
    if facts.region_name:
        rows.append(("registered in", f"{facts.region_code} {facts.region_name}"))
    if as_json:
        emit({label.replace(" ", "_"): text for label, text in rows}, True)
        return
    for label, text in rows:
        click.echo(f"{label:16} {text}")
