"""The connection a request that only reads, one statement at a time, reads on: the fast path's
client (and its token's state), a presented access token's standing, UserInfo's citizen.

Such a request reads with a SELECT or two, and none when the answer is cached (the client
cache, :mod:`idp.oidc.clients.record_cache`): nothing is checked out before a statement runs.
On PostgreSQL each statement runs on the thread's own autocommit connection
(:func:`idp.db.direct.thread_connection`): one round trip, no pool checkout, no SQLAlchemy
execution layer. On SQLite it runs on a pooled connection through SQLAlchemy, in autocommit.
Either way a single statement sees one snapshot of committed data (READ COMMITTED), so a client
disabled, or a token revoked, and committed on any node is refused by the next read here.
Writes (the audit group commit) keep their own connections; so does anything read through the
ORM session in the same request.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from idp.db import db
from idp.db.autocommit import AUTOCOMMIT
from idp.db.direct import DirectResult, compiled, thread_connection


class ReadConnection:
    """Use as a context manager, like ``engine.connect()``; ``execute(statement, parameters)``
    takes a Core statement with named bind parameters and returns its rows' result (rows with
    attribute access, ``.all()``, ``.one()``)."""

    __slots__ = ("connection",)

    def __init__(self) -> None:
        self.connection: Connection | None = None

    def __enter__(self) -> ReadConnection:
        return self

    def execute(self, statement, parameters: dict):
        engine = db.engine
        if engine.dialect.name == "postgresql":
            return DirectResult(thread_connection(engine).execute(compiled(statement, engine), parameters))
        if self.connection is None:
            self.connection = engine.connect().execution_options(**AUTOCOMMIT)
        return self.connection.execute(statement, parameters)

    def __exit__(self, *exc_info) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def single_read_connection() -> ReadConnection:
    """A connection for one read-only statement, checked out only if it is needed."""
    return ReadConnection()
