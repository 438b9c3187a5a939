"""How a password hash and the requests beside it take turns at a core (Linux scheduling).

An argon2id verification streams its memory cost (64 MiB by default) through the caches, more
than a core's L2 and the machine's L3 hold: whatever runs after a turn of the hash finds its
code and data evicted, and pays to bring them back. Left to the kernel's defaults, a request
thread that wakes (a request arrived) preempts the running hash, and the hash gets the core
back a millisecond slice later: on a busy core a sign-in's other requests each start cold,
several times per hash. With one worker on one core and four browsers signing in at once, the
work of a sign-in other than its hash cost 20 ms of CPU that way, against 11.5 ms with each
hash left to run to its end (``scripts/bench --scenario signin``, alternating runs).

So, unless ``IDP_ARGON2_SLICE_MS`` is 0:

- every request thread runs under ``SCHED_BATCH`` (:func:`as_request_thread`, once per
  thread): a batch thread that wakes does not preempt the thread running, it waits for the end
  of that thread's slice (or for a free core, where the kernel places it if there is one);
- a hash asks for a slice as long as a hash (:func:`hash_turn`: ``sched_setattr``'s
  ``sched_runtime`` for a thread of the fair class, Linux 6.12 and newer; the kernel caps it at
  100 ms), so it runs to its end, and the requests that arrived meanwhile run one after another,
  warm after the first.

The cost: on a saturated core, a request that arrives while a hash runs waits for the hash (a
tenth of a second at most), instead of a millisecond. A request with a free core beside it does
not wait. ``IDP_ARGON2_SLICE_MS=0`` keeps the kernel's slices: request threads keep the default
policy, and a hash runs as ``SCHED_BATCH`` so that at least its own threads waking do not
preempt a request.

Both are plain (unprivileged) scheduling settings of the calling thread. Children forked by a
batch thread start with the default policy (``SCHED_RESET_ON_FORK``). Where a hash cannot have
its slice (not Linux, a kernel before 6.12, a sandbox that refuses the calls:
:func:`long_slices`), everything runs as with ``IDP_ARGON2_SLICE_MS=0``: batch request threads
without the hash's slice would only take turns with it by the kernel's slices, and no longer
let a request interrupt a hash.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
from collections.abc import Iterator

#: ``sched_setattr`` and ``sched_getattr`` by machine (the C library has no wrapper for them).
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275), "riscv64": (274, 275)}
_NO_PRIORITY = os.sched_param(0) if hasattr(os, "sched_param") else None


class _Attributes(ctypes.Structure):
    """``struct sched_attr`` up to ``sched_period`` (``SCHED_ATTR_SIZE_VER0``, 48 bytes)."""

    _fields_ = [("size", ctypes.c_uint32), ("policy", ctypes.c_uint32), ("flags", ctypes.c_uint64),
                ("nice", ctypes.c_int32), ("priority", ctypes.c_uint32), ("runtime", ctypes.c_uint64),
                ("deadline", ctypes.c_uint64), ("period", ctypes.c_uint64)]


def _syscall():
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None or not hasattr(os, "SCHED_BATCH"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).syscall, numbers
    except (OSError, AttributeError):
        return None


_SYSCALL = _syscall()


def _attributes() -> _Attributes | None:
    """The calling thread's scheduling attributes, or None where they cannot be read."""
    if _SYSCALL is None:
        return None
    syscall, (_, get) = _SYSCALL
    attributes = _Attributes()
    if syscall(get, 0, ctypes.byref(attributes), ctypes.sizeof(_Attributes), 0) != 0:
        return None
    return attributes


def _apply(attributes: _Attributes) -> bool:
    syscall, (put, _) = _SYSCALL
    attributes.size = ctypes.sizeof(_Attributes)
    return syscall(put, 0, ctypes.byref(attributes), 0) == 0


def slice_ns() -> int | None:
    """The calling thread's time slice in nanoseconds (None where it cannot be read)."""
    attributes = _attributes()
    return None if attributes is None else attributes.runtime


def _policy() -> int | None:
    """The calling thread's policy (without the reset-on-fork flag), None where unknown."""
    try:
        return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
    except (AttributeError, OSError):
        return None


def _switch(policy: int) -> bool:
    """The calling thread to ``policy``; children forked later start with the default one."""
    try:
        os.sched_setscheduler(0, policy | os.SCHED_RESET_ON_FORK, _NO_PRIORITY)
        return True
    except (AttributeError, OSError):
        return False


@functools.cache
def long_slices() -> bool:
    """Whether this kernel takes a slice from a fair-class thread: 6.12 and newer report the
    thread's slice in ``sched_runtime``, older ones 0 (and ignore one that is set)."""
    return bool(slice_ns())


def as_request_thread() -> None:
    """Make the calling thread, one that answers requests, a ``SCHED_BATCH`` thread (run once
    per thread, before its first request: :func:`idp.process_threads.set_up_request_threads`),
    unless an operator runs the server under another policy than these two."""
    if _policy() in (os.SCHED_OTHER, os.SCHED_BATCH):
        _switch(os.SCHED_BATCH)


@contextlib.contextmanager
def hash_turn(slice_ms: int) -> Iterator[None]:
    """Run the block (a password hash on this thread) as the module docstring says: with a time
    slice of ``slice_ms`` milliseconds, or with ``slice_ms`` 0 (or a kernel that takes no slice,
    :func:`long_slices`) as ``SCHED_BATCH``; then as before."""
    if slice_ms <= 0 or not long_slices():
        with _batch_for_the_block():
            yield
        return
    attributes = _attributes()
    if attributes is None or attributes.policy not in (os.SCHED_OTHER, os.SCHED_BATCH):
        yield
        return
    attributes.runtime = slice_ms * 1_000_000
    extended = _apply(attributes)
    try:
        yield
    finally:
        if extended:
            attributes.runtime = 0  # the kernel's default slice again
            _apply(attributes)


@contextlib.contextmanager
def _batch_for_the_block() -> Iterator[None]:
    switched = _policy() == os.SCHED_OTHER and _switch(os.SCHED_BATCH)
    try:
        yield
    finally:
        if switched:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, os.SCHED_OTHER, _NO_PRIORITY)
