"""Liveness checks for pooled PostgreSQL connections, only where one can have gone stale.

``pool_pre_ping`` costs a round trip to the database on every checkout: under load that is one
request in three to the server for a client_credentials grant. A connection handed back to the
pool a moment ago is as alive as one checked a moment ago (the check itself races with the
database going away either way), so the ping is kept only for a connection that has sat idle
in the pool for :data:`PING_AFTER_IDLE` seconds or more, where a restarted database, a failover
or a firewall's idle timeout leave dead sockets. Even then the kernel is asked first
(:func:`has_input`): a database that ends a connection (a restart, ``pg_terminate_backend``)
sends its error and closes the socket, and sends an idle connection nothing else unasked, so
a socket with nothing to read is alive as far as a ping could tell, until
:data:`PING_ALWAYS_AFTER` seconds idle (a firewall drops an idle connection silently, after
minutes). A ping that fails raises
:class:`~sqlalchemy.exc.DisconnectionError`, on which the pool throws the connection away and
checks out another (SQLAlchemy's "pessimistic disconnect handling"): the request never sees it.
"""

from __future__ import annotations

import select
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

#: Seconds a connection may sit in the pool before its next checkout pings the database.
PING_AFTER_IDLE = 1.0
#: Seconds idle after which a connection is pinged before use whatever its socket says.
PING_ALWAYS_AFTER = 30.0
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
        if time.monotonic() - idle_since < PING_ALWAYS_AFTER and not has_input(dbapi_connection):
            return  # not ended by the database
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever the driver raises, the socket is dead
            raise DisconnectionError("a pooled connection failed its liveness check") from exc
        if not alive:
            raise DisconnectionError("a pooled connection failed its liveness check")


def has_input(dbapi_connection) -> bool:
    """Whether the database sent anything on this idle connection since its last answer (its
    socket readable, or closed), asked of the kernel without a round trip. True when it has no
    socket to ask (closed; or a driver without one): the ping finds out."""
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except Exception:
        return True
