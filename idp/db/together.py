"""Writes that need no result, sent to the database as one statement.

An authorization that issues a code writes three rows' worth (the code, the relying party
joining the SSO session, the stored request deleted) and reads none of them back. On
PostgreSQL each statement is a round trip to a backend process; as data-modifying ``WITH``
queries of one statement (PostgreSQL §7.8.4) they are one, and that statement is atomic by
itself, so a request in autocommit (:mod:`idp.db.autocommit`) needs no ``BEGIN`` and
``COMMIT`` around them either. The sub-statements run on one snapshot and in no set order:
they must not depend on one another (each writes rows the others do not touch, and a
foreign key may only point at rows committed before). SQLite allows no writes in ``WITH``:
there they run one after the other in the request's transaction.

The statements are the callers' own, built once, with their parameters given apart (as for
``Session.execute``). The combined statement is built once per combination too, its bound
parameters renamed per part so that they do not collide: a statement built anew for every
request would cost SQLAlchemy a fresh cache key (a walk of every value) each time, more
than the round trips it saves.

A write may also be held back (:func:`hold`) to go with the request's next combined write:
the SSO session started by a sign-in whose answer issues a code is written in the code's own
statement (its id taken beforehand, :mod:`idp.db.ids`; a foreign key may point at a row that
another part of the same statement inserts, as PostgreSQL checks it at the statement's end).
What is still held when the request commits is sent first (:func:`send_held`).
"""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy import bindparam
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.sql.elements import BindParameter

from idp.db import autocommit, db

#: A statement built once and the parameters of one execution of it.
Write = tuple[UpdateBase, dict[str, Any]]

_COMBINED: dict[tuple, UpdateBase] = {}
_HELD = "idp_held_writes"


def hold(statement: UpdateBase, params: dict[str, Any]) -> None:
    """Send this write with the request's next :func:`write_together` (first among its parts),
    or by :func:`send_held`, whichever comes first; a request that fails before either leaves
    it unwritten. Nothing in the request may read the row in between, nor write a row that
    refers to it by any other statement."""
    g.setdefault(_HELD, []).append((statement, params))


def send_held() -> None:
    """Send the writes still held (:func:`hold`), together, now."""
    held = g.pop(_HELD, None)
    if held:
        write_together(*held)


def write_together(*writes: Write) -> None:
    """Execute ``writes`` in this request's session, as one statement on PostgreSQL, after the
    writes held for it (:func:`hold`). An INSERT's parameters name every column it writes (a
    column default would be bound under its own name, shared by the parts)."""
    held = g.pop(_HELD, None)
    if held:
        writes = (*held, *writes)
    if db.session.get_bind().dialect.name != "postgresql":
        for statement, params in writes:
            autocommit.in_transaction(statement, params)
        return
    if len(writes) == 1:
        autocommit.execute(*writes[0])
        return
    # The statements themselves (not their id(), which a freed one's successor may reuse).
    shape = tuple((statement, tuple(sorted(params))) for statement, params in writes)
    combined = _COMBINED.get(shape)
    if combined is None:
        combined = _COMBINED.setdefault(shape, _combine(writes))
    autocommit.execute(combined, {f"w{index}_{name}": value
                                  for index, (_, params) in enumerate(writes)
                                  for name, value in params.items()})


def _combine(writes: list[Write]) -> UpdateBase:
    """The last statement with the others as ``WITH`` queries, each part's parameters renamed
    ``w<index>_<name>``."""
    parts = [_renamed(statement, sorted(params), f"w{index}_")
             for index, (statement, params) in enumerate(writes)]
    *first, last = parts
    return last.add_cte(*(part.cte(f"w{index}") for index, part in enumerate(first)))


def _renamed(statement: UpdateBase, names: list[str], prefix: str) -> UpdateBase:
    if isinstance(statement, Insert) and not statement._values and not statement._multi_values:
        # An INSERT whose values come with the execution: one bound parameter per column given.
        columns = statement.table.c
        return statement.values({name: bindparam(prefix + name, type_=columns[name].type) for name in names})

    def rename(element):
        if isinstance(element, BindParameter):
            return bindparam(prefix + element.key, type_=element.type)
        return None
    return visitors.replacement_traverse(statement, {}, rename)
