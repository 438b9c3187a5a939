"""The background threads every server process runs: the back-channel logout sender
(:mod:`idp.oidc.logout.backchannel`) and the periodic purge (:mod:`idp.maintenance.periodic`);
and what each thread answering requests sets up once, at its first request
(:func:`set_up_request_threads`: :mod:`idp.scheduling`'s policy).

Threads do not survive a fork, so each worker process starts its own. gunicorn starts them at
worker boot (:func:`idp.server.post_worker_init`); granian, which the Dockerfile runs, has no
such hook, so the first request a process serves starts them: :class:`StartThreads` is the
outermost WSGI layer (:func:`idp.app.create_app` installs it last), crossed by every request
whichever path answers it (Flask, or :mod:`idp.fastpath` when ``IDP_FAST_PATH`` is on). This is
the one place they start. Once they run, a request only compares the clock: the starters (which
also restart a thread that died, and start new ones in a forked process) are run again at most
every :data:`CHECK_EVERY` seconds, and at once in a process that was forked since.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

from flask import Flask

_STARTERS = "idp.process_thread_starters"
_STOPPERS = "idp.process_thread_stoppers"
_THREAD_SET_UP = "idp.request_thread_set_up"
#: Seconds between two runs of the starters in one process.
CHECK_EVERY = 1.0


def register(app: Flask, start: Callable[[], object], stop: Callable[[], object] | None = None) -> None:
    """Run ``start`` (idempotent, cheap once started) on each request of this app; ``stop``
    ends what it started and waits for it (:func:`stop_all`)."""
    app.extensions.setdefault(_STARTERS, []).append(start)
    if stop is not None:
        app.extensions.setdefault(_STOPPERS, []).append(stop)


def set_up_request_threads(app: Flask, set_up: Callable[[], object]) -> None:
    """Run ``set_up`` once in each thread that answers a request, before its first answer."""
    app.extensions.setdefault(_THREAD_SET_UP, []).append(set_up)


def start_all(app: Flask) -> None:
    for start in app.extensions.get(_STARTERS, ()):
        start()


def stop_all(app: Flask) -> None:
    """Stop this process's background threads and wait for each to finish the pass it is in:
    an app torn down in a process that goes on (tests), whose database is about to go away.
    The next request starts them again."""
    for stop in app.extensions.get(_STOPPERS, ()):
        stop()


class StartThreads:
    """WSGI middleware: start this process's background threads, then answer."""

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        #: (process id, monotonic time) of the next run of the starters.
        self.next_check = (0, 0.0)
        self.thread_set_up = tuple(app.extensions.get(_THREAD_SET_UP, ()))
        #: ``done`` is set in a thread once its set-up ran.
        self.this_thread = threading.local()

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        pid, due = self.next_check
        now = time.monotonic()
        if now >= due or pid != os.getpid():
            start_all(self.app)
            self.next_check = (os.getpid(), now + CHECK_EVERY)
        if self.thread_set_up and not getattr(self.this_thread, "done", False):
            self.this_thread.done = True
            for set_up in self.thread_set_up:
                set_up()
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask) -> None:
    """Install :class:`StartThreads` around everything installed so far (call it last)."""
    app.wsgi_app = StartThreads(app, app.wsgi_app)
