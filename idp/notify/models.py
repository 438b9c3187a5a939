"""The outbox: every email and SMS idp sends waits here until a channel has accepted it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import db
from idp.db.types import UTCDateTime, utcnow
from idp.db.work_queue import due_index


class OutboxMessage(db.Model):
    """One message to one recipient, rendered when it was queued (in the citizen's language).

    It is written in the same transaction as the change it tells about (a verification code, a
    changed password), so a message exists exactly when its cause was committed; the worker
    sends it afterwards and keeps it until the purge, so an operator can see what was sent.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (due_index("outbox_messages"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``email`` or ``sms``.
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    #: The address or phone number (E.164). Kept only until the purge; never logged.
    recipient: Mapped[str] = mapped_column(String(320), nullable=False)
    #: The template it was rendered from (``contact_code``, ``password_changed``...): what the
    #: audit log and ``idp outbox list`` show instead of the text.
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    citizen_id: Mapped[int | None] = mapped_column(
        ForeignKey("citizens.id", ondelete="SET NULL"), index=True
    )
    #: The same on every attempt: the ``Message-ID`` of the email and the ``id`` given to the SMS
    #: gateway, so a receiver that saw an attempt whose answer was lost can drop the repeat.
    message_id: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    #: pending, sent (accepted by the channel), failed (refused or given up).
    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(default=0, nullable=False)
    #: When a worker may (next) try; while a worker holds it, the end of its lease. Indexed
    #: for the pending rows only (:func:`idp.db.work_queue.due_index`).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
