"""Requests answered without a transaction of their own on PostgreSQL.

A request's first statement makes psycopg send ``BEGIN``, and the end of the request sends
``ROLLBACK`` or ``COMMIT``: two round trips to the database, each a wake-up of a backend
process, around what may be a read and a single write (a refresh reads its token, then claims
it and stores its successor in one statement). In autocommit each statement
is its own transaction; at PostgreSQL's READ COMMITTED, statements inside one transaction also
each see what was committed before they started, so a request whose writes are each one
statement sees and leaves exactly the same. A write made anyway (a DPoP proof's ``jti`` marked
used without Redis) commits by itself, as its code commits it at once already; a request that
turns out to need several writes together (a reused refresh token revoking its family) takes a
transaction again first (:func:`transaction_from_here`). SQLite begins no transaction for
reads: nothing to do there. (UserInfo, which only reads, takes no pooled connection at all:
:mod:`idp.db.single_read`.)
"""

from __future__ import annotations

from idp.db import db

AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def statements_commit_alone() -> None:
    """Take this request's connection in autocommit (on PostgreSQL) when no statement of the
    request ran yet; otherwise leave its transaction as it is (correct, one round trip dearer)."""
    session = db.session()  # this request's Session (not the scoped proxy)
    if session.get_bind().dialect.name == "postgresql" and not _connected(session):
        session.connection(execution_options=AUTOCOMMIT)


def _connected(session) -> bool:
    """Whether the session's transaction holds a connection, that is, a statement ran in it.
    An object attached without SQL (a client from the client cache) begins the session's
    transaction but takes no connection. Where SQLAlchemy would not say, assume one."""
    transaction = session.get_transaction()
    return transaction is not None and bool(getattr(transaction, "_connections", True))


def transaction_from_here() -> None:
    """End autocommit for the rest of the request: the next statement begins a transaction
    (on a connection back at the pool's isolation level). Objects loaded so far expire."""
    session = db.session()
    if (session.in_transaction()
            and session.connection().get_execution_options().get("isolation_level") == "AUTOCOMMIT"):
        session.commit()  # nothing to commit: it hands the connection back
