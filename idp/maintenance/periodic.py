"""The purge while the server runs: one daemon thread per server process.

Every ``IDP_PURGE_INTERVAL`` seconds (± 20 % random jitter, so the processes of a fleet that
started together drift apart) the thread runs every purge rule in batches of
``IDP_PURGE_BATCH`` rows, exactly as ``idp maintenance purge`` does. Several nodes purging at
once is safe: each batch takes its rows ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so they
share the work and never wait on each other or on sign-ins (:mod:`idp.maintenance.purge`).

The thread starts with the first request a process serves, not when the app is built: under
gunicorn's ``preload_app`` the app is built in the master and threads do not survive a fork.
``IDP_PURGE_INTERVAL=0`` switches it off (then schedule ``idp maintenance purge`` with cron).
"""

from __future__ import annotations

import logging
import os
import random
import threading

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from idp import process_threads
from idp.audit.log import record
from idp.db import db
from idp.maintenance.purge import purge, rules

log = logging.getLogger(__name__)

_STATE = "idp.purge_thread"
JITTER = 0.2


def purge_once(app: Flask) -> dict[str, int]:
    """One pass over every rule; a failing rule is logged and the others still run."""
    batch = app.config["IDP"].purge_batch
    counts: dict[str, int] = {}
    with app.app_context():
        try:
            for rule in rules(app):
                try:
                    counts.update(purge([rule], batch_size=batch))
                except SQLAlchemyError as exc:
                    db.session.rollback()
                    log.warning("periodic purge: rule %s failed: %s", rule.name,
                                type(getattr(exc, "orig", exc)).__name__)
            total = sum(counts.values())
            if total:
                record("maintenance.purge", actor="system:periodic-purge",
                       details={"purged": {k: v for k, v in counts.items() if v}, "total": total},
                       commit=True)
        finally:
            db.session.remove()
    return counts


def _loop(app: Flask, interval: int, stop: threading.Event) -> None:
    # The first pass also waits: a fleet restarting together must not purge all at once.
    while not stop.wait(interval * random.uniform(1 - JITTER, 1 + JITTER)):
        try:
            counts = purge_once(app)
            if any(counts.values()):
                log.info("periodic purge: %d rows", sum(counts.values()))
        except Exception:  # the thread must outlive a database outage
            log.exception("periodic purge failed; retrying at the next interval")


def ensure_started(app: Flask) -> threading.Thread | None:
    """Start this process's purge thread if it is not running (cheap when it is)."""
    interval = app.config["IDP"].purge_interval
    if not interval or app.testing:  # a test's app never purges behind the test's back
        return None
    state = app.extensions.get(_STATE)
    pid = os.getpid()
    if state is not None and state[0] == pid:
        return state[1]
    with _START_LOCK:
        state = app.extensions.get(_STATE)
        if state is not None and state[0] == pid:
            return state[1]
        stop = threading.Event()
        thread = threading.Thread(target=_loop, args=(app, interval, stop), name="idp-purge",
                                  daemon=True)
        thread.start()
        app.extensions[_STATE] = (pid, thread, stop)
        return thread


def stop(app: Flask) -> None:
    """Stop this process's purge thread (tests)."""
    state = app.extensions.pop(_STATE, None)
    if state is not None:
        state[2].set()
        if state[0] == os.getpid():
            state[1].join(timeout=10)


_START_LOCK = threading.Lock()


def init_app(app: Flask) -> None:
    if app.config["IDP"].purge_interval:
        process_threads.register(app, lambda: ensure_started(app), lambda: stop(app))
