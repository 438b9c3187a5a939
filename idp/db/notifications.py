"""Listening to PostgreSQL notifications (``LISTEN``/``NOTIFY``) in a thread of each process:
how one node learns at once that another changed something it keeps in memory.

A notification is sent by the database when the transaction that raised it commits (a trigger
raises it, so every writer is covered: this server, the admin command on another machine, a
hand-written ``UPDATE``), and delivered to every session listening on the channel. A listener
that is not connected misses notifications, so the one who keeps a copy must drop it whenever
:class:`Listener` is not known to be listening: ``on_state(False)`` is called when the
connection fails, ``on_state(True)`` once it listens again, and :meth:`Listener.listening`
is true only while the connection answered its health check (every
:attr:`Listener.check_interval` seconds) within :attr:`Listener.stale_after` seconds, so a
connection that hangs without failing counts as lost too. Between the two, readers go to the
database.

SQLite has no such channel and no other node: nothing here runs there.
"""

from __future__ import annotations

import logging
import math
import os
import select
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


class Listener(threading.Thread):
    """``LISTEN channel`` on a connection of its own (taken from ``engine``'s pool and detached
    from it, so it connects exactly as the pool does), calling ``on_notify(payload)`` for each
    notification and ``on_state(listening)`` whenever it starts or stops listening."""

    #: Seconds between health checks of the listening connection (a ``SELECT 1``): how long a
    #: silently dead connection can go unnoticed.
    check_interval = 1.0
    #: Seconds after the last answered check (or the LISTEN) that :meth:`listening` holds.
    stale_after = 2.0
    #: Seconds before connecting again after a failure, doubling while failures go on, up to
    #: :attr:`max_retry_interval` (readers use the database meanwhile: only the cache waits).
    retry_interval = 1.0
    max_retry_interval = 30.0

    def __init__(self, engine: Engine, channel: str, on_notify: Callable[[str], None],
                 on_state: Callable[[bool], None]) -> None:
        super().__init__(name=f"idp-listen-{channel}", daemon=True)
        self.engine = engine
        self.channel = channel
        self.on_notify = on_notify
        self.on_state = on_state
        self.stopped = threading.Event()
        self.pid = os.getpid()  #: the process it listens for (threads do not survive a fork)
        self.backend_pid: int | None = None  #: the database session listening (for operators)
        self.checked_at: float | None = None  #: monotonic time the connection last answered
        self.listened = False  #: whether the current connection got as far as LISTEN
        #: The schema this process's tables are in (``current_schema()`` of its connections):
        #: the channel is the database's, shared by every schema in it.
        self.schema: str | None = None

    def listening(self) -> bool:
        """True while notifications on the channel are known to reach this process."""
        checked_at = self.checked_at
        return checked_at is not None and time.monotonic() - checked_at <= self.stale_after

    def run(self) -> None:
        wait, warned = self.retry_interval, False
        while not self.stopped.is_set():
            self.listened = False
            try:
                self._listen()
            except Exception as exc:  # the database is down, restarted or unreachable
                if self.listened or not warned:  # once per outage, not once per retry
                    log.warning("listening on %s stopped: %s; readers go to the database",
                                self.channel, type(exc).__name__)
                warned = True
            self.on_state(False)
            # A connection that listened is retried at once; one that cannot connect, less often.
            wait = self.retry_interval if self.listened else min(wait * 2, self.max_retry_interval)
            self.stopped.wait(wait)

    def _listen(self) -> None:
        pooled = self.engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()  # ours for good: never handed to a request
        self.backend_pid = connection.info.backend_pid
        try:
            connection.autocommit = True
            self.schema = connection.execute("SELECT current_schema()").fetchone()[0]
            connection.execute(f'LISTEN "{self.channel}"')
            self.checked_at = time.monotonic()
            self.listened = True
            self.on_state(True)
            check_at = self.checked_at + self.check_interval
            readable = select.poll()  # not select(): a busy server's descriptors pass 1024
            readable.register(connection.fileno(), select.POLLIN)
            while not self.stopped.is_set():
                # Asleep until the database sends something or the next check is due. (psycopg's
                # own wait for notifications wakes every tenth of a second to look for an
                # interrupt: ten wake-ups a second in every worker, each on a core that password
                # hashes leave cold.)
                arrived = readable.poll(max(0, math.ceil(1000 * (check_at - time.monotonic()))))
                for _, events in arrived:
                    if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                        raise ConnectionError("the listening connection was closed")
                if arrived:
                    self._hand_on(connection)
                if time.monotonic() >= check_at:
                    # Make sure the quiet is not a dead connection's, then hand on what arrived
                    # with the answer (psycopg keeps it for the next look, which is now).
                    connection.execute("SELECT 1", prepare=False)
                    self.checked_at = time.monotonic()
                    check_at = self.checked_at + self.check_interval
                    self._hand_on(connection)
        finally:
            self.checked_at = None
            self.on_state(False)
            connection.close()

    def _hand_on(self, connection) -> None:
        """Every notification received so far, to ``on_notify``, without waiting for more."""
        for notification in connection.notifies(timeout=0):
            self.on_notify(notification.payload)

    def stop(self) -> None:
        self.stopped.set()
