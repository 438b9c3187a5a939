"""Passwords: argon2id hashing (RFC 9106) and the policy a new password must meet.

Parameters come from ``IDP_ARGON2_*``; a hash made with other parameters is re-hashed the next
time its owner signs in (``needs_rehash``), so raising the cost reaches every account without
a reset. At most ``IDP_ARGON2_MAX_CONCURRENT`` hashes run at once in a process (by default
about one per core of the machine, :func:`concurrent_hashes`): each holds its memory cost
(64 MiB by default) while it runs, a server with many threads (they mostly wait on the
database) must not multiply that by its thread count when sign-ins arrive together, and hashes
beyond one per core only take turns at the cores, each costing more CPU than alone.

A hash computes its lanes on as many threads as the cores left to it (:func:`lane_threads`):
with ``auto`` one hash per core, so one thread each. More threads than cores only take turns
with the request threads: on one core, a sign-in beside a running hash cost ~5 % more CPU with
the default's four lane threads than with one.

A hash runs to its end before the requests waiting beside it on a busy core
(:func:`idp.scheduling.hash_turn`): each turn of the hash streams argon2id's 64 MiB through the
caches, and a request that interrupted it would go on cold.

The policy follows NIST SP 800-63B section 3.1.1.2: a minimum length, no composition rules,
and a refusal of passwords found in lists of common ones.
"""

from __future__ import annotations

import gzip
import os
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

from idp.auth.argon2_memory import KeptMemoryVerifier
from idp.scheduling import hash_turn

#: Longer inputs are refused before hashing: argon2 cost must not be driven by the attacker.
MAX_LENGTH = 256
_COMMON_LISTS = ("common-passwords.txt.gz", "common-passwords-vi.txt")


@dataclass(frozen=True)
class _Hashing:
    hasher: PasswordHasher
    #: Verified against when no account matches, so both cases take the same time.
    dummy_hash: str
    #: The hashes allowed to run at once (``IDP_ARGON2_MAX_CONCURRENT``).
    slots: threading.BoundedSemaphore
    #: Verifies with ``hasher``, in memory kept between hashes (:mod:`idp.auth.argon2_memory`).
    kept: KeptMemoryVerifier
    #: The time slice a hash asks for (``IDP_ARGON2_SLICE_MS``, :func:`idp.scheduling.hash_turn`).
    slice_ms: int


def _hashing() -> _Hashing:
    extensions = current_app.extensions
    if "idp.password" not in extensions:
        settings = current_app.config["IDP"]
        hasher = PasswordHasher(time_cost=settings.argon2_time_cost,
                                memory_cost=settings.argon2_memory_cost,
                                parallelism=settings.argon2_parallelism, type=Type.ID)
        # The first to finish wins, so every thread shares one set of slots.
        extensions.setdefault("idp.password", _Hashing(
            hasher, hasher.hash("not a password of anyone"),
            threading.BoundedSemaphore(concurrent_hashes(settings.argon2_max_concurrent)),
            KeptMemoryVerifier(hasher, lane_threads(settings.argon2_max_concurrent)),
            settings.argon2_slice_ms))
    return extensions["idp.password"]


def _worker_cores() -> int:
    """The cores this process may run on divided by the server's worker processes
    (``WEB_CONCURRENCY``, which the container image and ``idp serve`` set), at least 1."""
    cores = len(os.sched_getaffinity(0))
    try:
        workers = max(1, int(os.environ.get("WEB_CONCURRENCY", "1")))
    except ValueError:
        workers = 1
    return max(1, cores // workers)


def concurrent_hashes(setting: int | None) -> int:
    """The hashes a process runs at once: ``setting``, or for ``auto`` (None) the worker's share
    of the cores (:func:`_worker_cores`). Worked out in the worker, at its first hash: a worker
    pinned to a core (``taskset``, a CPU set) gets 1."""
    return setting if setting is not None else _worker_cores()


def lane_threads(setting: int | None) -> int:
    """Threads per hash: the worker's share of the cores divided among the hashes it runs at
    once (at least 1; the verifier uses at most one per lane). ``auto``: one."""
    return max(1, _worker_cores() // concurrent_hashes(setting))


def _prepare(password: str) -> str:
    # Keyboards send Vietnamese letters precomposed or decomposed: hash one form.
    return unicodedata.normalize("NFC", password)


def hash_password(password: str) -> str:
    hashing = _hashing()
    with hashing.slots, hash_turn(hashing.slice_ms):
        return hashing.hasher.hash(_prepare(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. With no stored hash, a dummy verification still runs."""
    hashing = _hashing()
    candidate = _prepare(password)[:MAX_LENGTH]
    encoded = stored_hash or hashing.dummy_hash
    try:
        with hashing.slots, hash_turn(hashing.slice_ms):
            matched = hashing.kept.verify(encoded, candidate)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    """The hash was made with other parameters than ``IDP_ARGON2_*`` now say."""
    return _hashing().hasher.check_needs_rehash(stored_hash)


@cache
def common_passwords() -> frozenset[str]:
    """The built-in list: 20,000 most common passwords (Royce Williams' list as shipped by
    Django 5.1, BSD licence) and a few Vietnamese ones, case-folded."""
    folder = Path(__file__).parent
    words: set[str] = set()
    for name in _COMMON_LISTS:
        path = folder / name
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            words.update(line.strip().casefold() for line in handle if line.strip())
    return frozenset(words)


def policy_problem(password: str, *, personal: tuple[str, ...] = ()) -> str | None:
    """Why ``password`` may not be used (a short code), or None.

    Codes: ``too_short``, ``too_long``, ``common``, ``personal`` (the password is one of the
    account's own identifiers, such as the national number or the email).
    """
    password = _prepare(password)
    if len(password) < current_app.config["IDP"].password_min_length:
        return "too_short"
    if len(password) > MAX_LENGTH:
        return "too_long"
    folded = password.casefold()
    if folded in common_passwords() or folded.strip("0123456789!.") in common_passwords():
        return "common"
    if any(value and folded == value.casefold() for value in personal):
        return "personal"
    return None
