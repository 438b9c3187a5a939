"""``idp audit``: read the newest events, verify the hash chain, export for a SIEM."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime

import click
from flask.cli import with_appcontext

from idp.audit.log import Anchor, as_dict, head, iter_events, latest, verify_chain


class _Timestamp(click.ParamType):
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""

    name = "timestamp"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        text = value.strip()
        try:
            if len(text) == 10:
                parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
            else:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or date-time (2026-01-31 or "
                      "2026-01-31T08:00:00Z)", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _AnchorType(click.ParamType):
    name = "anchor"

    def convert(self, value, param, ctx):
        try:
            return Anchor.parse(value.strip())
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _line(event) -> str:
    data = as_dict(event)
    who = [f"citizen={data['citizen_id']}" if data["citizen_id"] is not None else "",
           f"client={data['client_id']}" if data["client_id"] else "",
           f"ip={data['ip_address']}" if data["ip_address"] else ""]
    details = json.dumps(data["details"], ensure_ascii=False, sort_keys=True) if data["details"] else ""
    parts = [f"{data['id']:>8}", data["at"], data["action"], data["outcome"], data["actor"], *who, details]
    return "  ".join(p for p in parts if p)


def _json_line(event) -> str:
    return json.dumps(as_dict(event), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@click.group("audit")
def audit() -> None:
    """Read, verify and export the hash-chained audit log.

    \b
    Example:
        idp audit verify && idp audit tail -n 20
    """


@audit.command("tail")
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(1, 100_000),
              help="How many of the newest events to show.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per line (JSON Lines), with each event's hashes.")
@with_appcontext
def tail(count: int, as_json: bool) -> None:
    """Show the newest events, oldest first.

    \b
    Example:
        idp audit tail -n 50 --json | jq 'select(.outcome == "failure")'
    """
    for event in latest(count):
        click.echo(_json_line(event) if as_json else _line(event))


@audit.command("verify")
@click.option("--anchor", type=_AnchorType(), metavar="ID:HASH",
              help="An event id and hash saved earlier outside the database (this command "
                   "prints one); the chain must still hold that hash at that id.")
@click.option("--accept-rebuild", "accepted", multiple=True, type=click.IntRange(1), metavar="EVENT_ID",
              help="An audit.head_rebuilt event the operator has investigated (events before it "
                   "compared with an anchor or the SIEM export); verification goes on past it.")
@with_appcontext
def verify(anchor: Anchor | None, accepted: tuple[int, ...]) -> None:
    """Check every event's hash and link, and that the chain ends where its head says.

    Exit code 0 with the number of events checked; 1 naming the first bad event and why.
    Keep the printed anchor somewhere the database's administrators cannot write (a ticket,
    a WORM bucket) and pass it back later with --anchor.

    An audit.head_rebuilt event fails verification: the chain head had been deleted, so the
    events at the end of the chain before it may have been deleted too. After checking them
    against an anchor or the SIEM's copy, name it with --accept-rebuild.

    \b
    Example:
        idp audit verify --anchor 1200:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    """
    checked, problem = verify_chain(anchor=anchor, accepted_rebuilds=frozenset(accepted))
    if problem is not None:
        where = f"event {problem.event_id}" if problem.event_id is not None else "chain head"
        click.echo(f"audit chain BROKEN at {where}: {problem.reason} "
                   f"({checked} events verified before it)", err=True)
        sys.exit(1)
    click.echo(f"audit chain OK: {checked} events verified")
    recorded = head()
    if recorded is not None and recorded[0] > 0:
        click.echo(f"anchor: {recorded[0]}:{recorded[1]}")


@audit.command("export")
@click.option("--since", type=_Timestamp(), help="Only events at or after this time (UTC unless given).")
@click.option("--until", type=_Timestamp(), help="Only events before this time.")
@click.option("--after-id", type=click.IntRange(0), default=0, show_default=True,
              help="Only events after this id: ship incrementally from the last id exported.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="File to write (default: standard output).")
@with_appcontext
def export(since: datetime | None, until: datetime | None, after_id: int, output) -> None:
    """Write events as JSON Lines for a SIEM, in chain order, with every event's hash.

    The SIEM's copy of the hashes is itself an anchor: an event later changed in the
    database no longer matches it.

    \b
    Example:
        idp audit export --since 2026-01-01 > audit-2026.jsonl
    """
    for event in iter_events(after_id=after_id, since=since, until=until):
        output.write(_json_line(event) + "\n")
