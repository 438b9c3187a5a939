"""Requests that only read, answered without a transaction of their own on PostgreSQL.

A request's first statement makes psycopg send ``BEGIN``, and the end of the request sends
``ROLLBACK``: two round trips to the database, each a wake-up of a backend process, around what
may be a single ``SELECT`` (UserInfo reads one citizen). In autocommit each statement is its own
transaction; at PostgreSQL's READ COMMITTED, statements inside one transaction also each see
what was committed before they started, so a request that only reads sees exactly the same.
A write made anyway (a DPoP proof's ``jti`` marked used without Redis) commits by itself, as
its code commits it at once already. SQLite begins no transaction for reads: nothing to do there.
"""

from __future__ import annotations

import functools

from idp.db import db

AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def autocommit_reads(view):
    """Decorator for a view that only reads: its session's connection is taken in autocommit
    (on PostgreSQL), before any statement runs (the decorators inside it run statements too)."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        session = db.session()  # this request's Session (not the scoped proxy)
        if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
            session.connection(execution_options=AUTOCOMMIT)
        return view(*args, **kwargs)
    return wrapper
