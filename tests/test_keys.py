"""Signing keys: the JWKS (RFC 7517 §5), rotation that never breaks a relying party, the
``idp keys`` commands, and private keys encrypted at rest."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from idp.db import db
from idp.db.types import utcnow
from idp.keys import service
from idp.keys.models import SigningKey
from tests.oidc_support import jwks_of, sign_in, tokens_for


def _kids(browser) -> set[str]:
    return {k["kid"] for k in browser.get("/.well-known/jwks.json").get_json()["keys"]}


def test_key_rotation_old_tokens_verify_until_they_expire_and_the_new_key_signs(
        app, browser, rp, citizen_id):
    sign_in(app, browser, citizen_id)
    old = tokens_for(browser, *rp)
    old_id_kid = jwt.decode(old["id_token"], jwks_of(browser)).header["kid"]
    old_at_kid = jwt.decode(old["access_token"], jwks_of(browser)).header["kid"]

    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    rotated = {item["new"]["alg"]: item for item in json.loads(result.output)}
    assert rotated["RS256"]["retired"]["kid"] == old_id_kid
    assert rotated["ES256"]["retired"]["kid"] == old_at_kid

    # The old key stays published: tokens it signed still verify, from the JWKS alone.
    keyset = jwks_of(browser)
    assert {old_id_kid, old_at_kid} <= _kids(browser)
    jwt.decode(old["id_token"], keyset)
    jwt.decode(old["access_token"], keyset)
    auth = {"Authorization": f"Bearer {old['access_token']}"}
    assert browser.get("/userinfo", headers=auth).status_code == 200

    # The new key signs from now on.
    new = tokens_for(browser, *rp)
    assert jwt.decode(new["id_token"], keyset).header["kid"] == rotated["RS256"]["new"]["kid"]
    assert jwt.decode(new["access_token"], keyset).header["kid"] == rotated["ES256"]["new"]["kid"]

    # Once the last token it signed has expired, the old key leaves the JWKS.
    with app.app_context():
        row = db.session.scalar(select(SigningKey).where(SigningKey.kid == old_at_kid))
        assert row.publish_until - row.retired_at == timedelta(seconds=600)
        db.session.execute(update(SigningKey).where(SigningKey.retired_at.is_not(None))
                           .values(publish_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        service.invalidate()
    assert old_at_kid not in _kids(browser) and old_id_kid not in _kids(browser)
    assert browser.get("/userinfo", headers=auth).status_code == 401
    with pytest.raises((JoseError, ValueError)):
        jwt.decode(old["access_token"], jwks_of(browser))


def test_keys_list_and_retire_commands(app):
    runner = app.test_cli_runner()
    listed = json.loads(runner.invoke(args=["keys", "list", "--json"]).output)
    algs = {k["alg"] for k in listed if k["status"] == "active"}
    assert {"RS256", "ES256", "EdDSA"} <= algs
    kid = next(k["kid"] for k in listed if k["alg"] == "EdDSA")
    retired = runner.invoke(args=["keys", "retire", kid, "--json"])
    assert retired.exit_code == 0 and json.loads(retired.output)["status"] == "retired"
    unknown = runner.invoke(args=["keys", "retire", "no-such-kid"])
    assert unknown.exit_code == 1 and "no key with kid" in unknown.output
    with app.app_context():
        assert service.signing_key("EdDSA").kid != kid  # a fresh key takes over


def test_jwks_is_cacheable_with_an_etag(browser):
    first = browser.get("/.well-known/jwks.json")
    assert first.status_code == 200 and first.mimetype == "application/jwk-set+json"
    assert "max-age" in first.headers["Cache-Control"] and first.headers["ETag"]
    again = browser.get("/.well-known/jwks.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    for key in first.get_json()["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["use"] == "sig" and key["kid"] and key["alg"]


def test_private_keys_are_encrypted_with_the_secret_key(app, environ):
    from idp import create_app

    with app.app_context():
        service.jwks()
        row = db.session.scalar(select(SigningKey).where(SigningKey.alg == "RS256"))
        assert b"PRIVATE KEY" not in row.private_key_encrypted
    other = create_app({**environ, "IDP_SECRET_KEY": "another-secret-key-" + "y" * 32})
    with other.app_context():
        row = db.session.scalar(select(SigningKey).where(SigningKey.alg == "RS256"))
        with pytest.raises(InvalidTag):
            service._private_key(row)
        db.engine.dispose()


def test_client_may_choose_es256_or_eddsa_id_tokens(app, browser, citizen_id):
    from tests.oidc_support import register

    sign_in(app, browser, citizen_id)
    for alg in ("ES256", "EdDSA"):
        client_id, secret = register(app, client_id=f"c-{alg}", id_token_signed_response_alg=alg)
        token = tokens_for(browser, client_id, secret)
        decoded = jwt.decode(token["id_token"], KeySet.import_key_set(
            browser.get("/.well-known/jwks.json").get_json()), algorithms=[alg])
        assert decoded.header["alg"] == alg
