"""Run the app under gunicorn from inside the process (``idp serve``, ``scripts/run``, bench),
and the server hooks that ``gunicorn.conf.py`` uses as well: gunicorn is the documented
alternative to granian, which the container image runs (Dockerfile).

The app is built once in the master, so a configuration error stops the start before any
worker forks; each worker then drops the database connections inherited from the master.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from flask import Flask
from gunicorn.app.base import BaseApplication

from idp import process_threads
from idp.db import db
from idp.resilience import drain

#: The files prometheus-client's multiprocess mode writes (``counter_<pid>.db`` ...): only
#: these are removed, whatever else an operator keeps in the folder.
_METRICS_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def on_starting(server) -> None:  # gunicorn's hook signature
    """Empty PROMETHEUS_MULTIPROC_DIR: files left by a previous run would be added to this
    run's counters (prometheus-client's multiprocess mode requires a clean folder)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*_*.db"):
        if _METRICS_FILE.fullmatch(stale.name):
            stale.unlink()


def child_exit(server, worker) -> None:  # gunicorn's hook signature
    """Tell prometheus-client a worker is gone, so its live gauges stop being reported
    (its counters stay: they are totals the dead worker did serve)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    """Drop database connections inherited from the master (preload_app): two processes must
    never share one socket to PostgreSQL. Then start the worker's background threads
    (:mod:`idp.process_threads`)."""
    app = worker.wsgi
    if isinstance(app, Flask):
        with app.app_context():
            db.engine.dispose(close=False)
        # Threads do not survive fork: each worker starts its own (the back-channel logout
        # sender, the periodic purge: whatever the packages registered), from the start, so
        # deliveries left pending by a previous run go out without waiting for a request.
        process_threads.start_all(app)
    # A SIGTERM to the whole process group must not end the worker before the drain does.
    drain.protect_worker(worker)


def when_ready(server) -> None:
    """SIGTERM drains the node before it stops (:mod:`idp.resilience.drain`)."""
    drain.install(server)


class _Server(BaseApplication):
    def __init__(self, app: Flask, options: dict):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # control_socket_disable exists only in newer gunicorn
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def run(app: Flask, *, host: str, port: int, workers: int = 2, threads: int = 4) -> None:
    _Server(app, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "secure_scheme_headers": {},
        "control_socket_disable": True,
        "on_starting": on_starting,
        "child_exit": child_exit,
        "post_worker_init": post_worker_init,
        "when_ready": when_ready,
    }).run()
