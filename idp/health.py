"""Liveness and readiness probes for load balancers and orchestrators.

``/healthz`` says the process answers. ``/readyz`` runs every registered readiness check
(the database always; Redis when IDP_REDIS_URL is set) and answers 503 if any fails, so the
load balancer takes the node out until its dependencies are back. A check may instead report
``degraded`` (Redis away: the node serves on its fallbacks, :mod:`idp.resilience.redis_guard`):
the node stays in, with 200. Packages add their own
check (a signing key loaded, say) with :func:`add_check` in their ``init_app``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from idp.db import db
from idp.resilience.drain import draining

bp = Blueprint("health", __name__)

#: A check returns None when the dependency is fine, or a short reason (no secrets) when not.
Check = Callable[[], "str | None"]
_CHECKS = "idp_ready_checks"


def add_check(app: Flask, name: str, check: Check) -> None:
    """Make ``/readyz`` also depend on ``check``, reported under ``name``."""
    app.extensions.setdefault(_CHECKS, {})[name] = check


def _database() -> str | None:
    try:
        db.session.execute(text("SELECT 1"))
        return None
    except SQLAlchemyError:
        db.session.rollback()
        return "unreachable"


#: A check's answer that reports a problem without taking the node out.
DEGRADED = "degraded"


def _redis() -> str | None:
    status = current_app.extensions["idp.redis_guard"].probe()
    return None if status == "ok" else status


@bp.get("/healthz")
def healthz():
    """The process is up and answering; says nothing of its dependencies."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready to serve: every registered check passes. 503 otherwise, so the node is taken out."""
    checks = {name: check() or "ok" for name, check in current_app.extensions[_CHECKS].items()}
    ready = all(v in ("ok", DEGRADED) for v in checks.values())
    status = "ready" if ready else "not ready"
    if draining():  # stopping (SIGTERM): the balancer must move on (idp.resilience.drain)
        ready, status = False, "draining"
    response = jsonify(status=status, checks=checks)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_check(app, "database", _database)
    if app.config["IDP"].redis_url:
        add_check(app, "redis", _redis)
