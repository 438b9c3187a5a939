"""Deleting rows whose useful life is over, rule by rule, in bounded batches.

Each batch is its own short transaction: it selects at most ``batch_size`` primary keys
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two nodes purging at once share the work instead
of waiting on each other), clears the rows that point at them, deletes them and commits. Locks
are held for one batch only, so sign-ins running at the same time are never stalled behind a
purge of millions of rows.

Rows that point at a purged row are handled by the rule's :class:`Dependent` list rather than
by the database's ``ON DELETE`` clauses, which SQLite ignores unless foreign keys are switched
on for each connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from flask import Flask, current_app
from sqlalchemy import ColumnElement, Table, delete, func, select, update
from sqlalchemy.schema import Column

from idp.config import Settings
from idp.db import db
from idp.db.types import utcnow

_REGISTRY = "idp_purge_rules"


@dataclass(frozen=True)
class PurgeContext:
    """What a rule's condition may depend on: the time and the settings."""

    now: datetime
    settings: Settings

    @property
    def cutoff(self) -> datetime:
        """Rows that ended before this are past IDP_PURGE_RETENTION."""
        return self.now - timedelta(seconds=self.settings.purge_retention)


@dataclass(frozen=True)
class Dependent:
    """A foreign-key column in another table that points at the purged rows: its rows are
    deleted with them, or the reference is set to NULL."""

    column: Column
    action: Literal["delete", "set_null"]


@dataclass(frozen=True)
class PurgeRule:
    """Delete rows of ``table`` for which ``where(context)`` holds. ``table`` must have a
    single-column primary key; ``name`` is what the counts are reported under."""

    name: str
    table: Table
    where: Callable[[PurgeContext], ColumnElement[bool]]
    dependents: tuple[Dependent, ...] = field(default=())
    description: str = ""

    @property
    def key(self) -> Column:
        (column,) = self.table.primary_key.columns
        return column


def register_rule(app: Flask, rule: PurgeRule) -> None:
    """Add ``rule`` to the rules ``idp maintenance purge`` runs (in registration order)."""
    registered = app.extensions.setdefault(_REGISTRY, [])
    if any(r.name == rule.name for r in registered):
        raise ValueError(f"a purge rule named {rule.name!r} is already registered")
    if len(rule.table.primary_key.columns) != 1:
        raise ValueError(f"purge rule {rule.name!r}: the table needs a single-column primary key")
    registered.append(rule)


def rules(app: Flask | None = None) -> list[PurgeRule]:
    app = app or current_app
    return list(app.extensions.get(_REGISTRY, []))


def batch_query(key, condition, batch_size: int, after=None):
    """The keys of the next batch of a rule's rows (``key``, ``condition``: the rule's
    ``where``), after ``after`` (locked, skipping rows another process holds). Every process
    runs it for every rule at every pass, mostly to find nothing: a rule's condition is written
    so that each of its terms is a range of an index, or that pass walks the table."""
    query = select(key).where(condition).order_by(key).limit(batch_size)
    if after is not None:
        query = query.where(key > after)  # always progress, even if a batch deletes nothing
    return query.with_for_update(skip_locked=True)


def _purge_rule(rule: PurgeRule, context: PurgeContext, batch_size: int) -> int:
    session = db.session
    key, condition = rule.key, rule.where(context)
    purged, last_key = 0, None
    while True:
        keys = session.scalars(batch_query(key, condition, batch_size, last_key)).all()
        if not keys:
            break
        for dependent in rule.dependents:
            target = dependent.column.table
            if dependent.action == "delete":
                session.execute(delete(target).where(dependent.column.in_(keys)))
            else:
                session.execute(update(target).where(dependent.column.in_(keys))
                                .values({dependent.column.name: None}))
        purged += session.execute(delete(rule.table).where(key.in_(keys), condition)).rowcount
        session.commit()
        last_key = keys[-1]
        if len(keys) < batch_size:
            break
    return purged


def purge(selected: Sequence[PurgeRule], *, batch_size: int, dry_run: bool = False,
          now: datetime | None = None) -> dict[str, int]:
    """Run ``selected`` rules in order; return how many rows each deleted (or would delete)."""
    context = PurgeContext(now=now or utcnow(), settings=current_app.config["IDP"])
    counts: dict[str, int] = {}
    for rule in selected:
        if dry_run:
            counts[rule.name] = db.session.scalar(
                select(func.count()).select_from(rule.table).where(rule.where(context)))
        else:
            counts[rule.name] = _purge_rule(rule, context, batch_size)
    return counts
