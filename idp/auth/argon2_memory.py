"""argon2id verification in memory the process keeps from one hash to the next (RFC 9106).

libargon2 allocates its memory cost (64 MiB by default) afresh for every hash. That is above
glibc's largest mmap threshold (32 MiB), so each hash maps new memory: 16,384 page faults, the
kernel zeroing 64 MiB, and a walk over 4 KiB pages that misses the TLB on nearly every block.
Measured on one core of this kind of machine, that is a sixth of a verification's CPU.

Here each hash in progress has its own :class:`_Arena`: one anonymous mapping made at the
process's first verification and kept, advised for transparent huge pages (2 MiB pages where
the kernel has them, ordinary pages elsewhere). It reaches libargon2 through the allocation
callbacks of its context, the hook argon2-cffi's :func:`argon2.low_level.core` exposes.
libargon2 still wipes the memory before it hands it back (``clear_internal_memory``), so
nothing of one password's hash is left for the next. A worker keeps one arena per hash it has
run at once (``IDP_ARGON2_MAX_CONCURRENT`` at most), which is the memory it needed at its
busiest anyway.

Only hashes made with the hasher's own parameters go this way; the rest (accounts not yet
re-hashed after a parameter change) are verified by the hasher itself, as is everything where
no arena can be made.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
import mmap
import queue

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import ARGON2_VERSION, core, error_to_str, ffi

log = logging.getLogger(__name__)

_ALLOCATION_FAILED = -22  # ARGON2_MEMORY_ALLOCATION_ERROR


class _Arena:
    """One mapping of ``size`` bytes and the callbacks that hand it to libargon2."""

    def __init__(self, size: int):
        self.size = size
        self._mapping = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            # A kernel without transparent huge pages refuses: ordinary pages, then.
            with contextlib.suppress(OSError):
                self._mapping.madvise(mmap.MADV_HUGEPAGE)
        self._memory = ffi.from_buffer("uint8_t[]", self._mapping)

        @ffi.callback("int(uint8_t **, size_t)")
        def allocate(memory, size):
            if size > self.size:
                return _ALLOCATION_FAILED
            memory[0] = self._memory
            return 0

        @ffi.callback("void(uint8_t *, size_t)")
        def release(memory, size):
            """libargon2 has wiped it; it stays mapped for the next hash."""

        self.allocate, self.release = allocate, release


class KeptMemoryVerifier:
    """Verifies encoded argon2id hashes as ``hasher`` would, in kept memory where it can,
    computing a hash's lanes on ``threads`` threads (by default one per lane, as the library
    does). The threads change how the lanes are scheduled, never the hash (RFC 9106 §3.2:
    lanes are computed independently within a segment)."""

    def __init__(self, hasher: PasswordHasher, threads: int | None = None):
        self.hasher = hasher
        self.threads = min(threads or hasher.parallelism, hasher.parallelism)
        self._idle: queue.SimpleQueue[_Arena] = queue.SimpleQueue()
        #: Why no arena could be made (no memory to map, or a system that refuses cffi's
        #: callbacks their executable memory): argon2-cffi verifies from then on.
        self.unavailable: str | None = None

    def verify(self, encoded: str, password: str) -> bool:
        """Whether ``password`` matches ``encoded``. Raises :class:`InvalidHashError` for a
        hash that cannot be read, :class:`VerificationError` for one libargon2 refuses."""
        arena = None
        if self.unavailable is None and not self.hasher.check_needs_rehash(encoded):
            arena = self._take()
        if arena is None:
            try:
                return self.hasher.verify(encoded, password)
            except VerifyMismatchError:
                return False
        hasher = self.hasher
        salt, digest = (_unpadded_base64(part) for part in encoded.rsplit("$", 2)[1:])
        secret = password.encode(hasher.encoding)
        out = ffi.new("uint8_t[]", len(digest))
        try:
            context = ffi.new("argon2_context *", {
                "out": out, "outlen": len(digest),
                "pwd": ffi.from_buffer("uint8_t[]", secret), "pwdlen": len(secret),
                "salt": ffi.from_buffer("uint8_t[]", salt), "saltlen": len(salt),
                "secret": ffi.NULL, "secretlen": 0, "ad": ffi.NULL, "adlen": 0,
                "t_cost": hasher.time_cost, "m_cost": hasher.memory_cost,
                "lanes": hasher.parallelism, "threads": self.threads,
                "version": ARGON2_VERSION, "allocate_cbk": arena.allocate,
                "free_cbk": arena.release, "flags": 0})
            result = core(context, hasher.type.value)
        finally:
            self._idle.put(arena)
        if result != 0:
            raise VerificationError(error_to_str(result))
        return hmac.compare_digest(ffi.buffer(out)[:], digest)

    def _take(self) -> _Arena | None:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            return _Arena(self.hasher.memory_cost * 1024)
        except (OSError, MemoryError) as error:
            self.unavailable = f"{type(error).__name__}: {error}"
            log.warning("argon2id runs in memory mapped afresh for each hash: %s", self.unavailable)
            return None


def _unpadded_base64(text: str) -> bytes:
    """PHC strings carry standard base64 without its padding."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise InvalidHashError from None
