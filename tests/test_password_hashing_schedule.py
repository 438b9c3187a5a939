"""argon2id runs as a batch computation (SCHED_BATCH) and the request thread goes back to the
default policy afterwards: the hash keeps its share of the CPU, but does not preempt the other
requests running on the same core (idp.auth.password._as_batch)."""

from __future__ import annotations

import os

import pytest

from idp.auth.argon2_memory import KeptMemoryVerifier
from tests.factories import AN, load_registry, make_citizen, sign_in

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")


@pytest.fixture
def citizen_app(app):
    load_registry(app)
    make_citizen(app, AN)
    return app


@pytest.fixture
def policies(monkeypatch):
    """The scheduling policy of the thread running each argon2id verification."""
    seen: list[int] = []
    verify = KeptMemoryVerifier.verify

    def observed(self, stored, password):
        seen.append(os.sched_getscheduler(0))
        return verify(self, stored, password)

    monkeypatch.setattr(KeptMemoryVerifier, "verify", observed)
    return seen


@pytest.mark.parametrize(("username", "password", "status"), [
    (AN["identifier"], None, 303),              # the right password: signed in
    (AN["identifier"], "not the password", 422),  # a wrong one
    ("012345678999", "whatever it is", 422),     # no such account: the dummy verification
])
def test_a_sign_in_verifies_the_password_as_a_batch_computation(citizen_app, policies, username,
                                                               password, status):
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    answer = sign_in(citizen_app.test_client(), username, **({"password": password} if password else {}))
    assert answer.status_code == status
    assert policies == [os.SCHED_BATCH]
    # The request thread (here the test's own) is back to the default policy for what follows.
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
