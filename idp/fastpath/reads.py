"""The connection the fast path reads a client (and a token's state) on.

Each fast-path request reads with at most one SELECT, and none when the client comes from the
client cache (:mod:`idp.oidc.clients.record_cache`): the connection is checked out of the pool
only when a statement runs. In a transaction a SELECT costs three round trips to PostgreSQL
(``BEGIN``, the query, the ``ROLLBACK`` the pool does on return); in autocommit one, and the
answer is the same: a single statement sees one snapshot of committed data either way (READ
COMMITTED), so a client disabled and committed on any node is refused by the next read here as
before. Writes (the audit group commit) keep their transactions.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from idp.db import db


class ReadConnection:
    """Use as a context manager, like ``engine.connect()``; ``execute`` checks a pooled
    connection out in autocommit at the first statement, and the exit returns it."""

    __slots__ = ("connection",)

    def __init__(self) -> None:
        self.connection: Connection | None = None

    def __enter__(self) -> ReadConnection:
        return self

    def execute(self, statement, parameters=None):
        if self.connection is None:
            self.connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self.connection.execute(statement, parameters)

    def __exit__(self, *exc_info) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def single_read_connection() -> ReadConnection:
    """A connection for one read-only statement, checked out only if it is needed."""
    return ReadConnection()
