"""The clients of this process, kept in memory between requests on PostgreSQL, and dropped the
moment any node changes any client.

Authenticating a client is a read on every client_credentials token, introspection and
revocation: on PostgreSQL a round trip per request, the largest cost of those answers after the
signature. Clients change rarely (registration, a rotated secret, an operator disabling one),
but a disabled client must be refused by every node at once. So the copy lives only while this
process is known to hear about changes:

- a trigger on ``clients`` and ``client_secrets`` raises the notification :data:`CHANNEL` in
  the transaction of every change, whoever makes it (:data:`TRIGGER_DDL`, installed by the
  migration and by ``create_all``); PostgreSQL delivers it when that transaction commits;
- a :class:`~idp.db.notifications.Listener` thread per process empties the cache on each
  notification, and the cache answers nothing while the listener is not listening (not yet
  connected, failed, or its connection silent past its health check);
- a read that started before a change and ends after it is not kept (:attr:`generation`).

So a change reaches every node's next request within the notification's delivery (a few
milliseconds on a LAN) and, if the listening connection is lost, within
:attr:`~idp.db.notifications.Listener.stale_after` seconds. Entries also expire after
:data:`MAX_AGE` seconds whatever happens. Secrets are kept as their digests and expiry, checked
at each use as before. ``IDP_CLIENT_CACHE=off`` turns it off; on SQLite (one machine, reads in
process) it never runs.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from flask import Flask
from sqlalchemy import DDL, event

from idp import process_threads
from idp.db import db
from idp.db.notifications import Listener
from idp.metrics import CLIENT_CACHE_READS
from idp.oidc.models import Client, ClientSecret

CHANNEL = "idp_client_changed"
#: Seconds an entry is kept at most, even with no change heard.
MAX_AGE = 300.0
#: Clients kept at most (a national deployment has a few thousand); past it, start over.
MAX_ENTRIES = 20_000

_FUNCTION = f"""
CREATE OR REPLACE FUNCTION idp_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END $$
"""
#: The trigger of each table: one notification per statement (and PostgreSQL folds identical
#: notifications of one transaction into one).
TRIGGER_DDL = {
    table: f"""
CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION idp_client_changed()
"""
    for table in ("clients", "client_secrets")
}


for _table in (Client.__table__, ClientSecret.__table__):
    event.listen(_table, "after_create", DDL(_FUNCTION).execute_if(dialect="postgresql"))
    event.listen(_table, "after_create",
                 DDL(TRIGGER_DDL[_table.name]).execute_if(dialect="postgresql"))


class ClientRecordCache:
    """client_id -> what :func:`~idp.oidc.clients.registry.client_record` read for it."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, Any]] = {}
        self.generation = 0
        self.listener: Listener | None = None
        self.lock = threading.Lock()

    def usable(self) -> bool:
        listener = self.listener
        return listener is not None and listener.listening()

    def get(self, client_id: str) -> Any | None:
        if not self.usable():
            return None
        entry = self.entries.get(client_id)
        if entry is None or time.monotonic() - entry[0] > MAX_AGE:
            CLIENT_CACHE_READS.miss.inc()
            return None
        CLIENT_CACHE_READS.hit.inc()
        return entry[1]

    def put(self, client_id: str, value: Any, generation: int) -> None:
        """Keep ``value``, read when :attr:`generation` was ``generation``, unless a change was
        heard since (the read may predate it)."""
        with self.lock:
            if generation != self.generation or not self.usable():
                return
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()
            self.entries[client_id] = (time.monotonic(), value)

    def forget_all(self) -> None:
        with self.lock:
            self.generation += 1
            self.entries.clear()

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
            listener = Listener(engine, CHANNEL, self.forget_all, self.on_state)
            self.entries.clear()
            self.generation += 1
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
    """On PostgreSQL with ``IDP_CLIENT_CACHE`` on: the cache, and its listener started in each
    server process (:mod:`idp.process_threads`)."""
    settings = app.config["IDP"]
    if not settings.client_cache or not settings.database_url.startswith("postgresql"):
        return
    cache = app.extensions[EXTENSION] = ClientRecordCache()
    # An app under test changes clients and asks again in the same breath, in one process: it
    # reads the database unless the test starts the listener itself (tests with real server
    # processes run it as production does).
    process_threads.register(app, lambda: None if app.testing else cache.start(app))
