"""The connection the fast path reads a client (and a token's state) on.

Each fast-path request reads with exactly one SELECT. In a transaction that costs three round
trips to PostgreSQL (``BEGIN``, the query, the ``ROLLBACK`` the pool does on return); in
autocommit one, and the answer is the same: a single statement sees one snapshot of committed
data either way (READ COMMITTED), so a client disabled and committed on any node is refused by
the next read here as before. Writes (the audit group commit) keep their transactions.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from idp.db import db


def single_read_connection() -> Connection:
    """A pooled connection in autocommit, for one read-only statement (use it as a context
    manager, like ``engine.connect()``)."""
    return db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
