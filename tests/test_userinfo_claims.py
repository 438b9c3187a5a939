"""UserInfo's claims (OIDC Core §5.3.2), made of one row of the citizen's columns read outside
the ORM (:func:`idp.oidc.claims.claims_source`), are exactly what the citizen's ORM object
gives: every scope, a pairwise and a public client, on each database (dates, timestamps and
booleans as the ORM reads them)."""

from __future__ import annotations

import pytest

from idp.citizens.models import Citizen
from idp.db import db
from idp.oidc.claims import user_claims
from tests.oidc_support import ALL_SCOPES, make_citizen, register, sign_in, tokens_for


@pytest.mark.parametrize("subject_type", ["pairwise", "public"])
def test_userinfo_releases_what_the_citizens_object_gives_for_every_scope(app, subject_type):
    client_id, secret = register(app, subject_type=subject_type)
    citizen_id = make_citizen(app)
    browser = app.test_client()
    sign_in(app, browser, citizen_id)
    tokens = tokens_for(browser, client_id, secret, scope=ALL_SCOPES)
    answer = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert answer.status_code == 200
    claims = answer.get_json()
    with app.app_context():
        citizen = db.session.get(Citizen, citizen_id)
        expected = user_claims(citizen, claims["sub"], ALL_SCOPES.split())
        uid = citizen.uid
    assert claims == expected
    assert {"name", "birthdate", "updated_at", "email_verified", "phone_number_verified",
            "address", "national_id", "assurance_level"} <= set(claims)
    assert (claims["sub"] == uid) == (subject_type == "public")  # §8: the subject the client knows
