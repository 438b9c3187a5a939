"""The background threads every server process runs: the back-channel logout sender
(:mod:`idp.oidc.logout.backchannel`) and the periodic purge (:mod:`idp.maintenance.periodic`).

Threads do not survive a fork, so each worker process starts its own. gunicorn starts them at
worker boot (:func:`idp.server.post_worker_init`); granian, which the Dockerfile runs, has no
such hook, so the first request a process serves starts them, whichever path answers it (Flask
or :mod:`idp.fastpath`, the outermost middleware, which calls :func:`start_all` on every
request). Each starter is a dictionary lookup once its thread runs.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

_STARTERS = "idp.process_thread_starters"


def register(app: Flask, start: Callable[[], object]) -> None:
    """Run ``start`` (idempotent, cheap once started) on each request of this app."""
    app.extensions.setdefault(_STARTERS, []).append(start)


def start_all(app: Flask) -> None:
    for start in app.extensions.get(_STARTERS, ()):
        start()
