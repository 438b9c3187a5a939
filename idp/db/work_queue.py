"""A queue of rows in the database that several processes work off: the claim with a lease,
the backoff between attempts, and the polling thread each server process runs.

Used by the back-channel logout queue (:mod:`idp.oidc.logout.backchannel`) and the email/SMS
outbox (:mod:`idp.notify.outbox`). A queued row has ``id``, ``status`` (``pending`` while work
remains), ``attempts`` and ``next_attempt_at``.

Every server process polls each queue every few seconds, idle or not, and the rows stay after
their work is done (until the purge): the poll must not cost more as they pile up. A queue's
table therefore indexes its pending rows alone, in the order they fall due (:func:`due_index`),
and the poll's condition names ``pending`` as a constant, which is what lets the database use
that index (a bound parameter would not prove the index's condition).

Nearly every poll finds nothing due. So a poll first asks (:func:`any_due`, one statement that
reads that index) and starts the pass (an ORM transaction: on PostgreSQL a pooled connection,
``BEGIN``, the locking read, ``COMMIT``) only when the answer is yes. On PostgreSQL the question
goes out on the polling thread's direct connection (:func:`idp.db.autocommit.read`): one round
trip where the pass took three or more. That matters most on a core shared with password
hashes, where each wait for the database hands the core to a hash and the thread comes back
cold.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import Index, bindparam, literal_column, select, text, update

from idp.db import autocommit, db
from idp.db.types import utcnow

log = logging.getLogger(__name__)

#: The status of the rows still to work on, as the SQL constant that both the due index's
#: condition and the poll's are written with.
_PENDING = "'pending'"


def due_index(table: str) -> Index:
    """The index of ``table``'s pending rows by due time: what a poll reads, whatever number of
    finished rows the table keeps (on both databases: PostgreSQL and SQLite have partial
    indexes)."""
    pending = text(f"status = {_PENDING}")
    return Index(f"ix_{table}_due", "next_attempt_at", "id",
                 postgresql_where=pending, sqlite_where=pending)


def _due(model, now, limit: int):
    return (select(model.id, model.attempts)
            .where(model.status == literal_column(_PENDING), model.next_attempt_at <= now)
            .order_by(model.next_attempt_at, model.id).limit(limit))


def due_rows(model, now, limit: int):
    """The poll's query: ``id`` and ``attempts`` of up to ``limit`` pending rows due by ``now``,
    the longest due first, read from :func:`due_index` (locked, skipping rows another process
    holds, on PostgreSQL)."""
    query = _due(model, now, limit)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


@functools.cache
def due_exists(model):
    """``EXISTS (...)``: whether ``model``'s queue holds a pending row due by the parameter
    ``now``, read from :func:`due_index` as :func:`due_rows` reads it (without its lock: a row
    another process holds counts, and the pass then finds it taken). Built once per queue, so
    that the statements made of it are too."""
    return _due(model, bindparam("now"), 1).exists()


@functools.cache
def due_question(model):
    """``SELECT`` :func:`due_exists`: the question a poll of a queue asks before its pass."""
    return select(due_exists(model))


def any_due(model, now: datetime) -> bool:
    """Whether a pass over ``model``'s queue would find a row due by ``now``."""
    return bool(autocommit.read(due_question(model), {"now": now}).first()[0])


def claim_due(model, limit: int, lease: timedelta) -> list[int]:
    """Take up to ``limit`` due pending rows of ``model`` for this process, and commit.

    The attempt counter is the claim: a row is ours only if our conditional update moved it
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL spares the others the wait). The new
    ``next_attempt_at`` is a lease: if this process dies while working, the row is due again
    once the lease is over, so nothing is lost.
    """
    now = utcnow()
    claimed = []
    for row_id, attempts in db.session.execute(due_rows(model, now, limit)).all():
        moved = db.session.execute(
            update(model)
            .where(model.id == row_id, model.status == "pending", model.attempts == attempts)
            .values(attempts=attempts + 1, next_attempt_at=now + lease)).rowcount
        if moved == 1:
            claimed.append(row_id)
    db.session.commit()
    return claimed


def backoff(attempts: int, base: int, maximum: int) -> timedelta:
    """Wait before the next attempt: base x 2^(attempts-1) seconds, at most ``maximum``."""
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), maximum))


class PollingWorker(threading.Thread):
    """Runs ``run_once`` (which returns how many rows it attempted) every ``interval`` seconds
    in an app context, again at once while it finds work; with ``due``, only when ``due()``
    (a cheap question, such as :func:`any_due`) says a pass would find something to do."""

    def __init__(self, app: Flask, name: str, interval: float, run_once: Callable[[], int],
                 due: Callable[[], bool] | None = None):
        super().__init__(name=name, daemon=True)
        self.app = app
        self.interval = interval
        self.run_once = run_once
        self.due = due
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.app.app_context():
                try:
                    if self.due is not None and not self.due():
                        continue
                    while self.run_once() and not self.stopped.is_set():
                        pass
                except Exception:
                    log.exception("%s pass failed", self.name)
                finally:
                    db.session.remove()


def stop(app: Flask, key: str) -> None:
    """Stop this process's worker under ``key``, if any, and wait for its pass to end."""
    current = app.extensions.pop(key, None)
    if current is not None and current[0] == os.getpid():
        current[1].stopped.set()
        current[1].join(timeout=10)


def start_once(app: Flask, key: str, make: Callable[[], PollingWorker]) -> PollingWorker:
    """This process's worker under ``key``, started once (a forked worker process starts its
    own: threads do not survive a fork)."""
    current = app.extensions.get(key)
    if current is not None and current[0] == os.getpid() and current[1].is_alive():
        return current[1]
    lock = app.extensions.setdefault(key + "_lock", threading.Lock())
    with lock:
        current = app.extensions.get(key)
        if current is not None and current[0] == os.getpid() and current[1].is_alive():
            return current[1]
        worker = make()
        worker.start()
        app.extensions[key] = (os.getpid(), worker)
        return worker
