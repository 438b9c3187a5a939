"""Certificate sign-in, server side: one-time challenges bound to the browser session, and the
check of the citizen's signed response (CMS detached or JWS) with its reasons for refusal."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.db import db
from idp.db.types import utcnow
from idp.signatures.challenge import issue_challenge, verify_challenge_response
from idp.signatures.identity import SCHEME_VN, NationalId
from idp.signatures.models import SignatureChallenge

BROWSER = "browser-session-7f3a"


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


def _sign(signer, citizen_keys, slug: str, text: str, *, jws: bool = False) -> str:
    if jws:
        return signer.sign_jws(text.encode(), *citizen_keys[slug])
    return base64.b64encode(signer.sign_cms(text.encode(), *citizen_keys[slug])).decode()


@pytest.mark.parametrize(("slug", "amr"), [("an", "hwk"), ("binh", "swk"), ("cuong", "hwk")])
def test_signed_challenge_gives_certificate_identifier_and_amr(ctx, demo_pki, signer, citizen_keys,
                                                               slug, amr):
    challenge = issue_challenge(BROWSER)
    outcome = verify_challenge_response(BROWSER, challenge, _sign(signer, citizen_keys, slug, challenge))
    assert outcome.ok, outcome.failures
    assert outcome.identifier == NationalId(SCHEME_VN, demo_pki["by_slug"][slug]["identifier"])
    assert outcome.name == demo_pki["by_slug"][slug]["name"]
    assert outcome.certificate == citizen_keys[slug][1]
    assert outcome.amr == amr


def test_jws_response_is_accepted(ctx, demo_pki, signer, citizen_keys):
    challenge = issue_challenge(BROWSER)
    outcome = verify_challenge_response(BROWSER, challenge, _sign(signer, citizen_keys, "cuong", challenge,
                                                                  jws=True))
    assert outcome.ok, outcome.failures
    assert outcome.identifier.value == demo_pki["by_slug"]["cuong"]["identifier"]


def test_challenge_is_random_names_the_issuer_and_is_stored_only_as_digests(ctx):
    first, second = issue_challenge(BROWSER), issue_challenge(BROWSER)
    assert first != second
    assert first.startswith("idp-signin http://127.0.0.1:8000 ")
    rows = db.session.scalars(select(SignatureChallenge)).all()
    assert len(rows) == 2
    for row in rows:
        assert first not in (row.challenge_digest, row.binding_digest)
        assert BROWSER not in (row.challenge_digest, row.binding_digest)
        assert row.expires_at - row.created_at == timedelta(minutes=2)


@pytest.mark.parametrize(("slug", "reason"), [
    ("dung", "revoked"), ("em", "expired"), ("khanh", "unknown_issuer"), ("hai", "wrong_key_usage"),
])
def test_defective_certificates_are_refused_with_their_reason(ctx, demo_pki, signer, citizen_keys,
                                                              slug, reason):
    challenge = issue_challenge(BROWSER)
    outcome = verify_challenge_response(BROWSER, challenge, _sign(signer, citizen_keys, slug, challenge))
    assert not outcome.ok
    assert outcome.reason == reason
    assert outcome.amr is None


def test_revoked_refusal_carries_the_revocation_date(ctx, demo_pki, signer, citizen_keys):
    challenge = issue_challenge(BROWSER)
    outcome = verify_challenge_response(BROWSER, challenge, _sign(signer, citizen_keys, "dung", challenge))
    assert outcome.failures[0].details["revoked_at"] == demo_pki["revoked_at"]


def test_signature_over_another_text_is_a_bad_signature(ctx, signer, citizen_keys):
    challenge = issue_challenge(BROWSER)
    response = _sign(signer, citizen_keys, "an", challenge + "x")
    outcome = verify_challenge_response(BROWSER, challenge, response)
    assert outcome.reason == "bad_signature"


def test_jws_over_another_text_is_a_challenge_mismatch(ctx, signer, citizen_keys):
    challenge = issue_challenge(BROWSER)
    outcome = verify_challenge_response(BROWSER, challenge,
                                        _sign(signer, citizen_keys, "cuong", "something else", jws=True))
    assert outcome.reason == "challenge_mismatch"


def test_a_challenge_is_accepted_once_only(ctx, signer, citizen_keys):
    challenge = issue_challenge(BROWSER)
    response = _sign(signer, citizen_keys, "an", challenge)
    assert verify_challenge_response(BROWSER, challenge, response).ok
    assert verify_challenge_response(BROWSER, challenge, response).reason == "challenge_replayed"


def test_a_failed_attempt_uses_the_challenge_up(ctx, signer, citizen_keys):
    challenge = issue_challenge(BROWSER)
    assert verify_challenge_response(BROWSER, challenge, "garbage").reason == "malformed"
    response = _sign(signer, citizen_keys, "an", challenge)
    assert verify_challenge_response(BROWSER, challenge, response).reason == "challenge_replayed"


def test_an_expired_challenge_is_refused(ctx, signer, citizen_keys):
    challenge = issue_challenge(BROWSER)
    db.session.execute(update(SignatureChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = _sign(signer, citizen_keys, "an", challenge)
    assert verify_challenge_response(BROWSER, challenge, response).reason == "challenge_expired"


def test_another_browser_session_cannot_use_or_burn_the_challenge(ctx, signer, citizen_keys):
    challenge = issue_challenge(BROWSER)
    response = _sign(signer, citizen_keys, "an", challenge)
    assert verify_challenge_response("attacker-session", challenge, response).reason == "wrong_session"
    assert verify_challenge_response(BROWSER, challenge, response).ok


def test_a_challenge_this_server_never_issued_is_refused(ctx, signer, citizen_keys):
    forged = "idp-signin http://127.0.0.1:8000 made-up"
    response = _sign(signer, citizen_keys, "an", forged)
    assert verify_challenge_response(BROWSER, forged, response).reason == "unknown_challenge"


def test_another_persons_certificate_is_refused_when_the_citizen_is_known(ctx, demo_pki, signer,
                                                                          citizen_keys):
    challenge = issue_challenge(BROWSER)
    response = _sign(signer, citizen_keys, "binh", challenge)
    expected = NationalId(SCHEME_VN, demo_pki["by_slug"]["an"]["identifier"])
    outcome = verify_challenge_response(BROWSER, challenge, response, expected_identifier=expected)
    assert outcome.reason == "identifier_mismatch"
    assert outcome.amr is None


def test_expired_challenges_are_swept_when_new_ones_are_issued(ctx):
    issue_challenge(BROWSER)
    db.session.execute(update(SignatureChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    issue_challenge(BROWSER)
    assert len(db.session.scalars(select(SignatureChallenge)).all()) == 1


def test_an_empty_browser_session_id_cannot_get_a_challenge(ctx):
    with pytest.raises(ValueError):
        issue_challenge("")
