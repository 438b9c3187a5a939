"""``idp orgs`` (the organisation registry and organisations' members) and ``idp relations``
(parents and guardians). Every change is audited as ``admin:<OS user>``; ``--json`` prints
one JSON document."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from idp.audit.log import admin_actor, record
from idp.cli_output import emit, fail, json_option
from idp.db import db
from idp.identifiers import SCHEMES
from idp.orgs import members, registry, relations
from idp.orgs.models import Organisation

orgs_cli = AppGroup("orgs", help="Organisations: the registry, their accounts and members.")
relations_cli = AppGroup("relations", help="Parents and guardians who may act for a child.")


def _import(import_function, csv_file: str, action: str, as_json: bool, *args) -> None:
    with open(csv_file, encoding="utf-8-sig", newline="") as handle:
        try:
            result = import_function(handle, *args)
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
    record(action, actor=admin_actor(), details={"created": result.created, "updated": result.updated})
    db.session.commit()
    emit({"created": result.created, "updated": result.updated}, as_json,
         lambda d: [f"imported {d['created']} new and {d['updated']} updated rows"])


@orgs_cli.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@json_option
def import_command(csv_file: str, as_json: bool) -> None:
    """Load organisations from a UTF-8 CSV file; all rows or none.

    Columns: identifier, scheme (vn-tax-code or ru-ogrn), name, legal_representative (a
    personal identifier of the population registry), address, registered_on (YYYY-MM-DD), and
    optionally status (active or dissolved). Known organisations are updated.

    Example: idp orgs import scripts/demo_organisations.csv
    """
    _import(registry.import_csv, csv_file, "orgs.import", as_json)


def _organisation(identifier: str) -> Organisation:
    organisation = registry.find(identifier)
    if organisation is None:
        raise fail("no organisation in the registry has this number")
    return organisation


def _summary(organisation: Organisation) -> dict:
    return {"id": organisation.identifier, "scheme": organisation.scheme, "name": organisation.name,
            "legal_representative": organisation.representative,
            "address": organisation.address, "registered_on": organisation.registered_on.isoformat(),
            "status": organisation.status,
            "activated_at": organisation.activated_at.isoformat(timespec="seconds")
            if organisation.activated_at else None,
            "members": len(organisation.members)}


@orgs_cli.command("show")
@click.argument("identifier")
@json_option
def show_command(identifier: str, as_json: bool) -> None:
    """Print an organisation of the registry and the state of its account.

    Example: idp orgs show 0100233488 --json
    """
    emit(_summary(_organisation(identifier)), as_json)


@orgs_cli.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """List the organisations of the registry.

    Example: idp orgs list --json
    """
    rows = [_summary(o) for o in db.session.scalars(db.select(Organisation).order_by(Organisation.name))]
    emit(rows, as_json, lambda data: [
        f"{r['id']:14} {r['scheme']:12} {'active' if r['activated_at'] else 'not activated':14} {r['name']}"
        for r in data])


def _member_rows(organisation: Organisation) -> list[dict]:
    rows = []
    for member in organisation.members:
        held = members.identifier_of(member.citizen_id)
        rows.append({"identifier": held.value if held else None, "roles": list(member.roles),
                     "added_at": member.added_at.isoformat(timespec="seconds")})
    return rows


@orgs_cli.command("members")
@click.argument("identifier")
@json_option
def members_command(identifier: str, as_json: bool) -> None:
    """List an organisation's members and their roles.

    Example: idp orgs members 0100233488 --json
    """
    emit(_member_rows(_organisation(identifier)), as_json,
         lambda data: [f"{r['identifier']}  {','.join(r['roles'])}" for r in data] or ["no members"])


def _change(identifier: str, person: str, change) -> None:
    organisation = _organisation(identifier)
    try:
        citizen = members.find_citizen(person, current_app.config["IDP"].identifier_scheme)
        change(organisation, citizen)
    except members.MembershipProblem as problem:
        raise fail(str(problem)) from None
    db.session.commit()


@orgs_cli.command("add-member")
@click.argument("identifier")
@click.argument("person")
@click.option("--role", "roles", multiple=True, default=["employee"], show_default=True,
              help="A role to give (repeat for several): admin, employee, or the organisation's own.")
@json_option
def add_member_command(identifier: str, person: str, roles: tuple[str, ...], as_json: bool) -> None:
    """Add the citizen with national identifier PERSON to an activated organisation.

    Example: idp orgs add-member 0100233488 079190320381 --role employee --role accountant
    """
    def change(organisation, citizen):
        members.add_member(organisation, citizen, list(roles), actor_id=None, actor=admin_actor())
    _change(identifier, person, change)
    emit(_member_rows(_organisation(identifier)), as_json, lambda d: ["added"])


@orgs_cli.command("remove-member")
@click.argument("identifier")
@click.argument("person")
@json_option
def remove_member_command(identifier: str, person: str, as_json: bool) -> None:
    """Remove a member: they can no longer act for the organisation, and the tokens they hold
    for it stop working at once.

    Example: idp orgs remove-member 0100233488 079190320381
    """
    def change(organisation, citizen):
        member = members.membership(organisation, citizen.id)
        if member is None:
            raise members.MembershipProblem("not_member", "this person is not a member")
        members.remove_member(organisation, member, actor_id=None, actor=admin_actor())
    _change(identifier, person, change)
    emit(_member_rows(_organisation(identifier)), as_json, lambda d: ["removed"])


@orgs_cli.command("set-role")
@click.argument("identifier")
@click.argument("person")
@click.option("--role", "roles", multiple=True, required=True,
              help="The member's roles from now on (repeat for several).")
@json_option
def set_role_command(identifier: str, person: str, roles: tuple[str, ...], as_json: bool) -> None:
    """Replace a member's roles. Tokens naming the old roles stop working.

    Example: idp orgs set-role 0100233488 079190320381 --role admin
    """
    def change(organisation, citizen):
        member = members.membership(organisation, citizen.id)
        if member is None:
            raise members.MembershipProblem("not_member", "this person is not a member")
        members.set_roles(organisation, member, list(roles), actor_id=None, actor=admin_actor())
    _change(identifier, person, change)
    emit(_member_rows(_organisation(identifier)), as_json, lambda d: ["roles set"])


@relations_cli.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--scheme", type=click.Choice(sorted(SCHEMES)), default=None,
              help="Scheme of rows without a scheme column (default: IDP_IDENTIFIER_SCHEME).")
@json_option
def relations_import_command(csv_file: str, scheme: str | None, as_json: bool) -> None:
    """Load parents and guardians from a UTF-8 CSV file; all rows or none.

    Columns: parent_identifier, child_identifier, kind (parent or guardian), and optionally
    scheme. Both must be in the population registry; the child under 18.

    Example: idp relations import scripts/demo_relations.csv
    """
    _import(relations.import_csv, csv_file, "relations.import", as_json,
            scheme or current_app.config["IDP"].identifier_scheme)
