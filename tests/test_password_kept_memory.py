"""argon2id verification in memory the process keeps (idp.auth.argon2_memory): the same answers
as argon2-cffi's own verification (RFC 9106), the memory wiped after every hash, and no more
of it than the hashes a process runs at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerifyMismatchError
from argon2.low_level import ffi

from idp import create_app
from idp.auth.argon2_memory import KeptMemoryVerifier
from idp.auth.password import _hashing, hash_password, verify_password

PASSWORDS = ["correct horse battery staple", "mật khẩu của tôi 2026", "x" * 256, "ü"]


@pytest.fixture
def app(environ):
    return create_app({**environ, "IDP_ARGON2_MAX_CONCURRENT": "2"})


def _library_answer(hasher: PasswordHasher, encoded: str, password: str) -> bool:
    try:
        return hasher.verify(encoded, password)
    except VerifyMismatchError:
        return False


@pytest.mark.parametrize("shape", [
    {"time_cost": 1, "memory_cost": 64, "parallelism": 1},   # the tests' own parameters
    {"time_cost": 3, "memory_cost": 256, "parallelism": 4},  # the default's shape: 4 lanes, 4 threads
])
@pytest.mark.parametrize("stored", PASSWORDS)
@pytest.mark.parametrize("offered", PASSWORDS)
def test_answers_as_argon2_cffi_does(shape, stored, offered):
    hasher = PasswordHasher(**shape, type=Type.ID)
    kept = KeptMemoryVerifier(hasher)
    encoded = hasher.hash(stored)
    assert kept.verify(encoded, offered) is _library_answer(hasher, encoded, offered)
    assert kept._idle.qsize() == 1  # it ran in kept memory, not through the library


@pytest.mark.parametrize("threads", [1, 2, 4, 8])
def test_the_lanes_on_fewer_threads_give_the_same_answers(threads):
    """RFC 9106 §3.2: lanes are independent within a segment, so computing four of them on one
    thread (idp.auth.password.lane_threads on a worker with one core) is the same hash."""
    hasher = PasswordHasher(time_cost=3, memory_cost=256, parallelism=4, type=Type.ID)
    kept = KeptMemoryVerifier(hasher, threads)
    assert kept.threads == min(threads, 4)
    encoded = hasher.hash(PASSWORDS[1])
    assert kept.verify(encoded, PASSWORDS[1]) is True
    assert kept.verify(encoded, PASSWORDS[0]) is False
    assert kept._idle.qsize() == 1


def test_a_hash_made_with_other_parameters_is_verified_by_argon2_cffi(app):
    """Accounts hashed before a parameter change still sign in (and are re-hashed then)."""
    older = PasswordHasher(time_cost=2, memory_cost=128, parallelism=2, type=Type.ID)
    encoded = older.hash("correct horse battery staple")
    with app.app_context():
        assert verify_password(encoded, "correct horse battery staple")
        assert _hashing().kept._idle.qsize() == 0  # no arena of the configured size made for it
        assert not verify_password(encoded, "wrong")
        assert not verify_password(PasswordHasher(type=Type.I, memory_cost=64, time_cost=1,
                                                  parallelism=1).hash("argon2i"), "wrong")


@pytest.mark.parametrize("encoded", [
    "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$!!!not base64!!!",
    "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
    "$argon2id$v=19$m=64,t=one,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
    "not a hash at all",
])
def test_an_unreadable_stored_hash_is_a_refusal_not_an_error(app, encoded):
    with app.app_context():
        assert verify_password(encoded, "anything") is False


def test_the_memory_is_wiped_after_each_hash(app):
    """libargon2 clears its memory before handing it back: nothing of one password's blocks is
    there for whoever reads the process's memory next."""
    with app.app_context():
        encoded = hash_password("correct horse battery staple")
        assert verify_password(encoded, "correct horse battery staple")
        kept = _hashing().kept
    arena = kept._idle.get_nowait()
    assert arena.size == kept.hasher.memory_cost * 1024
    assert arena._mapping[:] == bytes(arena.size)


def test_a_process_keeps_one_arena_per_hash_it_runs_at_once(app):
    with app.app_context():
        encoded = hash_password("correct horse battery staple")

    def sign_in(password):
        with app.app_context():
            return verify_password(encoded, password)

    offered = ["correct horse battery staple", "wrong"] * 8
    with ThreadPoolExecutor(len(offered)) as pool:
        assert list(pool.map(sign_in, offered)) == [p == offered[0] for p in offered]
    with app.app_context():
        assert 1 <= _hashing().kept._idle.qsize() <= 2  # IDP_ARGON2_MAX_CONCURRENT


def test_without_memory_for_an_arena_argon2_cffi_verifies(app, monkeypatch):
    """A system that refuses the mapping (or cffi's callback) still signs its citizens in."""
    def refused(*args, **kwargs):
        raise MemoryError("Cannot allocate write+execute memory for ffi.callback()")

    monkeypatch.setattr("idp.auth.argon2_memory._Arena", refused)
    with app.app_context():
        encoded = hash_password("correct horse battery staple")
        assert verify_password(encoded, "correct horse battery staple")
        assert not verify_password(encoded, "wrong")
        assert _hashing().kept.unavailable.startswith("MemoryError")


def test_an_empty_password_is_a_mismatch_not_an_error(app):
    with app.app_context():
        assert verify_password(hash_password("correct horse battery staple"), "") is False


def test_an_allocation_larger_than_the_arena_is_refused_not_overrun():
    arena = KeptMemoryVerifier(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))._take()
    memory = ffi.new("uint8_t **")
    assert arena.allocate(memory, 64 * 1024 + 1) != 0
    assert memory[0] == ffi.NULL
    assert arena.allocate(memory, 64 * 1024) == 0
    assert memory[0] != ffi.NULL
