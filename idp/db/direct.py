"""A database connection of one's own, outside SQLAlchemy's pool and execution layer, for the
statements run on every client_credentials token and introspection, and on every sign-in
(the stored authorization request, the account, the session, the code and its redemption:
:mod:`idp.db.autocommit` sends them here when the request runs in autocommit).

SQLAlchemy's checkout, execution context and result wrapping cost several times what psycopg
itself spends on a one-row SELECT or a one-statement INSERT; on the hottest answers that is
most of the Python time left. A :class:`DirectConnection` is one psycopg connection in
autocommit (each statement is its own transaction: the reads see committed data, a write is
durable when it returns), taken from the engine's pool and detached from it, so it connects
with exactly the pool's settings. Statements are SQLAlchemy Core statements compiled once for
the dialect (:func:`compiled`), run as prepared statements with named parameters, rows read
as named tuples. :func:`execute` also converts values as SQLAlchemy would, both ways (its
column types' own conversions, taken from the compiled statement), for statements whose
columns are UTC timestamps or JSON: a sign-in's rows come back exactly as through the session.

On SQLite it is a ``sqlite3`` connection in autocommit (``isolation_level=None``: no snapshot
held between statements), for statements whose rows are plain integers and strings (SQLAlchemy's
type processing is not applied: a datetime or JSON column reads back raw). A request's own
statements on SQLite run instead on its session's connection, in its transaction
(:func:`in_session`), with the same conversions as :func:`execute`.

Health, as :mod:`idp.db.pool` does for pooled connections, without its round trip where the
socket already tells: a connection idle for :data:`~idp.db.pool.PING_AFTER_IDLE` seconds is
pinged first when its socket has something to read (:func:`~idp.db.pool.has_input`: a
database that ends a connection sends its error and closes it) or when it has been idle
:data:`~idp.db.pool.PING_ALWAYS_AFTER` seconds (a firewall's idle timeout drops a connection
silently, after minutes). Any error closes it, to be made again at the next use. Threads do
not share one: each owner (a thread, the audit group commit's leader) has its own, and a
forked process makes new ones. ``engine.dispose()`` closes the engine's direct connections
with its pool.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from psycopg.pq import ExecStatus
from psycopg.rows import namedtuple_row
from sqlalchemy import event
from sqlalchemy.engine import Engine

from idp.db.pool import PING_AFTER_IDLE, PING_ALWAYS_AFTER, has_input

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


class _Prepared:
    """A statement compiled for one set of parameter names, with SQLAlchemy's own conversions
    for this dialect: what its execution context applies to every execution of the compiled
    statement, and its result to every row."""

    __slots__ = ("binds", "dialect", "fixed", "positions", "result_types", "results", "row", "sql")

    def __init__(self, engine: Engine, statement, names: tuple[str, ...]) -> None:
        self.dialect = dialect = engine.dialect
        compiled_statement = statement.compile(dialect=dialect, column_keys=list(names))
        self.sql = str(compiled_statement)
        #: The parameters' order, for a dialect whose driver takes them by position (SQLite).
        self.positions = tuple(compiled_statement.positiontup) if compiled_statement.positiontup else None
        #: Rows as named tuples, for a driver that gives plain ones (sqlite3): made at the first.
        self.row = None
        convert_bind = compiled_statement._bind_processors
        #: (name, convert) for each parameter whose type converts it on the way in.
        self.binds = tuple((name, convert) for name, convert in convert_bind.items() if name in names)
        #: Values the statement carries itself (literals bound by SQLAlchemy), converted already.
        self.fixed = {name: convert_bind[name](value) if name in convert_bind else value
                      for name, value in compiled_statement.construct_params(_check=False).items()
                      if name not in names}
        self.result_types = tuple(column.type.dialect_impl(dialect) for column in statement.exported_columns)
        #: (position, convert) for each returned column whose type converts it on the way out:
        #: known from the first result, whose description gives the database's type of each
        #: column, which SQLAlchemy's own result passes to the conversion (a numeric's depends
        #: on it).
        self.results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None

    def conversions(self, cursor) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        if self.results is None:
            description = cursor.description
            if description is None:  # no rows to convert (a write without RETURNING)
                return ()
            columns = zip(self.result_types, description, strict=True)
            converts = ((position, kind.result_processor(self.dialect, getattr(column, "type_code", None)))
                        for position, (kind, column) in enumerate(columns))
            self.results = tuple((position, convert) for position, convert in converts if convert is not None)
        return self.results

    def named(self, cursor):
        """The row type for ``cursor``'s plain tuples: a named tuple of its columns."""
        if self.row is None:
            names = [column[0] for column in cursor.description]
            self.row = collections.namedtuple("Row", names, rename=True)
        return self.row


_PREPARED: dict[tuple, _Prepared] = {}


def _prepared(engine: Engine, statement, params: dict[str, Any]) -> tuple[_Prepared, dict[str, Any]]:
    """The statement prepared for these parameter names, and the parameters converted."""
    names = tuple(sorted(params))
    key = (engine.dialect.name, statement, names)
    prepared = _PREPARED.get(key)
    if prepared is None:
        prepared = _PREPARED.setdefault(key, _Prepared(engine, statement, names))
    if prepared.binds or prepared.fixed:
        params = {**prepared.fixed, **params}
        for name, convert in prepared.binds:
            params[name] = convert(params[name])
    return prepared, params


def execute(engine: Engine, statement, params: dict[str, Any]) -> DirectResult:
    """Run the Core ``statement`` with ``params`` on this thread's direct connection, as
    ``Connection.execute`` would: an INSERT names the columns ``params`` gives, each value goes
    through its column type's conversion first (UTC timestamps, JSON, NFC text), and each
    returned value through its conversion back. PostgreSQL only, in autocommit: a write is
    durable when this returns."""
    prepared, params = _prepared(engine, statement, params)
    cursor = thread_connection(engine).execute(prepared.sql, params)
    return DirectResult(cursor, prepared.conversions(cursor))


def in_session(session, statement, params: dict[str, Any]):
    """Run the Core ``statement`` with ``params`` on SQLite as ``session.execute`` would, on
    the session's own connection and in its transaction (begun if none is), but straight on
    the ``sqlite3`` cursor, with :func:`execute`'s conversions both ways; its result, as
    :func:`execute`'s. SQLAlchemy's execution layer around a statement costs about as much
    again as SQLite's own work for the statement (a sign-in's 11 statements on SQLite: about
    half a millisecond of the request's CPU). With ORM changes not flushed yet, the session
    executes it itself, so that it flushes them first as it would."""
    if not session._is_clean():  # (SQLAlchemy's own test before an autoflush)
        return session.execute(statement, params)
    connection = session.connection()
    prepared, params = _prepared(connection.engine, statement, params)
    cursor = connection.connection.dbapi_connection.cursor()
    cursor.execute(prepared.sql, tuple(params[name] for name in prepared.positions) if prepared.positions
                   else params)
    return DirectResult(cursor, prepared.conversions(cursor),
                        prepared.named(cursor) if cursor.description else None)


class DirectResult:
    """A psycopg cursor read as SQLAlchemy's result is: ``first()``, ``all()``, ``one()``,
    ``scalar_one()``, ``rowcount``; rows with attribute access, each returned value converted
    by ``results`` (:func:`execute`'s; none for :func:`compiled` statements)."""

    __slots__ = ("cursor", "results", "row")

    def __init__(self, cursor, results: tuple[tuple[int, Callable[[Any], Any]], ...] = (),
                 row: type | None = None) -> None:
        self.cursor, self.results, self.row = cursor, results, row

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount

    @property
    def returns_rows(self) -> bool:
        return self._has_rows()

    def _converted(self, row):
        if row is None:
            return row
        if self.row is not None:  # a plain tuple (sqlite3): named, converted
            row = self.row._make(row)
        if not self.results:
            return row
        values = list(row)
        for position, convert in self.results:
            values[position] = convert(values[position])
        return row._make(values)

    def _has_rows(self) -> bool:
        """Whether the statement returned a result set. psycopg's ``description`` answers that
        by building a ``Column`` (and looking up its type) for every column, each time it is
        read; its result's status answers it alone (sqlite3's cursors have no such result)."""
        result = getattr(self.cursor, "pgresult", None)
        if result is None:
            return self.cursor.description is not None
        return bool(result.nfields) or result.status == ExecStatus.TUPLES_OK

    def first(self):
        return self._converted(self.cursor.fetchone()) if self._has_rows() else None

    def all(self) -> list:
        return [self._converted(row) for row in self.cursor.fetchall()] if self._has_rows() else []

    def one(self):
        rows = self.all()
        if len(rows) != 1:
            raise LookupError(f"expected one row, got {len(rows)}")
        return rows[0]

    def scalar_one(self):
        return self.one()[0]


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
        if self.connection is not None and not self.sqlite and self.pid == os.getpid():
            idle = time.monotonic() - self.used_at
            if idle >= PING_AFTER_IDLE and (idle >= PING_ALWAYS_AFTER or has_input(self.connection)):
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

