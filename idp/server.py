"""Run the app under gunicorn from inside the process (``idp serve``, ``scripts/run``, bench).

The app is built once in the master, so a configuration error stops the start before any
worker forks; each worker then drops the database connections inherited from the master.
"""

from __future__ import annotations

from flask import Flask
from gunicorn.app.base import BaseApplication

from idp.db import db


class _Server(BaseApplication):
    def __init__(self, app: Flask, options: dict):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def run(app: Flask, *, host: str, port: int, workers: int = 2, threads: int = 4) -> None:
    def post_fork(server, worker) -> None:  # noqa: ARG001 - gunicorn's hook signature
        with app.app_context():
            db.engine.dispose(close=False)

    _Server(app, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,
        "post_fork": post_fork,
    }).run()
