"""What client authentication reads on PostgreSQL, kept in memory between requests, and
dropped the moment any node changes it: the clients, and the state of presented access tokens
(not revoked, citizen not locked) for introspection, UserInfo and the APIs.

Authenticating a client is a read on every client_credentials token, introspection and
revocation, and every presented access token (introspection, UserInfo, the APIs of
:mod:`idp.oidc.tokens.resource`) also asks whether it was revoked and whether its citizen is
locked: on PostgreSQL a round trip per request, the largest cost of those answers after the
signature. Clients change rarely (registration, a rotated secret, an operator disabling one),
revocations and locks more often but still far less than tokens are presented; yet a disabled
client, a revoked token and a locked citizen must be refused by every node at once. So the copy
lives only while this process is known to hear about changes:

- triggers raise the notification :data:`CHANNEL`, its payload the table changed
  (``schema.table``: a process ignores other schemas' tables), in the
  transaction of every change, whoever makes it (:data:`TRIGGER_DDL`, installed by the
  migration and by ``create_all``): any change to ``clients`` or ``client_secrets``, any row
  added to or removed from ``revoked_access_tokens``, and any change of a citizen's
  ``locked_until``; PostgreSQL delivers it when that transaction commits;
- a :class:`~idp.db.notifications.Listener` thread per process empties the part of the cache
  the table feeds on each notification, and the cache answers nothing while the listener is
  not listening (not yet connected, failed, or its connection silent past its health check);
- a read that started before a change and ends after it is not kept (the generations);
- only what can change solely through such a write is kept: a token known revoked or a
  citizen known locked is read again each time (a lock ends by the clock, not by a write).

So a change reaches every node's next request within the notification's delivery (a few
milliseconds on a LAN) and, if the listening connection is lost, within
:attr:`~idp.db.notifications.Listener.stale_after` seconds. Entries also expire after
:data:`MAX_AGE` seconds whatever happens. Secrets are kept as their digests and expiry, checked
at each use as before; a token's own expiry is in the token, checked at each use.

SQLite has no notifications, but its processes share one file on one machine: the same
triggers count changes in the one row of ``cache_changes`` (:data:`SQLITE_TRIGGERS`), and each
use of the cache first reads that row (:class:`ChangeCounters`: one indexed row of integers on
a connection of the thread's own, microseconds, where the client's read through SQLAlchemy
costs a tenth of a millisecond). A change committed by any process is seen by the next request
of every other, as without the cache.

``IDP_CLIENT_CACHE=off`` turns it off.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

from flask import Flask
from sqlalchemy import DDL, Column, Integer, Table, event
from sqlalchemy.engine import Engine

from idp import process_threads
from idp.citizens.models import Citizen
from idp.db import db, sqlite_file
from idp.db.direct import thread_connection
from idp.db.notifications import Listener
from idp.metrics import CLIENT_CACHE_READS
from idp.oidc.models import Client, ClientSecret, RevokedAccessToken

CHANNEL = "idp_changed"
#: Seconds an entry is kept at most, even with no change heard.
MAX_AGE = 300.0
#: Clients, and presented tokens, kept at most (a national deployment has a few thousand
#: clients); past it, that part starts over.
MAX_ENTRIES = 20_000
#: The tables whose changes void the clients kept; any other notification voids token states.
CLIENT_TABLES = frozenset({"clients", "client_secrets"})

_FUNCTION = f"""
CREATE OR REPLACE FUNCTION idp_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
    RETURN NULL;
END $$
"""
#: The trigger of each table: one notification per statement, or per row whose lock changed
#: (PostgreSQL folds identical notifications of one transaction into one).
TRIGGER_DDL = {
    **{table: f"""
CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION idp_notify_change()
""" for table in ("clients", "client_secrets", "revoked_access_tokens")},
    "citizens": """
CREATE TRIGGER citizens_lock_changed AFTER UPDATE OF locked_until ON citizens
FOR EACH ROW WHEN (OLD.locked_until IS DISTINCT FROM NEW.locked_until)
EXECUTE FUNCTION idp_notify_change()
""",
}


for _table in (Client.__table__, ClientSecret.__table__, RevokedAccessToken.__table__, Citizen.__table__):
    event.listen(_table, "after_create", DDL(_FUNCTION).execute_if(dialect="postgresql"))
    event.listen(_table, "after_create",
                 DDL(TRIGGER_DDL[_table.name]).execute_if(dialect="postgresql"))


#: SQLite: how many times each part's tables changed (one row, id 1), kept by :data:`SQLITE_TRIGGERS`.
CHANGES = Table("cache_changes", db.metadata,
                Column("id", Integer, primary_key=True, autoincrement=False),
                Column("clients", Integer, nullable=False),
                Column("tokens", Integer, nullable=False))


def _sqlite_triggers() -> list[str]:
    bump = "UPDATE cache_changes SET {part} = {part} + 1 WHERE id = 1"
    triggers = [f"CREATE TRIGGER {table}_{op.lower()}_counted AFTER {op} ON {table} "
                f"BEGIN {bump.format(part=part)}; END"
                for table, part in (("clients", "clients"), ("client_secrets", "clients"),
                                    ("revoked_access_tokens", "tokens"))
                for op in ("INSERT", "UPDATE", "DELETE")]
    triggers.append("CREATE TRIGGER citizens_lock_counted AFTER UPDATE OF locked_until ON citizens "
                    "WHEN OLD.locked_until IS NOT NEW.locked_until "
                    f"BEGIN {bump.format(part='tokens')}; END")
    return triggers


#: SQLite: the triggers that count changes in ``cache_changes`` (SQLite triggers are per row;
#: the counts only ever grow, so a reader sees that something changed, not what).
SQLITE_TRIGGERS = _sqlite_triggers()

event.listen(CHANGES, "after_create", DDL("INSERT INTO cache_changes (id, clients, tokens) VALUES (1, 0, 0)"))
for _trigger in SQLITE_TRIGGERS:  # once every table exists: a trigger names two of them
    # create_all may run again on a database that has them: only what is missing is made.
    event.listen(db.metadata, "after_create",
                 DDL(_trigger.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS", 1))
                 .execute_if(dialect="sqlite"))


class ChangeCounters:
    """SQLite: ``cache_changes`` read on the calling thread's own autocommit connection
    (:func:`idp.db.direct.thread_connection`): each read sees the latest commit."""

    SQL = "SELECT clients, tokens FROM cache_changes WHERE id = 1"

    def __init__(self, engine: Engine) -> None:
        self.engine = weakref.ref(engine)

    def read(self) -> tuple[int, int] | None:
        """(clients, tokens) counts now, or None when they cannot be read."""
        engine = self.engine()
        if engine is None:
            return None
        try:
            return thread_connection(engine).execute(self.SQL, {}).fetchone()
        except Exception:  # a missing table (an old schema), a locked or missing file
            return None


class _Part:
    """One kind of entry (clients, or token states) and the generation its changes bump."""

    def __init__(self) -> None:
        self.entries: dict[Any, tuple[float, Any]] = {}
        self.generation = 0

    def get(self, key: Any) -> Any | None:
        entry = self.entries.get(key)
        if entry is None or time.monotonic() - entry[0] > MAX_AGE:
            return None
        return entry[1]

    def put(self, key: Any, value: Any, generation: int) -> None:
        if generation != self.generation:
            return  # a change was heard since the read began: the value may predate it
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = (time.monotonic(), value)

    def forget(self) -> None:
        self.generation += 1
        self.entries.clear()


class ClientRecordCache:
    """client_id -> the :class:`~idp.oidc.clients.registry.ClientRecord` made from what
    :func:`~idp.oidc.clients.registry.client_record` read for it (shared by every request, never
    changed), and (jti, sub) -> that a presented token was neither revoked nor its citizen locked."""

    def __init__(self, counters: ChangeCounters | None = None) -> None:
        self.clients = _Part()
        self.tokens = _Part()
        self.listener: Listener | None = None
        self.lock = threading.Lock()
        #: SQLite: the change counts, read by :meth:`refresh`, and the last seen.
        self.counters = counters
        self.seen: tuple[int, int] | None = None
        self.counted = False  #: whether the last :meth:`refresh` could read the counts

    def refresh(self) -> None:
        """SQLite: forget each part whose tables changed since the last look. Called once
        before each use (PostgreSQL: nothing to do, the listener pushes changes)."""
        if self.counters is None:
            return
        now = self.counters.read()
        with self.lock:
            self.counted = now is not None
            if now is None or now == self.seen:
                return
            if self.seen is None or now[0] != self.seen[0]:
                self.clients.forget()
            if self.seen is None or now[1] != self.seen[1]:
                self.tokens.forget()
            self.seen = now

    @property
    def generation(self) -> tuple[int, int]:
        """Taken before a read, given back to :meth:`put` / :meth:`put_token_in_good_standing`."""
        return self.clients.generation, self.tokens.generation

    def usable(self) -> bool:
        if self.counters is not None:
            return self.counted
        listener = self.listener
        return listener is not None and listener.listening()

    def get(self, client_id: str) -> Any | None:
        if not self.usable():
            return None
        value = self.clients.get(client_id)
        (CLIENT_CACHE_READS.miss if value is None else CLIENT_CACHE_READS.hit).inc()
        return value

    def put(self, client_id: str, value: Any, generation: tuple[int, int]) -> None:
        """Keep ``value``, read when :attr:`generation` was ``generation``, unless a change was
        heard since (the read may predate it)."""
        with self.lock:
            if self.usable():
                self.clients.put(client_id, value, generation[0])

    def token_in_good_standing(self, jti: str, sub: str) -> bool:
        """True when this token was read as not revoked, its citizen not locked, and nothing
        that could change either has been heard since."""
        return self.usable() and self.tokens.get((jti, sub)) is not None

    def put_token_in_good_standing(self, jti: str, sub: str, generation: tuple[int, int]) -> None:
        with self.lock:
            if self.usable():
                self.tokens.put((jti, sub), True, generation[1])

    def on_notify(self, payload: str) -> None:
        """``payload``: the changed table as ``schema.table``; another schema's tables (another
        deployment sharing the database, whose triggers raise the same channel) are not ours."""
        schema, _, table = payload.rpartition(".")
        listener = self.listener
        if listener is not None and listener.schema is not None and schema != listener.schema:
            return
        with self.lock:
            (self.clients if table in CLIENT_TABLES else self.tokens).forget()

    def forget_all(self) -> None:
        with self.lock:
            self.clients.forget()
            self.tokens.forget()

    def on_state(self, listening: bool) -> None:
        # Whatever was missed while not listening is unknown: start empty either way.
        self.forget_all()

    def _running(self) -> bool:
        listener = self.listener
        return listener is not None and listener.pid == os.getpid() and listener.is_alive()

    def start(self, app: Flask) -> None:
        """This process's listener (a forked worker starts its own)."""
        if self._running():
            return
        with self.lock:
            if self._running():
                return
            with app.app_context():
                engine = db.engine
            listener = Listener(engine, CHANNEL, self.on_notify, self.on_state)
            self.clients.forget()
            self.tokens.forget()
            self.listener = listener
        listener.start()

    def stop(self) -> None:
        """Stop listening (an app torn down in the same process, as under test)."""
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.stop()
            listener.join(timeout=5)


EXTENSION = "idp.client_record_cache"


def cache_of(app: Flask) -> ClientRecordCache | None:
    return app.extensions.get(EXTENSION)


def init_app(app: Flask) -> None:
    """With ``IDP_CLIENT_CACHE`` on: the cache; on PostgreSQL its listener, started in each
    server process (:mod:`idp.process_threads`); on SQLite its change counters."""
    settings = app.config["IDP"]
    if not settings.client_cache:
        return
    if settings.database_url.startswith("sqlite"):
        with app.app_context():
            if sqlite_file(db.engine):  # (in memory: one connection, nothing to count across)
                app.extensions[EXTENSION] = ClientRecordCache(ChangeCounters(db.engine))
        return
    if not settings.database_url.startswith("postgresql"):
        return
    cache = app.extensions[EXTENSION] = ClientRecordCache()
    # An app under test changes clients and asks again in the same breath, in one process: it
    # reads the database unless the test starts the listener itself (tests with real server
    # processes run it as production does).
    process_threads.register(app, lambda: None if app.testing else cache.start(app), cache.stop)
