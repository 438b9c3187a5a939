"""Back-Channel Logout 1.0 deliveries survive a server restart: the queue is in the database and
every ``idp serve`` worker process sends it from the moment it starts (no request needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp import create_app
from idp.auth.sessions import end_session, join, start_session
from idp.db import db
from idp.oidc.models import Client, LogoutDelivery
from tests.factories import SAMPLE_REGISTRY, make_citizen
from tests.helpers import IDP, free_port, idp_env, run_idp, wait_for
from tests.logout_support import Receiver
from tests.oidc_support import register

pytestmark = pytest.mark.multiprocess


def _delivery(app) -> LogoutDelivery:
    with app.app_context():
        row = db.session.scalar(select(LogoutDelivery))
        db.session.expunge_all()
        db.session.remove()
        return row


def _serve(env, port, log):
    # A process group of its own, so the master and its worker can be killed together.
    return subprocess.Popen([IDP, "serve", "--port", str(port), "--workers", "1"], env=idp_env(env),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def test_pending_deliveries_are_sent_after_the_server_is_killed_and_restarted(environ, tmp_path):
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**environ, "IDP_ISSUER": issuer, "IDP_BACKCHANNEL_POLL_INTERVAL": "1",
           "IDP_BACKCHANNEL_RETRY_BASE": "1", "IDP_BACKCHANNEL_TIMEOUT": "1"}
    for args in (["db", "upgrade"], ["registry", "import", str(SAMPLE_REGISTRY)]):
        assert run_idp(args, env).returncode == 0
    app = create_app(env)
    citizen_id = make_citizen(app)
    receiver = Receiver()  # registered, but down for now
    register(app, client_id="portal", backchannel_logout_uri=receiver.url)

    # A session the portal joined ends (the real sign-out path: end_session and its signal).
    with app.test_request_context():
        session = start_session(citizen_id, amr=["pwd"], acr="urn:idp:acr:basic")
        db.session.commit()
        join(session, db.session.scalar(select(Client.id).where(Client.client_id == "portal")))
        db.session.commit()
        end_session(session, "logout")
        sid = session.sid
    assert _delivery(app).status == "pending"

    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    server = _serve(env, port, log)
    try:
        wait_for(f"{issuer}/healthz", process=server)
        # The running server tries, the receiver is down: retried later, still pending.
        deadline = time.monotonic() + 20
        while _delivery(app).last_error is None and time.monotonic() < deadline:
            time.sleep(0.2)
        tried = _delivery(app)
        assert tried.attempts >= 1 and tried.status == "pending" and tried.last_error
        # The node dies hard (no graceful shutdown) with the delivery pending.
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=15)
        time.sleep(0.5)
        assert _delivery(app).status == "pending"

        # The receiver comes back, the server is started again: the delivery goes out by itself.
        receiver.start()
        server = _serve(env, port, log)
        deadline = time.monotonic() + 30
        while _delivery(app).status == "pending" and time.monotonic() < deadline:
            time.sleep(0.3)
        done = _delivery(app)
        assert done.status == "delivered", (done.status, done.last_error)
        assert len(receiver.received) == 1
        wait_for(f"{issuer}/healthz", process=server)
        keyset = KeySet.import_key_set(httpx.get(f"{issuer}/.well-known/jwks.json").json())
        claims = jwt.decode(receiver.received[0]["logout_token"], keyset).claims
        assert claims["sid"] == sid and claims["aud"] == "portal" and claims["jti"] == done.jti
    finally:
        server.terminate()
        server.wait(timeout=15)
        receiver.stop()
        log.close()
        with app.app_context():
            db.engine.dispose()
