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

A request in autocommit takes no pooled connection until one of its statements runs through
the session. The statements of a sign-in and of a code's redemption run through :func:`read`,
:func:`execute` and :func:`commit_alone` instead: in autocommit, on the thread's direct
connection (:mod:`idp.db.direct`), where each is its own transaction just as it would be on an
autocommit connection from the pool, without the pool's checkout and return or SQLAlchemy's
execution layer around it. Measured in process on PostgreSQL, that is about a sixth of a
sign-in's CPU outside its password hash.
"""

from __future__ import annotations

from idp.db import AUTOCOMMIT_REQUESTED, db, direct

AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def statements_commit_alone() -> None:
    """Run this request in autocommit (on PostgreSQL) when no statement of the request ran
    yet; otherwise leave its transaction as it is (correct, one round trip dearer). No
    connection is taken for it: the session takes an autocommit one if a statement of its
    own needs one (:class:`idp.db.Session`); the statements of :func:`read`, :func:`execute`
    and :func:`commit_alone` run on the thread's direct connection instead."""
    session = db.session()  # this request's Session (not the scoped proxy)
    if _postgresql() and not _connected(session):
        session.info[AUTOCOMMIT_REQUESTED] = True


def commit_alone(statement, params: dict):
    """Execute the write ``statement`` and commit it now; its first returned row, if any.
    On PostgreSQL, when this request holds no transaction open (nothing ran in its session
    yet, or it runs in autocommit), the write is its own transaction on the thread's direct
    connection (:func:`idp.db.direct.execute`): no pooled connection checked out and handed
    back, nothing for the session to commit. Otherwise it runs in the request's session, which
    is then committed with what the request did before it."""
    if _alone(db.session()):
        return direct.execute(db.engine, statement, params).first()
    result = in_transaction(statement, params)
    row = result.first() if result.returns_rows else None
    db.session.commit()
    return row


def execute(statement, params: dict):
    """Execute ``statement`` (Core) in this request: on PostgreSQL, when the request runs in
    autocommit (:func:`statements_commit_alone`), on the thread's direct connection, where it
    is its own transaction as it would be on the session's; otherwise in the session's
    transaction. Its result (``first()``, ``all()``, ``scalar_one()``, ``rowcount``)."""
    if each_statement_alone():
        return direct.execute(db.engine, statement, params)
    return in_transaction(statement, params)


def read(statement, params: dict):
    """Execute the read ``statement`` (Core) for this request: on PostgreSQL, when the request
    has written nothing in a transaction (it runs in autocommit, or its session holds no
    connection), on the thread's direct connection, which sees everything committed, as the
    session's would; otherwise in the session's transaction, which sees the request's own
    writes. Its result, as :func:`execute`'s."""
    if _alone(db.session()):
        return direct.execute(db.engine, statement, params)
    return in_transaction(statement, params)


def in_transaction(statement, params: dict):
    """Execute ``statement`` (Core) in this request's transaction, as ``db.session.execute``
    does; on SQLite straight on the session's connection (:func:`idp.db.direct.in_session`).
    Its result, as :func:`execute`'s."""
    session = db.session()
    if session.get_bind().dialect.name == "sqlite":
        return direct.in_session(session, statement, params)
    return session.execute(statement, params)


def each_statement_alone() -> bool:
    """Whether this request runs in autocommit on PostgreSQL (:func:`statements_commit_alone`):
    each of its statements is its own transaction."""
    return _postgresql() and _in_autocommit(db.session())


def _alone(session) -> bool:
    """On PostgreSQL, whether a statement run now may be its own transaction: the request runs
    in autocommit, or holds no transaction open (its session has no connection)."""
    return _postgresql() and (_in_autocommit(session) or not _connected(session))


def _postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def _in_autocommit(session) -> bool:
    return bool(session.info.get(AUTOCOMMIT_REQUESTED))


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
    if _in_autocommit(session):
        session.commit()  # nothing to commit: it hands the connection back, if it took one
