"""The server's one clock: :func:`time` (seconds since the epoch) and :func:`now` (an aware UTC
datetime). Every expiry, lock, lifetime and timestamp idp computes itself reads it, so a test
moves it (:func:`advance`, :func:`freeze`) instead of sleeping until something expires.

What libraries compute themselves (Authlib's and joserfc's ``iat``/``exp`` of access tokens and
their checks, the rate limiter's windows) stays on the system clock.
"""

from __future__ import annotations

import time as _system
from datetime import UTC, datetime

_frozen: float | None = None
_offset = 0.0


def time() -> float:
    """Now, in seconds since the epoch."""
    return _frozen if _frozen is not None else _system.time() + _offset


def now() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.fromtimestamp(time(), UTC)


# -- for tests ------------------------------------------------------------------------------------


def advance(seconds: float) -> None:
    """Move the clock forward (it keeps running unless frozen)."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen += seconds
    else:
        _offset += seconds


def freeze(at: float | None = None) -> None:
    """Stop the clock at ``at`` (default: now) until :func:`reset`."""
    global _frozen
    _frozen = time() if at is None else float(at)


def reset() -> None:
    """Back to the system clock."""
    global _frozen, _offset
    _frozen, _offset = None, 0.0
