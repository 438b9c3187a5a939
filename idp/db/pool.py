"""Liveness checks for pooled PostgreSQL connections, only where one can have gone stale.

``pool_pre_ping`` costs a round trip to the database on every checkout: under load that is one
request in three to the server for a client_credentials grant. A connection handed back to the
pool a moment ago is as alive as one checked a moment ago (the check itself races with the
database going away either way), so the ping is kept only for a connection that has sat idle
in the pool for :data:`PING_AFTER_IDLE` seconds or more, where a restarted database, a failover
or a firewall's idle timeout leave dead sockets. A ping that fails raises
:class:`~sqlalchemy.exc.DisconnectionError`, on which the pool throws the connection away and
checks out another (SQLAlchemy's "pessimistic disconnect handling"): the request never sees it.
"""

from __future__ import annotations

import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

#: Seconds a connection may sit in the pool before its next checkout pings the database.
PING_AFTER_IDLE = 1.0
_IDLE_SINCE = "idp_idle_since"


def ping_idle_connections(engine: Engine, after: float = PING_AFTER_IDLE) -> None:
    """Ping, on checkout, the connections that have been idle in ``engine``'s pool ``after``
    seconds or more (instead of ``pool_pre_ping``, which pings every checkout)."""

    @event.listens_for(engine.pool, "checkin")
    def _idle_from_now(dbapi_connection, record) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping_when_idle_long(dbapi_connection, record, proxy) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < after:
            return  # a new connection, or one in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever the driver raises, the socket is dead
            raise DisconnectionError("a pooled connection failed its liveness check") from exc
        if not alive:
            raise DisconnectionError("a pooled connection failed its liveness check")
