"""Surviving the failure of a dependency: what idp does when Redis, PostgreSQL, a CRL server or
a relying party's endpoint fails or hangs, and when the node itself is told to stop.

- :mod:`idp.resilience.redis_guard`: Redis with bounded timeouts, a per-process outage state
  (one log line and a metric per outage), and the fallbacks it switches to;
- :mod:`idp.resilience.database_outage`: ``503`` with ``Retry-After`` while PostgreSQL is away;
- :mod:`idp.resilience.bulkhead`: a cap on the threads one slow dependency may hold;
- :mod:`idp.resilience.drain`: SIGTERM drains the node before it stops (rolling restarts).

docs/operations.md is the operator's side of each.
"""
