"""The email and SMS outbox against a real SMTP server (aiosmtpd) and a real HTTP SMS gateway.

What is checked: a message is rendered in the citizen's language and accepted by the channel;
a channel that is down is retried with backoff and the message delivered when it returns; a
message queued by one process is sent by another (nothing lost on restart); once accepted it is
never sent again, and a crash between sending and recording is repaired on the receiving side
by the stable Message-ID / gateway id; refused messages fail at once, others after
IDP_OUTBOX_MAX_ATTEMPTS, each audited without the text.
"""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp import create_app
from idp.audit.models import AuditEvent
from idp.db import db
from idp.db.types import utcnow
from idp.notify import ChannelNotConfigured, outbox
from idp.notify.channels import Message, SmtpChannel
from idp.notify.models import OutboxMessage
from tests.factories import load_registry, make_citizen
from tests.helpers import free_port
from tests.notify_support import SMS_TOKEN, sinks
from tests.schema import create_tables


@pytest.fixture
def notify_environ(environ, mailbox):
    return {**environ, **mailbox.environ(), "IDP_OUTBOX_RETRY_BASE": "30", "IDP_OUTBOX_MAX_ATTEMPTS": "3",
            "IDP_NOTIFY_TIMEOUT": "2"}


def _app(environ, *, create: bool = True):
    application = create_app(environ)
    application.config["TESTING"] = True
    if create:
        with application.app_context():
            create_tables()
    return application


@pytest.fixture
def napp(notify_environ):
    application = _app(notify_environ)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _queue(app, channel="email", recipient="an@example.vn", language="vi", citizen_id=None):
    with app.app_context(), app.test_request_context():
        message = outbox.queue(channel, recipient, "contact_code", language=language,
                               citizen_id=citizen_id, code="482913", minutes=10)
        db.session.commit()
        return message.id


def _row(app, row_id) -> OutboxMessage:
    with app.app_context():
        row = db.session.get(OutboxMessage, row_id)
        db.session.expunge(row)
        return row


def _make_due(app, row_id):
    with app.app_context():
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                           .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def _run(app):
    with app.app_context():
        return outbox.run_once()


def test_email_in_the_citizens_language_is_accepted_and_its_text_not_kept(napp, mailbox):
    load_registry(napp)
    citizen_id = make_citizen(napp)
    row_id = _queue(napp, citizen_id=citizen_id, language="vi")
    assert _run(napp).sent == 1

    (email,) = mailbox.mail.messages()
    assert email["To"] == "an@example.vn"
    assert email["From"] == "Định danh <no-reply@id.example.gov>"
    assert email["Subject"] == "Mã xác minh của bạn: 482913"
    assert "có hiệu lực trong 10 phút" in email.get_content()
    assert email["Auto-Submitted"] == "auto-generated"
    row = _row(napp, row_id)
    assert row.status == "sent" and row.attempts == 1
    assert email["Message-ID"] == row.message_id
    assert row.body == ""  # the code is not kept once the server has it
    with napp.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "notify.sent")).one()
        assert event.citizen_id == citizen_id
        assert "482913" not in json.dumps(event.details) and "an@example.vn" not in json.dumps(event.details)
    assert _run(napp).attempted == 0  # accepted: never sent again
    assert len(mailbox.mail.messages()) == 1


def test_sms_goes_through_the_gateway_contract_in_english(napp, mailbox):
    _queue(napp, channel="sms", recipient="+84912345678", language="en")
    assert _run(napp).sent == 1
    (sms,) = mailbox.sms.messages()
    assert sms["to"] == "+84912345678"
    assert sms["text"].startswith("482913 is your verification code")


def test_gateway_refusing_the_token_fails_the_message_at_once(notify_environ, mailbox):
    application = _app({**notify_environ, "IDP_SMS_GATEWAY_TOKEN": "wrong-token-0123456789"})
    row_id = _queue(application, channel="sms", recipient="+84912345678")
    summary = _run(application)
    assert summary.failed == 1
    row = _row(application, row_id)
    assert row.status == "failed" and row.last_error == "HTTP 401"
    assert mailbox.sms.messages() == []


def test_smtp_server_down_is_retried_with_backoff_and_delivered_when_it_returns(notify_environ, tmp_path):
    port = free_port()  # nothing listens here yet
    environ = {**notify_environ, "IDP_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    application = _app(environ)
    row_id = _queue(application)

    assert _run(application).retrying == 1
    row = _row(application, row_id)
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error == "ConnectionRefusedError"
    wait = (row.next_attempt_at - utcnow()).total_seconds()
    assert 25 < wait <= 30  # IDP_OUTBOX_RETRY_BASE
    assert _run(application).attempted == 0  # not due yet

    controller, sms = sinks.start(tmp_path / "later", smtp_port=port, sms_port=free_port())
    try:
        _make_due(application, row_id)
        assert _run(application).sent == 1
        (email,) = controller.handler.messages()
        assert email["Message-ID"] == _row(application, row_id).message_id
    finally:
        sms.shutdown()
        sms.server_close()
        controller.stop()


def test_a_message_queued_before_a_restart_is_sent_by_the_next_process(notify_environ, mailbox):
    first = _app(notify_environ)
    row_id = _queue(first)
    with first.app_context():
        db.engine.dispose()
    del first

    restarted = _app(notify_environ, create=False)  # same database, a new process's app
    assert _run(restarted).sent == 1
    assert len(mailbox.mail.messages()) == 1
    assert _row(restarted, row_id).status == "sent"


def test_a_send_interrupted_before_it_was_recorded_is_retried_with_the_same_id(napp, mailbox):
    """A crash after the gateway accepted and before the row said so: the lease ends, the
    message is sent again with the same id, and the gateway's idempotency drops the repeat."""
    row_id = _queue(napp, channel="sms", recipient="+84912345678")
    row = _row(napp, row_id)
    # The first attempt reached the gateway, then the process died.
    channel = mailbox.sms
    import httpx

    httpx.post(f"http://127.0.0.1:{mailbox.sms_port}/sms",
               json={"id": row.message_id, "to": row.recipient, "text": row.body},
               headers={"Authorization": f"Bearer {SMS_TOKEN}"}).raise_for_status()
    with napp.app_context():
        assert outbox._claim(10) == [row_id]  # claimed by the dying process: leased
    assert _run(napp).attempted == 0  # another worker leaves it alone during the lease
    _make_due(napp, row_id)  # the lease is over
    assert _run(napp).sent == 1
    assert len(channel.messages()) == 1


def test_retries_stop_after_the_maximum_and_are_audited(notify_environ):
    application = _app({**notify_environ, "IDP_SMTP_URL": f"smtp://127.0.0.1:{free_port()}"})
    row_id = _queue(application)
    outcomes = []
    for _ in range(3):
        outcomes.append(_run(application))
        _make_due(application, row_id)
    assert [s.retrying for s in outcomes] == [1, 1, 0] and outcomes[-1].failed == 1
    row = _row(application, row_id)
    assert row.status == "failed" and row.attempts == 3 and row.body == ""
    with application.app_context():
        assert db.session.scalars(select(AuditEvent.action)
                                  .where(AuditEvent.action == "notify.failed")).all() == ["notify.failed"]


def test_without_a_configured_channel_nothing_is_queued(app):
    with app.app_context(), app.test_request_context():
        assert not outbox.available("email") and not outbox.available("sms")
        with pytest.raises(ChannelNotConfigured):
            outbox.queue("email", "an@example.vn", "contact_code", language="vi", code="1", minutes=10)
        assert db.session.scalars(select(OutboxMessage)).all() == []


def test_smtp_without_starttls_is_refused_for_a_remote_server(tmp_path):
    """RFC 3207 / RFC 8314: credentials and codes never cross a network in the clear. Only a
    loopback mailbox (the demo's) may be plain; 127.0.0.2 stands for a remote host here."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.2", 0))
        except OSError:
            pytest.skip("this machine cannot bind 127.0.0.2")
    port = free_port()
    from aiosmtpd.controller import Controller

    handler = sinks.MailFolder(tmp_path / "mail")
    controller = Controller(handler, hostname="127.0.0.2", port=port)
    controller.start()
    try:
        channel = SmtpChannel.from_url(f"smtp://user:secret@127.0.0.2:{port}", "a@b.example", 2)
        result = channel.send(Message("<1@b.example>", "an@example.vn", "s", "body"))
        assert result.outcome == "retry" and "STARTTLS" in result.error
        assert handler.messages() == []
    finally:
        controller.stop()
