"""The in-process store of the sign-in limits when there is no Redis (``IDP_REDIS_URL`` unset).

limits' own in-memory store (``memory://``) drops expired entries from a timer thread that
it starts 10 ms after a hit whenever none is running: on a server signing citizens in one
after another, a thread is created, woken and ended for nearly every POST to a limited form.
On a core shared with argon2id, each of those threads runs with cold caches and costs the
sign-in beside it its context switches.

Here the requests sweep instead: the first hit after :data:`SWEEP_EVERY` seconds drops what
has expired, inline and under limits' own per-key locks, and later hits within the interval
do nothing more. The sweep only frees memory: the moving window already ignores entries older
than the window when it counts (``acquire_entry`` compares their times), so the limits enforced
are exactly limits' own.

It overrides the store's private ``__schedule_expiry`` (name-mangled), the one place limits
decides when to sweep; ``tests/test_lockout.py`` fails if a limits release moves it (a thread
started by a hit, or entries never swept).
"""

from __future__ import annotations

import threading
import time

from limits.storage import MemoryStorage

#: Seconds between two sweeps of expired entries.
SWEEP_EVERY = 1.0


class SweptMemoryStorage(MemoryStorage):
    """limits' ``memory://`` store, expired entries swept by the hits themselves."""

    STORAGE_SCHEME = ["idp-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._next_sweep = 0.0
        self._sweeping = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # the name limits calls
        now = time.monotonic()
        if now < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_EVERY
            self._MemoryStorage__expire_events()
        finally:
            self._sweeping.release()
