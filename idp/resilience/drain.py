"""Rolling restarts lose nothing: on SIGTERM a node first drains, then stops gracefully.

A node that closed its listening socket the moment it got SIGTERM would reset the connections
still queued in the socket's backlog (the kernel accepted them, no worker ever will) and keep
receiving new ones until the balancer's next health check: those requests fail. So, under
gunicorn (``idp serve`` and ``gunicorn.conf.py``):

1. SIGTERM: the node keeps serving everything, but ``/readyz`` answers 503 ``draining``, so
   the balancer takes it out at its next check. This lasts ``IDP_SHUTDOWN_DRAIN_SECONDS``
   (set it above the balancer's check interval times its unhealthy threshold).
2. Then gunicorn's own graceful stop: the listening socket closes (a new connection is
   refused, which a balancer retries elsewhere: the request was never sent), and the requests
   in flight get ``graceful_timeout`` to finish.

A second SIGTERM (or SIGINT, SIGQUIT) during the drain stops at once, as before.

A SIGTERM sent to the whole process group (systemd's default ``KillMode=control-group``,
``kill -TERM -PGID``) also reaches the workers; a worker then ignores it until the master has
ended the drain (and sends it SIGTERM itself), or its queued connections would wait for a new
worker. A worker whose master is gone still stops (gunicorn checks its parent).

The draining and stopping flags are bytes of memory shared by the master and the workers it
forks.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import signal
import time

from flask import Flask

log = logging.getLogger(__name__)

# Created at import, in the process that builds the app (gunicorn's master with preload_app),
# so every worker forked from it shares the same byte.
_DRAINING = multiprocessing.RawValue(ctypes.c_bool, False)
#: Set by the master when the drain is over: from then on SIGTERM stops a worker.
_STOPPING = multiprocessing.RawValue(ctypes.c_bool, False)


def _drain_seconds(app) -> int:
    return app.config["IDP"].shutdown_drain_seconds if isinstance(app, Flask) else 0


def draining() -> bool:
    """True once this node has been told to stop and is waiting for the balancer to notice."""
    return bool(_DRAINING.value)


def install(server) -> None:
    """gunicorn's ``when_ready`` hook: SIGTERM drains first (see the module's docstring)."""
    seconds = _drain_seconds(server.app.wsgi())
    if not seconds:
        return
    stop_now = server.handle_term
    murder_workers = server.murder_workers
    deadline: list[float] = []

    def handle_term() -> None:
        if deadline:  # told twice: stop now
            _STOPPING.value = True
            stop_now()
        _DRAINING.value = True
        deadline.append(time.monotonic() + seconds)
        server.log.info("SIGTERM: draining for %d s (/readyz answers 503), then stopping", seconds)

    def murder_workers_then_stop_when_drained() -> None:
        # Called by the master's loop at least once a second: where the drain ends.
        murder_workers()
        if deadline and time.monotonic() >= deadline[0]:
            _STOPPING.value = True
            raise StopIteration

    server.handle_term = handle_term
    server.murder_workers = murder_workers_then_stop_when_drained


def protect_worker(worker) -> None:
    """gunicorn's ``post_worker_init``: a SIGTERM that reaches a worker before the master has
    drained (sent to the whole process group) is ignored; the master's own comes later."""
    if not _drain_seconds(worker.wsgi):
        return
    stop = worker.handle_exit

    def handle_exit(sig, frame) -> None:
        if _STOPPING.value:
            stop(sig, frame)

    signal.signal(signal.SIGTERM, handle_exit)
