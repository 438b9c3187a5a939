"""The clients service: redirect URI rules, secrets stored as digests, rotation with a grace
period, pairwise subjects."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from sqlalchemy import select, update

from idp.citizens.models import Citizen
from idp.db import db
from idp.db.types import utcnow
from idp.oidc.clients.registry import ClientError, create_client, rotate_secret
from idp.oidc.models import Client, ClientSecret
from tests.oidc_support import REDIRECT, basic, exchange, jwks_of, register, sign_in, tokens_for


@pytest.mark.parametrize("uri", [
    "http://rp.example.gov.vn/cb",          # http off loopback
    "https://rp.example.gov.vn/cb#frag",    # fragment (RFC 6749 §3.1.2)
    "https://*.example.gov.vn/cb",          # wildcard
    "rp.example.gov.vn/cb",                 # not absolute
    "javascript:alert(1)",
])
def test_bad_redirect_uris_are_refused(app, uri):
    with app.app_context(), pytest.raises(ClientError):
        create_client(name="x", redirect_uris=[uri])


def test_loopback_http_redirect_uri_is_accepted(app):
    with app.app_context():
        client, secret = create_client(name="dev", redirect_uris=["http://127.0.0.1:5000/cb"])
        assert client.redirect_uris == ["http://127.0.0.1:5000/cb"] and len(secret) >= 43


def test_secret_is_stored_as_a_digest(app):
    with app.app_context():
        client, secret = create_client(name="x", redirect_uris=[REDIRECT])
        db.session.commit()
        stored = db.session.scalar(select(ClientSecret.digest))
        assert secret not in stored and len(stored) == 64


def test_rotated_secret_keeps_working_during_the_grace_period(app, browser, citizen_id):
    client_id, old = register(app, client_id="rot")
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        new = rotate_secret(client, grace_seconds=3600)
        db.session.commit()
    sign_in(app, browser, citizen_id)
    assert tokens_for(browser, client_id, old)["access_token"]
    assert tokens_for(browser, client_id, new)["access_token"]
    with app.app_context():
        db.session.execute(update(ClientSecret).where(ClientSecret.expires_at.is_not(None))
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = browser.post("/token", headers=basic(client_id, old),
                            data={"grant_type": "client_credentials"})
    assert (response.status_code, response.get_json()["error"]) == (401, "invalid_client")


def test_pairwise_subjects_differ_between_sectors_and_public_is_stable(app, browser, citizen_id):
    sign_in(app, browser, citizen_id)
    a = register(app, client_id="a", redirect_uris=["https://tax.example.gov.vn/cb"])
    a2 = register(app, client_id="a2", redirect_uris=["https://tax.example.gov.vn/cb"])
    b = register(app, client_id="b", redirect_uris=["https://land.example.gov.vn/cb"])
    portal = register(app, client_id="portal-public", subject_type="public")
    def sub(rp, redirect):
        response = browser.get("/authorize", query_string={
            "response_type": "code", "client_id": rp[0], "redirect_uri": redirect, "scope": "openid"})
        assert response.status_code == 302 and response.headers["Location"].startswith(redirect)
        code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
        token = exchange(browser, *rp, code, redirect_uri=redirect).get_json()
        return jwt.decode(token["id_token"], jwks_of(browser)).claims["sub"]

    sub_a = sub(a, "https://tax.example.gov.vn/cb")
    assert sub_a == sub(a, "https://tax.example.gov.vn/cb")
    assert sub_a == sub(a2, "https://tax.example.gov.vn/cb")
    assert sub_a != sub(b, "https://land.example.gov.vn/cb")
    with app.app_context():
        uid = db.session.get(Citizen, citizen_id).uid
    assert sub(portal, REDIRECT) == uid
