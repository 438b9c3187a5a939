"""A code is redeemed once, even by two requests at the same time (RFC 6749 §4.1.2).

The token endpoint reads the code, makes the tokens, then claims the code in the step that
stores what it yields (:mod:`idp.oidc.tokens.issued`). Here a second redemption of the same
code completes between the first request's read and its claim: the first request must store
nothing, answer ``invalid_grant``, and revoke what the second was given, as for a code
presented twice in turn. Runs on SQLite and PostgreSQL (where the redemption has no
transaction of its own and the claim, the family and its token are one statement).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from idp.db import db
from idp.oidc.grants.authorization_code import AuthorizationCodeGrant
from idp.oidc.models import AuthorizationCode, RefreshToken, RefreshTokenFamily
from tests.oidc_support import basic, code_for, exchange, sign_in


@pytest.fixture
def signed_in(app, browser, citizen_id):
    sign_in(app, browser, citizen_id)
    return citizen_id


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(RefreshTokenFamily)),
                db.session.scalar(select(func.count()).select_from(RefreshToken)))


def test_a_code_redeemed_meanwhile_by_another_request_yields_nothing_and_revokes_its_tokens(
        app, browser, rp, signed_in, monkeypatch):
    code = code_for(browser, rp[0])["code"]
    other = app.test_client()
    answers, raced = [], []
    read = AuthorizationCodeGrant.query_authorization_code

    def read_then_lose_the_race(self, code_value, client):
        row = read(self, code_value, client)
        if not raced:  # the first request has read the code: the other redeems it now
            raced.append(True)
            answers.append(exchange(other, *rp, code_value))
        return row

    monkeypatch.setattr(AuthorizationCodeGrant, "query_authorization_code", read_then_lose_the_race)
    families_before = _counts(app)
    late = exchange(browser, *rp, code)

    winner = answers[0]
    assert winner.status_code == 200, winner.get_json()
    assert late.status_code == 400 and late.get_json()["error"] == "invalid_grant"
    # Only the winner's family and refresh token were stored.
    assert _counts(app) == (families_before[0] + 1, families_before[1] + 1)
    # What the winner was given is revoked (§4.1.2 SHOULD), its refresh token refused.
    tokens = winner.get_json()
    assert browser.get("/userinfo", headers={
        "Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    refreshed = browser.post("/token", headers=basic(*rp), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"


def test_a_redeemed_code_keeps_the_jti_and_family_that_revoke_on_reuse(app, browser, rp, signed_in):
    code = code_for(browser, rp[0])["code"]
    assert exchange(browser, *rp, code).status_code == 200
    with app.app_context():
        row = db.session.scalar(select(AuthorizationCode).order_by(AuthorizationCode.id.desc()))
        family = db.session.get(RefreshTokenFamily, row.family_id)
        assert row.used_at is not None and row.access_jti and row.access_expires_at is not None
        assert family.citizen_id == row.citizen_id and family.client_pk == row.client_pk
        assert db.session.scalar(select(func.count()).select_from(RefreshToken)
                                 .where(RefreshToken.family_id == family.id)) == 1
