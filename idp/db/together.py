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
"""

from __future__ import annotations

from sqlalchemy.sql.dml import UpdateBase

from idp.db import db


def write_together(*statements: UpdateBase) -> None:
    """Execute ``statements`` (INSERT, UPDATE or DELETE with their values bound in them, not
    passed as parameters: the names would collide) in this request's session, as one
    statement on PostgreSQL."""
    if len(statements) > 1 and db.session.get_bind().dialect.name == "postgresql":
        *first, last = statements
        ctes = [statement.cte(f"w{index}") for index, statement in enumerate(first)]
        db.session.execute(last.add_cte(*ctes))
        return
    for statement in statements:
        db.session.execute(statement)
