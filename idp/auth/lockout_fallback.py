"""Lockout counters that survive a Redis outage: Redis first, the database when it is away.

With ``IDP_REDIS_URL`` set the counters of :mod:`idp.auth.lockout` live in Redis. When a Redis
call fails or times out (:mod:`idp.resilience.redis_guard`), the failure is counted in the
table ``login_failure_counters`` instead, which every node shares: NIST SP 800-63B §5.2.2
(limit failed attempts per account) holds through the outage, however the attempts are spread
over nodes. A row, once written, is the key's counter until it expires or a success resets it,
also after Redis is back, so a lock taken during the outage is not forgotten when Redis returns.

Trade-offs, stated in docs/operations.md: each sign-in reads the row by primary key (one small
query, also when Redis is up, so a lock from an outage is always seen; a success deletes it
with another); failures counted in Redis before the outage are not visible during it (Redis
still has them afterwards), so an account gets at most one more ``IDP_LOGIN_MAX_FAILURES``
series per outage. Each operation runs on a connection of its own, separate from the request's
transaction, so a failure is recorded even when the request later rolls back: a failure's two
statements in a short transaction, the read and the reset each one statement alone (the read
on the thread's own connection, :mod:`idp.db.single_read`).
"""

from __future__ import annotations

import contextlib

from sqlalchemy import bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from idp.auth.models import LoginFailureCounter
from idp.db import db
from idp.db.autocommit import AUTOCOMMIT
from idp.db.single_read import ReadConnection
from idp.resilience.redis_guard import REDIS_ERRORS, RedisGuard

_TABLE = LoginFailureCounter.__table__
_COUNTER = (select(_TABLE.c.failures, _TABLE.c.blocked_until, _TABLE.c.expires_at)
            .where(_TABLE.c.key == bindparam("key")))
_RESET = delete(_TABLE).where(_TABLE.c.key == bindparam("key"))


class DatabaseStore:
    """The counters in ``login_failure_counters``; the same interface as the other stores, whose
    ``Status`` class (:class:`idp.auth.lockout.Status`) it is given."""

    def __init__(self, status) -> None:
        self.status = status

    def get(self, key: str, now: float):
        # Every sign-in reads it, also with Redis up: the request's one-statement read
        # (idp.db.single_read), no pool checkout and no transaction on PostgreSQL.
        with ReadConnection() as connection:
            row = connection.execute(_COUNTER, {"key": key}).first()
        if row is None or row.expires_at <= now:
            return None
        return self.status(row.failures, row.blocked_until)

    def fail(self, key: str, now: float, policy):
        """One more failure, counted atomically by the database (INSERT ... ON CONFLICT), so two
        nodes failing the same account at once both count."""
        expires = now + policy.memory_seconds
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(_TABLE).values(key=key, failures=1, blocked_until=0.0, expires_at=expires)
        # An expired row starts again from one, as Redis forgets an expired key.
        failures = case((_TABLE.c.expires_at > now, _TABLE.c.failures + 1), else_=1)
        with db.engine.begin() as connection:
            counted = connection.execute(insert.on_conflict_do_update(
                index_elements=[_TABLE.c.key],
                set_={"failures": failures, "expires_at": expires}).returning(_TABLE.c.failures)).scalar_one()
            blocked_until = now + policy.wait_after(counted)
            connection.execute(_TABLE.update().where(_TABLE.c.key == key)
                               .values(blocked_until=blocked_until))
        return self.status(counted, blocked_until)

    def reset(self, key: str) -> None:
        # Every successful sign-in deletes it: one statement, in autocommit (no BEGIN, COMMIT).
        with db.engine.connect().execution_options(**AUTOCOMMIT) as connection:
            connection.execute(_RESET, {"key": key})


class RedisWithDatabaseFallback:
    """Redis while it answers; the database for a key counted there during an outage."""

    def __init__(self, redis_store, guard: RedisGuard, status) -> None:
        self.redis = redis_store
        self.guard = guard
        self.status = status
        self.database = DatabaseStore(status)

    def get(self, key: str, now: float):
        held = self.database.get(key, now)
        if held is not None:
            return held
        if self.guard.available():
            try:
                return self.guard.call(lambda _client: self.redis.get(key, now))
            except REDIS_ERRORS:
                pass
        return self.status()

    def fail(self, key: str, now: float, policy):
        if self.database.get(key, now) is None and self.guard.available():
            try:
                return self.guard.call(lambda _client: self.redis.fail(key, now, policy))
            except REDIS_ERRORS:
                pass
        return self.database.fail(key, now, policy)

    def reset(self, key: str) -> None:
        self.database.reset(key)
        if self.guard.available():
            # On failure the key expires in Redis by itself; the outage is recorded by the guard.
            with contextlib.suppress(*REDIS_ERRORS):
                self.guard.call(lambda _client: self.redis.reset(key))
