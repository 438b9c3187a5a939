"""Column types every model shares: UTC timestamps and NFC-normalised Unicode text."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeDecorator

from idp import clock


def utcnow() -> datetime:
    """Now, from :mod:`idp.clock`."""
    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC and always timezone-aware in Python.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored as naive
    UTC and made aware again on the way out. A naive value given by code is refused rather than
    guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class NFCString(TypeDecorator[str]):
    """Unicode text normalised to NFC on the way in.

    Vietnamese names can arrive precomposed ("Nguyễn") or decomposed ("Nguyê\u0303n") depending
    on the keyboard and the operating system; comparing and indexing them needs one form.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return unicodedata.normalize("NFC", value)


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)
