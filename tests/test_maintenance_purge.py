"""``idp maintenance purge``: only rows past their life go (retention kept where a row still
serves a purpose), in bounded batches that each commit, and packages can add their own rules."""

from __future__ import annotations

import json
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, literal_column, select

from idp import process_threads
from idp.audit.log import verify_chain
from idp.audit.models import AuditEvent
from idp.auth.models import RecoveryCode, SessionClient, SsoSession
from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow
from idp.maintenance import PurgeRule, register_rule
from idp.notify.models import OutboxMessage
from idp.oidc.models import (
    AuthorizationCode,
    Client,
    ClientSecret,
    LogoutDelivery,
    PendingAuthorization,
    PushedAuthorizationRequest,
    RefreshToken,
    RefreshTokenFamily,
    RevokedAccessToken,
    UsedClientAssertion,
    UsedJti,
)
from tests.schema import create_tables

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
# IDP_PURGE_RETENTION defaults to 7 days: "recent" rows are 1 day past their end, "old" 8 days.


def _purge(app, *args):
    result = app.test_cli_runner().invoke(args=["maintenance", "purge", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


class World:
    """One citizen, one client, and rows of every purgeable kind on both sides of the line."""

    def __init__(self):
        now = self.now = utcnow()
        self.citizen = Citizen(full_name="Nguyễn Văn An", birthdate=date(1990, 1, 1), gender="male")
        self.client = Client(client_id="rp-purge", name="Cổng dịch vụ công")
        db.session.add_all([self.citizen, self.client])
        db.session.flush()

        def session(sid, *, ended=None, expires=now + DAY, last_seen=now):
            row = SsoSession(token_digest=sid * 4, sid=sid, citizen_id=self.citizen.id, auth_time=now,
                             amr=["pwd"], acr="LoA1", expires_at=expires, last_seen_at=last_seen,
                             ended_at=ended)
            db.session.add(row)
            return row

        self.s_live = session("live")
        self.s_ended_recent = session("ended-recent", ended=now - DAY)
        self.s_ended_old = session("ended-old", ended=now - 8 * DAY)
        self.s_expired_old = session("expired-old", expires=now - 8 * DAY, last_seen=now - 9 * DAY)
        self.s_idle_old = session("idle-old", expires=now + 30 * DAY, last_seen=now - 8 * DAY)
        db.session.flush()
        db.session.add(SessionClient(session_id=self.s_ended_old.id, client_id=self.client.id))
        db.session.add(SessionClient(session_id=self.s_live.id, client_id=self.client.id))

        def family(name, *, revoked=None, created=now - DAY, session_id=None):
            row = RefreshTokenFamily(client_pk=self.client.id, citizen_id=self.citizen.id,
                                     scope="openid", auth_time=created, created_at=created,
                                     revoked_at=revoked, session_id=session_id)
            db.session.add(row)
            db.session.flush()
            return row

        self.f_live = family("live", session_id=self.s_ended_old.id)
        self.f_revoked_recent = family("revoked-recent", revoked=now - DAY)
        self.f_revoked_old = family("revoked-old", revoked=now - 8 * DAY)
        self.f_empty_old = family("empty-old", created=now - 40 * DAY)

        def token(name, fam, expires):
            row = RefreshToken(token_digest=name.ljust(64, "t"), family_id=fam.id, expires_at=expires)
            db.session.add(row)
            return row

        token("live", self.f_live, now + 10 * DAY)
        token("expired", self.f_live, now - MINUTE)
        token("revoked-family", self.f_revoked_old, now + 10 * DAY)
        token("recent-family", self.f_revoked_recent, now + 10 * DAY)
        token("empty-family", self.f_empty_old, now - 5 * DAY)

        def code(name, *, expires, used=None, family_id=None, session_id=None):
            row = AuthorizationCode(code_digest=name.ljust(64, "c"), client_pk=self.client.id,
                                    citizen_id=self.citizen.id, redirect_uri="https://rp.example/cb",
                                    scope="openid", auth_time=now, expires_at=expires, used_at=used,
                                    family_id=family_id, session_id=session_id)
            db.session.add(row)
            return row

        code("unused-expired", expires=now - MINUTE)
        code("unused-live", expires=now + MINUTE, session_id=self.s_ended_old.id)
        code("used-recent", expires=now - DAY, used=now - DAY, family_id=self.f_empty_old.id)
        code("used-old", expires=now - 8 * DAY, used=now - 8 * DAY)

        db.session.add_all([
            RevokedAccessToken(jti="expired", expires_at=now - MINUTE),
            RevokedAccessToken(jti="live", expires_at=now + MINUTE),
            ClientSecret(client_pk=self.client.id, digest="old".ljust(64, "s"), expires_at=now - MINUTE),
            ClientSecret(client_pk=self.client.id, digest="grace".ljust(64, "s"), expires_at=now + DAY),
            ClientSecret(client_pk=self.client.id, digest="current".ljust(64, "s")),
            UsedClientAssertion(client_pk=self.client.id, jti_digest="expired".ljust(64, "j"),
                                expires_at=now - MINUTE),
            UsedClientAssertion(client_pk=self.client.id, jti_digest="live".ljust(64, "j"),
                                expires_at=now + MINUTE),
            UsedJti(jti_digest="expired".ljust(64, "j"), expires_at=now - MINUTE),
            UsedJti(jti_digest="live".ljust(64, "j"), expires_at=now + MINUTE),
            PushedAuthorizationRequest(uri_digest="expired".ljust(64, "p"), client_pk=self.client.id,
                                       params={}, expires_at=now - MINUTE),
            PushedAuthorizationRequest(uri_digest="live".ljust(64, "p"), client_pk=self.client.id,
                                       params={}, expires_at=now + MINUTE),
            PendingAuthorization(id="abandoned", client_pk=self.client.id, params={},
                                 expires_at=now - MINUTE),
            PendingAuthorization(id="waiting", client_pk=self.client.id, params={},
                                 expires_at=now + MINUTE),
        ])

        def delivery(name, *, finished=None, status="delivered"):
            db.session.add(LogoutDelivery(
                client_pk=self.client.id, sid=name, citizen_id=self.citizen.id,
                uri="https://rp.example/bcl", jti=name, logout_token="x", token_expires_at=now,
                status=status, next_attempt_at=now, finished_at=finished))

        delivery("finished-old", finished=now - 8 * DAY)
        delivery("finished-recent", finished=now - DAY)
        delivery("pending", status="pending")

        def message(name, *, finished=None, status="sent"):
            db.session.add(OutboxMessage(
                channel="email", recipient="an@example.vn", kind="contact_code", language="vi",
                body="", message_id=name, status=status, next_attempt_at=now, finished_at=finished))

        message("sent-old", finished=now - 8 * DAY)
        message("failed-recent", finished=now - DAY, status="failed")
        message("pending", status="pending")
        db.session.commit()
        # Keep only the ids: the objects are detached once the app context ends.
        for name, value in list(vars(self).items()):
            if isinstance(value, db.Model):
                setattr(self, name, SimpleNamespace(id=value.id))


@pytest.fixture
def world(app):
    with app.app_context():
        return World()


EXPECTED = {"outbox_messages": 1, "app_enrolments": 0, "app_signin_requests": 0,
            "authorization_codes": 2, "refresh_tokens": 2, "refresh_token_families": 2,
            "revoked_access_tokens": 1, "sso_sessions": 3, "client_secrets": 1, "used_client_assertions": 1,
            "used_jtis": 1, "pushed_authorization_requests": 1, "pending_authorizations": 1,
            "logout_deliveries": 1, "ciba_requests": 0}


def test_only_rows_past_their_life_are_purged(app, world):
    report = _purge(app)
    assert report["purged"] == EXPECTED
    assert report["total"] == sum(EXPECTED.values()) and report["failed"] == {}
    with app.app_context():
        s = db.session
        assert sorted(s.scalars(select(AuthorizationCode.code_digest)).all()) == [
            "unused-live".ljust(64, "c"), "used-recent".ljust(64, "c")]
        assert sorted(s.scalars(select(RefreshToken.token_digest)).all()) == [
            "live".ljust(64, "t"), "recent-family".ljust(64, "t")]
        assert sorted(s.scalars(select(RefreshTokenFamily.id)).all()) == sorted(
            [world.f_live.id, world.f_revoked_recent.id])
        assert s.scalars(select(RevokedAccessToken.jti)).all() == ["live"]
        assert s.scalars(select(PendingAuthorization.id)).all() == ["waiting"]
        assert sorted(s.scalars(select(SsoSession.sid)).all()) == ["ended-recent", "live"]
        assert sorted(s.scalars(select(ClientSecret.digest)).all()) == [
            "current".ljust(64, "s"), "grace".ljust(64, "s")]


def test_rows_pointing_at_purged_rows_are_cleared_not_left_dangling(app, world):
    _purge(app)
    with app.app_context():
        s = db.session
        assert s.scalars(select(SessionClient.session_id)).all() == [world.s_live.id]
        live_code = s.scalar(select(AuthorizationCode).where(
            AuthorizationCode.code_digest == "unused-live".ljust(64, "c")))
        assert live_code.session_id is None  # its session (ended 8 days ago) is gone
        used = s.scalar(select(AuthorizationCode).where(
            AuthorizationCode.code_digest == "used-recent".ljust(64, "c")))
        assert used.family_id is None  # its empty family is gone
        assert s.get(RefreshTokenFamily, world.f_live.id).session_id is None


def test_a_second_run_finds_nothing_left(app, world):
    _purge(app)
    report = _purge(app)
    assert report["total"] == 0 and set(report["purged"].values()) == {0}


def test_dry_run_counts_and_deletes_nothing(app, world):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuthorizationCode))
    report = _purge(app, "--dry-run")
    assert report["dry_run"] is True
    assert report["purged"]["authorization_codes"] == 2
    assert report["purged"]["sso_sessions"] == 3
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuthorizationCode)) == before
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_batches_are_bounded_and_each_commits(app, world):
    with app.app_context():
        for n in range(25):
            db.session.add(AuthorizationCode(
                code_digest=f"bulk-{n}".ljust(64, "c"), client_pk=world.client.id,
                citizen_id=world.citizen.id, redirect_uri="https://rp.example/cb", scope="openid",
                auth_time=world.now, expires_at=world.now - MINUTE))
        db.session.commit()
        engine = db.engine
    deletes, commits = [], []

    def after(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE FROM AUTHORIZATION_CODES"):
            deletes.append(cursor.rowcount)

    def on_commit(conn):
        commits.append(len(deletes))

    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "commit", on_commit)
    try:
        report = _purge(app, "--batch-size", "10")
    finally:
        event.remove(engine, "after_cursor_execute", after)
        event.remove(engine, "commit", on_commit)
    assert report["purged"]["authorization_codes"] == 27  # 25 + the 2 of the world
    assert deletes == [10, 10, 7]
    for batch in (1, 2, 3):  # a commit after each batch, before the next one starts
        assert batch in commits


def test_the_purge_is_recorded_in_the_audit_log_without_breaking_the_chain(app, world):
    _purge(app)
    with app.app_context():
        event_row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "maintenance.purge"))
        assert event_row.actor.startswith("admin:")
        purged = {k: v for k, v in EXPECTED.items() if v}  # rules that deleted nothing are left out
        assert event_row.details == {"purged": purged, "total": sum(EXPECTED.values())}
        assert verify_chain() == (1, None)


def test_a_package_added_later_appends_its_own_rule(app, world):
    with app.app_context():
        for n, used in enumerate([world.now - 8 * DAY, world.now - DAY, None]):
            db.session.add(RecoveryCode(citizen_id=world.citizen.id, digest=f"rc{n}", used_at=used))
        db.session.commit()
    register_rule(app, PurgeRule("used_recovery_codes", RecoveryCode.__table__,
                                 lambda ctx: RecoveryCode.used_at < ctx.cutoff))
    report = _purge(app)
    assert report["purged"]["used_recovery_codes"] == 1
    assert list(report["purged"])[-1] == "used_recovery_codes"  # runs after the core rules
    with app.app_context():
        assert sorted(db.session.scalars(select(RecoveryCode.digest)).all()) == ["rc1", "rc2"]


def test_a_rule_name_can_be_registered_once(app):
    with pytest.raises(ValueError, match="already registered"):
        register_rule(app, PurgeRule("sso_sessions", SsoSession.__table__,
                                     lambda ctx: SsoSession.ended_at < ctx.cutoff))


def test_a_failing_rule_is_reported_with_exit_1_and_the_rules_after_it_still_run(app, world):
    register_rule(app, PurgeRule("broken", RecoveryCode.__table__,
                                 lambda ctx: literal_column("no_such_column") < 1))
    register_rule(app, PurgeRule("used_recovery_codes", RecoveryCode.__table__,
                                 lambda ctx: RecoveryCode.used_at < ctx.cutoff))
    result = app.test_cli_runner().invoke(args=["maintenance", "purge", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert list(report["failed"]) == ["broken"]
    assert report["purged"] == {**EXPECTED, "used_recovery_codes": 0}
    assert result.stderr.startswith("purge rule broken failed: ")


def test_the_plain_output_lists_each_rule_and_the_total(app, world):
    result = app.test_cli_runner().invoke(args=["maintenance", "purge"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [[k, str(v)] for k, v in EXPECTED.items()]
    assert lines[-1].split() == ["total", str(sum(EXPECTED.values())), "(purged)"]


def test_every_maintenance_command_help_has_an_example(app):
    for command in ([], ["purge"]):
        result = app.test_cli_runner().invoke(args=["maintenance", *command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.stdout and "idp maintenance purge" in result.stdout


def test_a_serving_process_purges_on_its_own_in_the_background(environ, world):
    """IDP_PURGE_INTERVAL: the first request a process serves starts its purge thread, which
    purges after about one interval (never at once) and records the purge in the audit log.
    The first request here is one answered before Flask (idp.fastpath), which a node serving
    only agency back-ends may never get past (idp.process_threads)."""
    import time

    from idp import create_app
    from idp.maintenance import periodic

    node = create_app({**environ, "IDP_PURGE_INTERVAL": "1", "IDP_PURGE_BATCH": "2"})
    try:
        assert periodic._STATE not in node.extensions
        assert node.test_client().get("/.well-known/openid-configuration").status_code == 200
        started = node.extensions[periodic._STATE][1]
        thread = periodic.ensure_started(node)
        assert thread is started
        assert thread is not None and thread.is_alive() and thread.daemon
        assert periodic.ensure_started(node) is thread  # one thread per process
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with node.app_context():
                if db.session.scalar(select(AuditEvent.id).where(
                        AuditEvent.action == "maintenance.purge")) is not None:
                    break
            time.sleep(0.2)
        with node.app_context():
            assert db.session.scalars(select(RevokedAccessToken.jti)).all() == ["live"]
            assert db.session.scalar(select(func.count()).select_from(SsoSession)) == 2
            purge_event = db.session.scalars(select(AuditEvent).where(
                AuditEvent.action == "maintenance.purge")).first()
            assert purge_event.actor == "system:periodic-purge"
            assert purge_event.details["total"] == sum(EXPECTED.values())
            assert verify_chain()[1] is None
    finally:
        process_threads.stop_all(node)  # before the fixture drops the node's database
        with node.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("fast_path", ["on", "off"])
def test_the_first_request_starts_the_background_threads_with_or_without_the_fast_path(
        environ, fast_path):
    """idp.process_threads: the outermost layer starts them, so a node with IDP_FAST_PATH=off
    (everything through Flask, under granian: no worker hook) runs its purge too, and a node
    with it on does so even when its first request is answered before Flask."""
    from idp import create_app
    from idp.maintenance import periodic

    node = create_app({**environ, "IDP_PURGE_INTERVAL": "3600", "IDP_FAST_PATH": fast_path})
    try:
        with node.app_context():
            create_tables()
        assert periodic._STATE not in node.extensions
        assert node.test_client().get("/.well-known/jwks.json").status_code == 200
        thread = node.extensions[periodic._STATE][1]
        assert thread.is_alive() and periodic.ensure_started(node) is thread
    finally:
        process_threads.stop_all(node)  # before the fixture drops the node's database
        with node.app_context():
            db.engine.dispose()


def test_a_stopped_background_thread_is_started_again_by_a_request_once_the_check_is_due(
        environ, monkeypatch):
    """idp.process_threads: requests run the starters at most every CHECK_EVERY seconds (not on
    each request, the hottest answers being tens of microseconds), so a thread gone is back
    with the first request after that."""
    from types import SimpleNamespace

    from idp import create_app, process_threads
    from idp.maintenance import periodic

    # The middleware's clock, moved by the test (a real one may pass CHECK_EVERY on a busy machine
    # between two requests, which would make "not checked again yet" untrue).
    now = [1000.0]
    monkeypatch.setattr(process_threads, "time", SimpleNamespace(monotonic=lambda: now[0]))
    node = create_app({**environ, "IDP_PURGE_INTERVAL": "3600"})
    try:
        with node.app_context():
            create_tables()
        client = node.test_client()
        assert client.get("/.well-known/jwks.json").status_code == 200
        first = node.extensions[periodic._STATE][1]
        periodic.stop(node)
        assert client.get("/.well-known/jwks.json").status_code == 200
        assert periodic._STATE not in node.extensions  # not checked again yet
        now[0] += process_threads.CHECK_EVERY
        assert client.get("/.well-known/jwks.json").status_code == 200
        again = node.extensions[periodic._STATE][1]
        assert again is not first and again.is_alive()
    finally:
        process_threads.stop_all(node)  # before the fixture drops the node's database
        with node.app_context():
            db.engine.dispose()


def test_the_test_clients_app_and_interval_0_never_start_a_purge_thread(app, environ):
    from idp import create_app
    from idp.maintenance import periodic

    assert periodic.ensure_started(app) is None  # app.testing
    node = create_app({**environ, "IDP_PURGE_INTERVAL": "0"})
    assert periodic.ensure_started(node) is None
    with node.app_context():
        db.engine.dispose()


def test_stopping_a_processs_threads_ends_each_of_them_and_a_request_starts_them_again(
        environ, monkeypatch):
    """idp.process_threads.stop_all: the purge thread and the queue workers (back-channel
    logout, outbox) stop and are waited for, so nothing of the app still reads its database
    once it returns (an app torn down in a process that goes on); the next due check starts
    them again."""
    from types import SimpleNamespace

    from idp import create_app
    from idp.maintenance import periodic
    from idp.notify import outbox
    from idp.oidc.logout import backchannel

    now = [1000.0]
    monkeypatch.setattr(process_threads, "time", SimpleNamespace(monotonic=lambda: now[0]))
    node = create_app({**environ, "IDP_PURGE_INTERVAL": "3600", "IDP_BACKCHANNEL_WORKER": "true",
                       "IDP_OUTBOX_WORKER": "true"})
    try:
        with node.app_context():
            create_tables()
        client = node.test_client()
        assert client.get("/.well-known/jwks.json").status_code == 200
        threads = [node.extensions[key][1] for key in (periodic._STATE, backchannel.WORKER, outbox.WORKER)]
        assert all(thread.is_alive() for thread in threads)
        process_threads.stop_all(node)
        assert not any(thread.is_alive() for thread in threads)
        assert not {periodic._STATE, backchannel.WORKER, outbox.WORKER} & node.extensions.keys()
        now[0] += process_threads.CHECK_EVERY
        assert client.get("/.well-known/jwks.json").status_code == 200
        again = [node.extensions[key][1] for key in (periodic._STATE, backchannel.WORKER, outbox.WORKER)]
        assert all(thread.is_alive() for thread in again) and not set(again) & set(threads)
    finally:
        process_threads.stop_all(node)
        with node.app_context():
            db.engine.dispose()
