"""A database connection of one's own, outside SQLAlchemy's pool and execution layer, for the
few statements run on every client_credentials token and introspection.

SQLAlchemy's checkout, execution context and result wrapping cost several times what psycopg
itself spends on a one-row SELECT or a one-statement INSERT; on the hottest answers that is
most of the Python time left. A :class:`DirectConnection` is one psycopg connection in
autocommit (each statement is its own transaction: the reads see committed data, a write is
durable when it returns), taken from the engine's pool and detached from it, so it connects
with exactly the pool's settings. Statements are SQLAlchemy Core statements compiled once for
the dialect (:func:`compiled`), run as prepared statements with named parameters, rows read
as named tuples.

On SQLite it is a ``sqlite3`` connection in autocommit (``isolation_level=None``: no snapshot
held between statements), for statements whose rows are plain integers and strings (SQLAlchemy's
type processing is not applied: a datetime or JSON column reads back raw).

Health, as :mod:`idp.db.pool` does for pooled connections: a connection idle for
:data:`~idp.db.pool.PING_AFTER_IDLE` seconds is pinged first (a restarted database leaves a
dead socket), and any error closes it, to be made again at the next use. Threads do not share
one: each owner (a thread, the audit group commit's leader) has its own, and a forked process
makes new ones. ``engine.dispose()`` closes the engine's direct connections with its pool.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import event
from sqlalchemy.engine import Engine

from idp.db.pool import PING_AFTER_IDLE

_COMPILED: dict[Any, str] = {}
#: Every engine's direct connections, closed when it is disposed.
_OPEN: weakref.WeakKeyDictionary[Engine, weakref.WeakSet] = weakref.WeakKeyDictionary()
_OPEN_LOCK = threading.Lock()
_THREADS = threading.local()


def _close_all(engine: Engine) -> None:
    for direct in list(_OPEN.get(engine, ())):
        direct.close()


def thread_connection(engine: Engine) -> DirectConnection:
    """This thread's direct connection to ``engine``'s database."""
    mine = getattr(_THREADS, "connections", None)
    if mine is None:
        mine = _THREADS.connections = weakref.WeakKeyDictionary()
    direct = mine.get(engine)
    if direct is None:
        direct = mine[engine] = DirectConnection(engine)
    return direct


def compiled(statement, engine: Engine) -> str:
    """``statement`` (Core, bind parameters by name) as SQL text for psycopg, compiled once."""
    text = _COMPILED.get(statement)
    if text is None:
        text = _COMPILED[statement] = str(statement.compile(dialect=engine.dialect))
    return text


class DirectConnection:
    """One psycopg (or sqlite3) connection in autocommit (see the module's docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.connection = None
        self.pid = 0
        self.used_at = 0.0
        with _OPEN_LOCK:
            if engine not in _OPEN:
                _OPEN[engine] = weakref.WeakSet()
                event.listen(engine, "engine_disposed", _close_all)
            _OPEN[engine].add(self)

    def execute(self, sql: str, params: dict[str, Any]):
        """Run ``sql`` with ``params`` (PostgreSQL: as a prepared statement, named-tuple rows;
        SQLite: sqlite3 caches its statements, rows are tuples); its cursor."""
        try:
            connection = self._connection()
            cursor = (connection.execute(sql, params) if self.sqlite
                      else connection.execute(sql, params, prepare=True))
        except Exception:
            self.close()
            raise
        self.used_at = time.monotonic()
        return cursor

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None:
        """Run ``sql`` once per parameter set in ``rows`` (a multi-row write)."""
        try:
            with contextlib.closing(self._connection().cursor()) as cursor:
                cursor.executemany(sql, rows)
        except Exception:
            self.close()
            raise
        self.used_at = time.monotonic()

    def _connection(self):
        if (self.connection is not None and not self.sqlite and self.pid == os.getpid()
                and time.monotonic() - self.used_at >= PING_AFTER_IDLE):
            try:
                self.connection.execute("SELECT 1", prepare=False)
            except Exception:  # dead: a new one below
                self.close()
        if self.connection is None or self.pid != os.getpid():
            pooled = self.engine.raw_connection()
            connection = pooled.driver_connection
            pooled.detach()
            if self.sqlite:
                connection.isolation_level = None
            else:
                connection.autocommit = True
                connection.row_factory = namedtuple_row
            self.connection, self.pid = connection, os.getpid()
        return self.connection

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and self.pid == os.getpid():
            with contextlib.suppress(Exception):
                connection.close()
