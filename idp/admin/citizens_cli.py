"""``idp citizens``: accounts managed by administrators (enrolment at a counter, locks,
assurance level, second-factor reset, sessions).

Thin over :mod:`idp.accounts.services`, :mod:`idp.auth.sessions` and :mod:`idp.auth.mfa_reset`.
A citizen is named by national number, email, phone or account uid. Personal data go to stdout
for the admin who asked, never into the audit log (only the account's internal id).
"""

from __future__ import annotations

import csv
from datetime import date

import click
from flask.cli import AppGroup

from idp.accounts import notices, services
from idp.accounts.joined_services import joined_clients
from idp.audit.log import admin_actor
from idp.auth import app_devices
from idp.auth import sessions as sso
from idp.auth.mfa_reset import reset_second_factors
from idp.citizens.models import Citizen
from idp.cli_output import audit, emit, fail, json_option
from idp.db import db
from idp.oidc.tokens.ending import end_citizen_tokens

citizens_cli = AppGroup("citizens", help="Citizen accounts.")

MAX_IMPORT_ROWS = 100_000


def _citizen(reference: str) -> Citizen:
    citizen = services.find_for_admin(reference)
    if citizen is None:
        raise fail("no citizen account matches this reference")
    return citizen


def describe(citizen: Citizen) -> dict:
    held = services.national_identifier(citizen)
    return {
        "id": citizen.id, "uid": citizen.uid,
        "national_id": held.value if held else None, "scheme": held.scheme if held else None,
        "full_name": citizen.full_name, "birthdate": citizen.birthdate.isoformat(),
        "gender": citizen.gender, "email": citizen.email, "phone": citizen.phone,
        "level": citizen.level,
        "locked": citizen.locked_until is not None,
        "lock_reason": citizen.lock_reason,
        "created_at": citizen.created_at.isoformat(timespec="seconds") if citizen.created_at else None,
    }


def _problem(exc: services.AccountProblem):
    return fail(f"{exc.field}: {exc.message}")


@citizens_cli.command("create")
@click.option("--national-id", required=True, help="National identification number.")
@click.option("--full-name", required=True, help="Full name, as in the population registry.")
@click.option("--birthdate", required=True, type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD")
@click.option("--gender", required=True, type=click.Choice(["male", "female"]))
@click.option("--email", default=None)
@click.option("--phone", default=None)
@click.option("--level", type=click.IntRange(1, 2), default=1, show_default=True,
              help="Assurance level: 2 = identity verified in person.")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the initial password from the first line of standard input.")
@json_option
def create_command(national_id: str, full_name: str, birthdate, gender: str, email: str | None,
                   phone: str | None, level: int, password_stdin: bool, as_json: bool) -> None:
    """Create an account for a person of the population registry (checked against it).

    Example:

    \b
        printf '%s\\n' "$PASSWORD" | idp citizens create --national-id 001085012345 \\
            --full-name "Nguyễn Văn An" --birthdate 1985-01-02 --gender male --level 2 \\
            --password-stdin --json
    """
    password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    if not password:
        raise fail("no password on standard input")
    try:
        citizen = services.enroll(identifier=national_id, full_name=full_name,
                                  birthdate=birthdate.date(), gender=gender, email=email, phone=phone,
                                  level=level, password=password, actor=admin_actor())
    except services.AccountProblem as exc:
        raise _problem(exc) from None
    db.session.commit()
    data = describe(citizen)
    emit(data, as_json, lambda d: [f"created citizen {d['id']} (uid {d['uid']}), level {d['level']}"])


@citizens_cli.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@json_option
def import_command(csv_file, as_json: bool) -> None:
    """Create accounts from a UTF-8 CSV file; all rows or none.

    Columns: national_id, full_name, birthdate (YYYY-MM-DD), gender, and optionally email,
    phone, level. Every row must agree with the population registry. Accounts are created
    WITHOUT a password: they sign in by another method (a certificate) or once a password is
    set (`idp citizens set-password`); nothing secret travels in the file.

    Example: idp citizens import counter-enrolments.csv --json
    """
    try:
        reader = csv.DictReader(csv_file)
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise fail(f"the file is not a readable UTF-8 CSV ({exc.__class__.__name__})") from None
    required = {"national_id", "full_name", "birthdate", "gender"}
    if missing := required - set(reader.fieldnames or []):
        raise fail(f"missing columns: {', '.join(sorted(missing))}")
    if len(rows) > MAX_IMPORT_ROWS:
        raise fail(f"at most {MAX_IMPORT_ROWS} rows per file")
    created, errors = [], []
    for number, row in enumerate(rows, start=2):
        try:
            birthdate = date.fromisoformat((row.get("birthdate") or "").strip())
            level = int((row.get("level") or "1").strip())
            # enroll() checks everything before adding anything, so a refused row leaves
            # nothing behind (no savepoint: pysqlite's would commit the earlier rows).
            citizen = services.enroll(
                identifier=row["national_id"] or "", full_name=row["full_name"] or "",
                birthdate=birthdate, gender=(row["gender"] or "").strip(),
                email=row.get("email") or None, phone=row.get("phone") or None, level=level,
                password=None, actor=admin_actor())
            created.append(citizen.id)
        except ValueError:
            errors.append(f"line {number}: birthdate must be YYYY-MM-DD and level 1 or 2")
        except services.AccountProblem as exc:
            errors.append(f"line {number}: {exc.field}: {exc.message}")
    if errors:
        db.session.rollback()
        for error in errors[:50]:
            click.echo(f"idp: {error}", err=True)
        raise fail(f"nothing was imported ({len(errors)} bad rows)")
    audit("citizen.import", details={"created": len(created)})
    db.session.commit()
    emit({"created": len(created), "ids": created}, as_json,
         lambda d: [f"created {d['created']} accounts"])


@citizens_cli.command("show")
@click.argument("reference")
@json_option
def show_command(reference: str, as_json: bool) -> None:
    """Print an account (national number, email, phone or uid).

    Example: idp citizens show 001085012345 --json
    """
    emit(describe(_citizen(reference)), as_json)


@citizens_cli.command("lock")
@click.argument("reference")
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@json_option
def lock_command(reference: str, reason: str, as_json: bool) -> None:
    """Lock an account until unlocked, ending every session (with back-channel logout).

    Example: idp citizens lock 001085012345 --reason "reported stolen identity card"
    """
    citizen = _citizen(reference)
    try:
        ended = services.lock(citizen, reason, actor=admin_actor())
    except services.AccountProblem as exc:
        raise _problem(exc) from None
    emit({"id": citizen.id, "locked": True, "sessions_ended": ended}, as_json,
         lambda d: [f"locked citizen {d['id']}; {ended} session(s) ended"])


@citizens_cli.command("unlock")
@click.argument("reference")
@json_option
def unlock_command(reference: str, as_json: bool) -> None:
    """Lift an administrator's lock.

    Example: idp citizens unlock 001085012345
    """
    citizen = _citizen(reference)
    services.unlock(citizen, actor=admin_actor())
    db.session.commit()
    emit({"id": citizen.id, "locked": False}, as_json, lambda d: [f"unlocked citizen {d['id']}"])


@citizens_cli.command("set-level")
@click.argument("reference")
@click.argument("level", type=click.IntRange(1, 2))
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@json_option
def set_level_command(reference: str, level: int, reason: str, as_json: bool) -> None:
    """Set the assurance level (2 = identity verified in person).

    Example: idp citizens set-level 001085012345 2 --reason "checked ID card at counter 4"
    """
    citizen = _citizen(reference)
    try:
        services.set_level(citizen, level, reason, actor=admin_actor())
    except services.AccountProblem as exc:
        raise _problem(exc) from None
    db.session.commit()
    emit({"id": citizen.id, "level": level}, as_json, lambda d: [f"citizen {d['id']} is now level {level}"])


@citizens_cli.command("reset-mfa")
@click.argument("reference")
@json_option
def reset_mfa_command(reference: str, as_json: bool) -> None:
    """Remove every second factor (authenticator apps, recovery codes, passkeys); the password stays.

    Example: idp citizens reset-mfa 001085012345
    """
    citizen = _citizen(reference)
    removed = reset_second_factors(citizen.id, actor=admin_actor())
    notices.notify(citizen, "second_factor_removed", method="all")
    db.session.commit()
    emit({"id": citizen.id, "removed": removed}, as_json,
         lambda d: [f"citizen {d['id']}: removed " + ", ".join(f"{v} {k}" for k, v in removed.items())])


@citizens_cli.command("sessions")
@click.argument("reference")
@json_option
def sessions_command(reference: str, as_json: bool) -> None:
    """List the account's live sign-in sessions, each with the services (relying parties)
    that joined it, as the account page shows them.

    Example: idp citizens sessions 001085012345 --json
    """
    citizen = _citizen(reference)
    live = sso.sessions_of(citizen.id)
    joined = joined_clients(live)
    rows = [{"sid": s.sid, "created_at": s.created_at.isoformat(timespec="seconds"),
             "last_seen_at": s.last_seen_at.isoformat(timespec="seconds"),
             "expires_at": s.expires_at.isoformat(timespec="seconds"),
             "acr": s.acr, "amr": list(s.amr), "ip_address": s.ip_address,
             "services": [{"client_id": client_id, "name": name} for client_id, name in joined[s.id]]}
            for s in live]
    emit(rows, as_json, lambda rows: [
        f"{r['sid']}  since {r['created_at']}  seen {r['last_seen_at']}  {r['acr']}  "
        f"{r['ip_address'] or ''}\n    services: "
        + (", ".join(f"{j['name']} ({j['client_id']})" for j in r["services"]) or "no service yet")
        for r in rows] or ["no live session"])


@citizens_cli.command("set-password")
@click.argument("reference")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the password from the first line of standard input.")
@json_option
def set_password_command(reference: str, password_stdin: bool, as_json: bool) -> None:
    """Set the account's password (an imported account has none), replacing any it had, and
    end its sessions: whoever knew the old one is signed out.

    Example: printf '%s\\n' "$PASSWORD" | idp citizens set-password 001085012345 --password-stdin
    """
    citizen = _citizen(reference)
    password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    if not password:
        raise fail("no password on standard input")
    try:
        replaced = services.set_password(citizen, password, actor=admin_actor())
    except services.AccountProblem as exc:
        raise _problem(exc) from None
    ended = sso.end_all_sessions(citizen.id, "password_set")
    db.session.commit()
    emit({"id": citizen.id, "replaced": replaced, "sessions_ended": ended}, as_json,
         lambda d: [f"citizen {d['id']}: password {'replaced' if replaced else 'set'}, "
                    f"{ended} session(s) ended"])


@citizens_cli.command("logout")
@click.argument("reference")
@json_option
def logout_command(reference: str, as_json: bool) -> None:
    """End every session of the account now (relying parties get back-channel logout), and
    every token relying parties hold for it.

    Example: idp citizens logout 001085012345
    """
    citizen = _citizen(reference)
    audit("citizen.logout_all", citizen_id=citizen.id)
    end_citizen_tokens(citizen.id, "admin_logout")
    ended = sso.end_all_sessions(citizen.id, "admin_logout")
    emit({"id": citizen.id, "sessions_ended": ended}, as_json,
         lambda d: [f"citizen {d['id']}: {ended} session(s) ended"])


@citizens_cli.command("devices")
@click.argument("reference")
@json_option
def devices_command(reference: str, as_json: bool) -> None:
    """List the identity apps enrolled on the account (public keys only are kept).

    Example: idp citizens devices 001085012345 --json
    """
    citizen = _citizen(reference)
    rows = [app_devices.describe(d) for d in app_devices.devices_of(citizen.id)]
    emit(rows, as_json, lambda rows: [
        f"{r['device_id']}  {r['name']}  added {r['created_at']}  last used {r['last_used_at'] or '-'}"
        for r in rows] or ["no identity app"])


@citizens_cli.command("remove-device")
@click.argument("reference")
@click.argument("device_id")
@json_option
def remove_device_command(reference: str, device_id: str, as_json: bool) -> None:
    """Remove an identity app from the account (a lost phone): its key signs nothing any more.

    Example: idp citizens remove-device 001085012345 Zx3...
    """
    citizen = _citizen(reference)
    if not app_devices.remove(citizen.id, device_id, actor=admin_actor()):
        raise fail("the account has no identity app with this device id")
    db.session.commit()
    emit({"id": citizen.id, "removed": device_id}, as_json,
         lambda d: [f"citizen {d['id']}: identity app {device_id} removed"])
