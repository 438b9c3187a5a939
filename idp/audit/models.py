"""Audit events. Each row carries the hash of the previous one, so a changed, deleted or
reordered row breaks the chain (``idp audit verify``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import db
from idp.db.types import UTCDateTime, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    #: Dense, assigned by ``record`` from the chain head (never a sequence, which leaves gaps);
    #: 64-bit, since a national deployment writes millions of events a day. On SQLite it is
    #: the rowid itself (``INTEGER PRIMARY KEY`` is 64-bit there), not a second index.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=False)
    #: Indexed for the export's time windows; events are appended in time order, so the index
    #: grows at its end like the table. The other indexes are the citizen's own history. Every
    #: index is written by every event (a token issued is one), so there are no others: the
    #: chain needs none (``hash`` is not UNIQUE-indexed, SHA-256 makes it unique anyway), and
    #: searches by action or client belong to the SIEM the log is exported to.
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True, nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), default="success", nullable=False)
    #: Who did it: ``citizen``, ``client:<id>``, ``admin:<os user>`` or ``system``.
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    #: Not a foreign key: deleting a citizen must not rewrite (and so break) the chain.
    citizen_id: Mapped[int | None] = mapped_column(index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    details: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditChainHead(db.Model):
    """Where the chain ends: the id and hash of the newest event, in one row (``id`` = 1).

    A hash chain alone cannot show that its *last* events were deleted: what is left is still
    a valid chain. Writers update this row in the same transaction as the event they append,
    so ``idp audit verify`` sees a chain shorter than its head. The row is also the lock that
    serialises writers (``SELECT ... FOR UPDATE`` on PostgreSQL). Someone able to rewrite both
    tables is caught only by an anchor kept outside the database (``idp audit verify --anchor``).
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
