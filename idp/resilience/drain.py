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

The draining flag is one byte of memory shared by the master and the workers it forks.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import time

log = logging.getLogger(__name__)

# Created at import, in the process that builds the app (gunicorn's master with preload_app),
# so every worker forked from it shares the same byte.
_DRAINING = multiprocessing.RawValue(ctypes.c_bool, False)


def draining() -> bool:
    """True once this node has been told to stop and is waiting for the balancer to notice."""
    return bool(_DRAINING.value)


def install(server) -> None:
    """gunicorn's ``when_ready`` hook: SIGTERM drains first (see the module's docstring)."""
    from flask import Flask

    app = server.app.wsgi()
    seconds = app.config["IDP"].shutdown_drain_seconds if isinstance(app, Flask) else 0
    if not seconds:
        return
    stop_now = server.handle_term
    murder_workers = server.murder_workers
    deadline: list[float] = []

    def handle_term() -> None:
        if deadline:  # told twice: stop now
            stop_now()
        _DRAINING.value = True
        deadline.append(time.monotonic() + seconds)
        server.log.info("SIGTERM: draining for %d s (/readyz answers 503), then stopping", seconds)

    def murder_workers_then_stop_when_drained() -> None:
        # Called by the master's loop at least once a second: where the drain ends.
        murder_workers()
        if deadline and time.monotonic() >= deadline[0]:
            raise StopIteration

    server.handle_term = handle_term
    server.murder_workers = murder_workers_then_stop_when_drained
