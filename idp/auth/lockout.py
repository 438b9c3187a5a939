"""Per-account brute-force protection: a growing wait after repeated failures, then a lock.

After the ``FREE_FAILURES``-th failure in a row, each further failure makes the account wait
1, 2, 4, 8... seconds before the next attempt is even checked; at ``IDP_LOGIN_MAX_FAILURES``
it is locked for ``IDP_LOGIN_LOCK_TTL`` seconds. A success resets the count. NIST SP 800-63B
section 5.2.2 (rate limiting) asks for exactly this kind of throttle.

The counters live in Redis when ``IDP_REDIS_URL`` is set (every node sees the same), in the
database while Redis is unreachable (:mod:`idp.auth.lockout_fallback`), else in the process.
Keys are derived from the citizen id, or from a keyed digest of the canonical form of the typed
username when no account matches (:func:`canonical_name`), so unknown and known
usernames behave alike under any spelling and no username is written to Redis in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
from dataclasses import dataclass

from flask import current_app

from idp import clock
from idp.auth.lockout_fallback import RedisWithDatabaseFallback
from idp.citizens.contacts import normalise_email, normalise_phone
from idp.citizens.lookup import scheme
from idp.db.types import nfc
from idp.identifiers import InvalidIdentifier

#: Failures in a row that cost nothing (typing mistakes).
FREE_FAILURES = 2


def _now() -> float:
    return clock.time()


@dataclass(frozen=True)
class Status:
    """Where an account stands: consecutive failures and until when it must wait."""

    failures: int = 0
    blocked_until: float = 0.0

    def wait_seconds(self, now: float) -> int:
        return max(0, math.ceil(self.blocked_until - now))


class MemoryStore:
    """Counters in this process (one node, or tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[int, float, float]] = {}

    def get(self, key: str, now: float) -> Status:
        with self._lock:
            failures, blocked_until, expires = self._data.get(key, (0, 0.0, 0.0))
            if expires and expires <= now:
                self._data.pop(key, None)
                return Status()
            return Status(failures, blocked_until)

    def fail(self, key: str, now: float, policy: Policy) -> Status:
        with self._lock:
            failures, _, expires = self._data.get(key, (0, 0.0, 0.0))
            if expires and expires <= now:
                failures = 0
            failures += 1
            blocked_until = now + policy.wait_after(failures)
            self._data[key] = (failures, blocked_until, now + policy.memory_seconds)
            return Status(failures, blocked_until)

    def reset(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisStore:
    """Counters in Redis, shared by every node. One hash per key, expiring by itself."""

    def __init__(self, client, prefix: str) -> None:
        self._redis = client  # bounded timeouts: idp.resilience.redis_guard
        self._prefix = prefix + "lockout:"

    def get(self, key: str, now: float) -> Status:  # Redis expires keys itself
        values = self._redis.hmget(self._prefix + key, "failures", "blocked_until")
        return Status(int(values[0] or 0), float(values[1] or 0.0))

    def fail(self, key: str, now: float, policy: Policy) -> Status:
        name = self._prefix + key
        failures = int(self._redis.hincrby(name, "failures", 1))
        blocked_until = now + policy.wait_after(failures)
        pipe = self._redis.pipeline()
        pipe.hset(name, "blocked_until", repr(blocked_until))
        pipe.expire(name, policy.memory_seconds)
        pipe.execute()
        return Status(failures, blocked_until)

    def reset(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


@dataclass(frozen=True)
class Policy:
    max_failures: int
    lock_seconds: int

    def wait_after(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row."""
        if failures >= self.max_failures:
            return float(self.lock_seconds)
        if failures <= FREE_FAILURES:
            return 0.0
        return float(min(2 ** (failures - FREE_FAILURES - 1), self.lock_seconds))

    @property
    def memory_seconds(self) -> int:
        """Failures are forgotten this long after the last one (at least a day)."""
        return max(86400, 2 * self.lock_seconds)

    def is_lock(self, status: Status) -> bool:
        return status.failures >= self.max_failures


def _store():
    extensions = current_app.extensions
    if "idp.lockout" not in extensions:
        settings = current_app.config["IDP"]
        if settings.redis_url:
            guard = extensions["idp.redis_guard"]
            extensions["idp.lockout"] = RedisWithDatabaseFallback(
                RedisStore(guard.client, settings.redis_prefix), guard, Status)
        else:
            extensions["idp.lockout"] = MemoryStore()
    return extensions["idp.lockout"]


def policy() -> Policy:
    settings = current_app.config["IDP"]
    return Policy(settings.login_max_failures, settings.login_lock_ttl)


def canonical_name(username: str) -> str:
    """What was typed, in the one stored form of the kind of name it is.

    The same order as :func:`idp.citizens.lookup.find_citizen`: a national identifier in the
    configured scheme, else an email address, else a phone number (E.164), else the text
    itself (NFC, trimmed, case-folded). Spaces, dashes, case or a trunk prefix then make no
    difference, exactly as they make none to which account is found."""
    text = nfc(username or "").strip()
    current = scheme()
    try:
        value = current.parse(text)
    except InvalidIdentifier:
        value = None
    if value is not None:
        return f"id:{current.name}:{value}"
    if "@" in text:
        email = normalise_email(text)
        return f"email:{email}" if email else f"text:{text.casefold()}"
    phone = normalise_phone(text, current)
    return f"phone:{phone}" if phone else f"text:{text.casefold()}"


def account_key(citizen_id: int | None, username: str) -> str:
    """The counter's key: the account, or a keyed digest of the canonical form of what was typed.

    A known account's counter is the same under every spelling and every one of its names, so
    an unknown name's must be the same under every spelling too: keyed on the raw text, a
    third failure with another spelling would be throttled for a known number and not for an
    unknown one, telling which numbers have accounts (OWASP ASVS V2.2 / account enumeration)."""
    if citizen_id is not None:
        return f"citizen:{citizen_id}"
    secret = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(secret, canonical_name(username).encode(), hashlib.sha256).hexdigest()
    return f"name:{digest[:32]}"


def status(key: str) -> Status:
    return _store().get(key, _now())


def is_blocked(current: Status) -> bool:
    return current.blocked_until > _now()


def wait_seconds(current: Status) -> int:
    return current.wait_seconds(_now())


def record_failure(key: str) -> Status:
    return _store().fail(key, _now(), policy())


def reset(key: str) -> None:
    _store().reset(key)
