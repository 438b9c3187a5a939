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
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.sql.elements import BindParameter

from idp.db import autocommit, db

#: A statement built once and the parameters of one execution of it.
Write = tuple[UpdateBase, dict[str, Any]]

_COMBINED: dict[tuple, UpdateBase] = {}


def write_together(*writes: Write) -> None:
    """Execute ``writes`` in this request's session, as one statement on PostgreSQL. An
    INSERT's parameters name every column it writes (a column default would be bound under
    its own name, shared by the parts)."""
    if len(writes) < 2 or db.session.get_bind().dialect.name != "postgresql":
        for statement, params in writes:
            db.session.execute(statement, params)
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
