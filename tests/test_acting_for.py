"""Acting for others over HTTP, through the real database: the legal representative activates
an organisation and manages its members on the account pages; a member signs in to a service
choosing the organisation (the choice is part of the consent); the tokens carry ``org`` with the
roles exactly as assigned; removing the member makes those tokens inactive at once and refresh
fail. A parent signs in for a child: the child is the ``sub``, the parent is in ``act``
(RFC 8693 §4.1); the child's 18th birthday ends it. A form edited to name a context the
citizen does not hold is refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt

from idp.citizens.models import LEVEL_VERIFIED, Citizen
from idp.db import db
from idp.oidc.models import Client
from idp.oidc.subject import subject_for
from idp.orgs import age
from idp.orgs.models import Organisation
from tests.factories import AN, NGOC, ROOT, load_registry, make_citizen
from tests.oidc_support import (
    authorize,
    basic,
    exchange,
    form_action,
    jwks_of,
    redirect_params,
    register,
    sign_in,
)
from tests.schema import create_tables

SAMPLE_ORGS = ROOT / "scripts" / "demo_organisations.csv"
SAO_MAI = "0108765438"  # legal representative: An
NORTH_WIND = "1027700123450"  # a Russian company nobody here belongs to
NHUNG = {"identifier": "022175594431"}  # a parent in the sample relations
BAO = {"identifier": "027210356658"}  # her son, born 2010-06-19
SCOPE = "openid profile organization representation"


@pytest.fixture
def people(app):
    load_registry(app)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["orgs", "import", str(SAMPLE_ORGS)]).exit_code == 0
    relations = str(ROOT / "scripts" / "demo_relations.csv")
    assert runner.invoke(args=["relations", "import", relations]).exit_code == 0
    ids = {"an": make_citizen(app, AN), "ngoc": make_citizen(app, NGOC, email="ngoc@example.vn"),
           "nhung": make_citizen(app, NHUNG, email="nhung@example.vn"),
           "bao": make_citizen(app, BAO, email="bao@example.vn")}
    with app.app_context():
        db.session.get(Citizen, ids["an"]).level = LEVEL_VERIFIED
        db.session.commit()
    return ids


@pytest.fixture
def rp(app):
    return register(app, client_id="portal", scope=SCOPE,
                    grant_types=["authorization_code", "refresh_token"])


def _org_pk(app, identifier: str) -> int:
    with app.app_context():
        return db.session.query(Organisation).filter_by(identifier=identifier).one().id


def _csrf(browser, path: str) -> str:
    html = browser.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _post(browser, path: str, form_page: str, **data):
    return browser.post(path, data={"csrf_token": _csrf(browser, form_page), **data})


def _activate_and_add_ngoc(app, browser, people, roles="employee, accountant"):
    sign_in(app, browser, people["an"])
    org = _org_pk(app, SAO_MAI)
    activated = _post(browser, f"/account/acting-for/organisations/{org}/activate", "/account/acting-for")
    assert activated.status_code == 303, activated.get_data(as_text=True)
    page = f"/account/acting-for/organisations/{org}"
    added = _post(browser, f"{page}/members", page, identifier=NGOC["identifier"], roles=roles)
    assert added.status_code == 303, added.get_data(as_text=True)
    return org


def _choose(browser, page, context: str):
    html = page.get_data(as_text=True)
    csrf = html.split('name="csrf_token" value="')[1].split('"')[0]
    return browser.post(form_action(html), data={"csrf_token": csrf, "decision": "allow", "context": context})


def _tokens(app, browser, rp, citizen_id, context: str, **params):
    sign_in(app, browser, citizen_id)
    page = authorize(browser, rp[0], scope=SCOPE, **params)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    code = redirect_params(_choose(browser, page, context))["code"]
    response = exchange(browser, *rp, code)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _introspect(browser, rp, token):
    return browser.post("/introspect", data={"token": token}, headers=basic(*rp)).get_json()


def _refresh(browser, rp, token):
    return browser.post("/token", data={"grant_type": "refresh_token", "refresh_token": token},
                        headers=basic(*rp))


def test_only_the_registrys_legal_representative_can_activate(app, client, people):
    org = _org_pk(app, SAO_MAI)
    sign_in(app, client, people["ngoc"])  # Ngọc represents another company, not this one
    refused = _post(client, f"/account/acting-for/organisations/{org}/activate", "/account/acting-for")
    assert refused.status_code == 403
    with app.app_context():
        db.session.get(Citizen, people["an"]).level = 1
        db.session.commit()
    sign_in(app, client, people["an"])
    low = _post(client, f"/account/acting-for/organisations/{org}/activate", "/account/acting-for")
    assert low.status_code == 403  # the representative, but not verified in person
    with app.app_context():
        assert db.session.get(Organisation, org).activated_at is None
        db.session.get(Citizen, people["an"]).level = LEVEL_VERIFIED
        db.session.commit()
    ok = _post(client, f"/account/acting-for/organisations/{org}/activate", "/account/acting-for")
    assert ok.status_code == 303
    page = client.get(f"/account/acting-for/organisations/{org}").get_data(as_text=True)
    assert "Nguyễn Văn An" in page and "admin" in page


def test_a_member_chooses_the_organisation_and_tokens_carry_the_roles_as_assigned(app, client, people, rp):
    _activate_and_add_ngoc(app, client, people, roles="employee, accountant, ke-toan.truong")
    tokens = _tokens(app, client, rp, people["ngoc"], f"org:{_org_pk(app, SAO_MAI)}")
    expected = {"id": SAO_MAI, "scheme": "vn-tax-code", "name": "Công ty TNHH Phần mềm Sao Mai (demo)",
                "roles": ["accountant", "employee", "ke-toan.truong"]}
    keys = jwks_of(client)
    id_token = jwt.decode(tokens["id_token"], keys).claims
    access = jwt.decode(tokens["access_token"], keys).claims
    with app.app_context():
        ngoc_sub = subject_for(db.session.get(Citizen, people["ngoc"]), db.session.query(Client).one())
    assert id_token["org"] == expected and access["org"] == expected
    assert id_token["sub"] == access["sub"] == ngoc_sub  # the citizen stays the subject
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["org"] == expected and info["name"] == NGOC["full_name"]
    assert _introspect(client, rp, tokens["access_token"])["org"] == expected


def test_the_consent_page_offers_only_held_contexts_and_an_edited_form_is_refused(app, client, people, rp):
    _activate_and_add_ngoc(app, client, people)
    sign_in(app, client, people["ngoc"])
    page = authorize(client, rp[0], scope=SCOPE)
    html = page.get_data(as_text=True)
    assert "Công ty TNHH Phần mềm Sao Mai (demo)" in html and 'value="self"' in html
    assert "Северный ветер" not in html
    # The citizen edits the form to name an organisation they do not belong to.
    tampered = _choose(client, page, f"org:{_org_pk(app, NORTH_WIND)}")
    assert tampered.status_code == 403 and "Location" not in tampered.headers
    # ... or a child who is not theirs.
    assert _choose(client, page, f"person:{people['bao']}").status_code == 403
    # The request is still there: choosing a held context goes on.
    assert "code" in redirect_params(_choose(client, page, "self"))


def test_a_removed_member_loses_the_choice_and_the_tokens_at_once(app, client, people, rp):
    org = _activate_and_add_ngoc(app, client, people)
    tokens = _tokens(app, client, rp, people["ngoc"], f"org:{org}")
    assert _introspect(client, rp, tokens["access_token"])["active"] is True
    sign_in(app, client, people["an"])
    page = f"/account/acting-for/organisations/{org}"
    with app.app_context():
        member_id = next(m.id for m in db.session.get(Organisation, org).members
                         if m.citizen_id == people["ngoc"])
    removed = _post(client, f"{page}/members/{member_id}/remove", page)
    assert removed.status_code == 303
    events = client.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Member removed" in events and "Signed in for the organisation" in events
    # Every use of the tokens checks the membership again.
    assert _introspect(client, rp, tokens["access_token"]) == {"active": False}
    assert _introspect(client, rp, tokens["refresh_token"]) == {"active": False}
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401
    refreshed = _refresh(client, rp, tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    # And the organisation is no longer offered: the only choice left (herself) is taken.
    sign_in(app, client, people["ngoc"])
    code = redirect_params(authorize(client, rp[0], scope=SCOPE))["code"]
    alone = jwt.decode(exchange(client, *rp, code).get_json()["access_token"], jwks_of(client)).claims
    assert "org" not in alone and "act" not in alone


def test_changed_roles_end_tokens_naming_the_old_ones_and_refresh_carries_the_new(app, client, people, rp):
    org = _activate_and_add_ngoc(app, client, people)
    tokens = _tokens(app, client, rp, people["ngoc"], f"org:{org}")
    assert app.test_cli_runner().invoke(args=["orgs", "set-role", SAO_MAI, NGOC["identifier"],
                                              "--role", "director"]).exit_code == 0
    assert _introspect(client, rp, tokens["access_token"]) == {"active": False}
    refreshed = _refresh(client, rp, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    claims = jwt.decode(refreshed.get_json()["access_token"], jwks_of(client)).claims
    assert claims["org"]["roles"] == ["director"]


def test_prompt_none_with_a_choice_to_make_is_account_selection_required(app, client, people, rp):
    _activate_and_add_ngoc(app, client, people)
    sign_in(app, client, people["ngoc"])
    assert redirect_params(authorize(client, rp[0], scope=SCOPE, prompt="none"))["error"] == \
        "account_selection_required"


def test_prompt_select_account_always_asks(app, client, people, rp):
    sign_in(app, client, people["ngoc"])  # no organisation, no child: only herself
    first = authorize(client, rp[0], scope=SCOPE)
    assert 'name="context"' not in first.get_data(as_text=True)  # one choice: taken, consent only
    redirect_params(_choose(client, first, "self"))
    assert authorize(client, rp[0], scope=SCOPE).status_code == 302  # remembered, nothing to choose
    asked = authorize(client, rp[0], scope=SCOPE, prompt="select_account")
    assert asked.status_code == 200 and 'name="context"' in asked.get_data(as_text=True)


def test_a_parent_acts_for_a_child_until_the_child_turns_18(app, client, people, rp, monkeypatch):
    tokens = _tokens(app, client, rp, people["nhung"], f"person:{people['bao']}")
    keys = jwks_of(client)
    id_token = jwt.decode(tokens["id_token"], keys).claims
    access = jwt.decode(tokens["access_token"], keys).claims
    with app.app_context():
        portal = db.session.query(Client).one()
        bao_sub = subject_for(db.session.get(Citizen, people["bao"]), portal)
        nhung_sub = subject_for(db.session.get(Citizen, people["nhung"]), portal)
    assert id_token["sub"] == access["sub"] == bao_sub
    assert id_token["act"] == access["act"] == {"sub": nhung_sub, "relation": "parent"}
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["name"] == "Ngô Gia Bảo" and info["act"]["sub"] == nhung_sub
    # The child sees it in their sign-in history.
    sign_in(app, client, people["bao"])
    history = client.get("/account/history").get_data(as_text=True)
    assert "Dương Thị Hồng Nhung" in history and "Cổng dịch vụ công" in history

    class HisBirthday:  # only the age rule's clock moves: tokens and refresh stay in their lifetime
        @staticmethod
        def now():
            return datetime(2028, 6, 19, 8, tzinfo=UTC)  # his 18th birthday

    monkeypatch.setattr(age, "clock", HisBirthday)
    assert _introspect(client, rp, tokens["access_token"]) == {"active": False}
    assert _refresh(client, rp, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_token_exchange_keeps_the_organisation(app, client, people):
    grant = "urn:ietf:params:oauth:grant-type:token-exchange"
    tax = register(app, client_id="tax", scope=SCOPE, grant_types=["authorization_code", grant])
    social = register(app, client_id="social", redirect_uris=["https://social.example.gov.vn/cb"])
    assert app.test_cli_runner().invoke(args=["token-exchange", "allow", "--client", "tax", "--audience",
                                              "social", "--scope", "openid profile"]).exit_code == 0
    org = _activate_and_add_ngoc(app, client, people)
    tokens = _tokens(app, client, tax, people["ngoc"], f"org:{org}")
    body = {"grant_type": grant, "subject_token": tokens["access_token"], "audience": "social",
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"}
    exchanged = client.post("/token", data=body, headers=basic(*tax))
    assert exchanged.status_code == 200, exchanged.get_json()
    claims = jwt.decode(exchanged.get_json()["access_token"], jwks_of(client)).claims
    # The exchanged scope leaves ``organization`` out; the context stays all the same.
    assert claims["org"]["id"] == SAO_MAI and claims["scope"] == "openid profile"
    assert _introspect(client, social, exchanged.get_json()["access_token"])["active"] is True
    removed = app.test_cli_runner().invoke(args=["orgs", "remove-member", SAO_MAI, NGOC["identifier"]])
    assert removed.exit_code == 0
    assert _introspect(client, social, exchanged.get_json()["access_token"]) == {"active": False}
    again = client.post("/token", data=body, headers=basic(*tax))
    assert again.status_code == 400


@pytest.mark.parametrize("scope", ["openid organization", "openid representation"])
def test_a_registrant_gets_acting_for_others_only_where_an_administrator_allows_it(environ, scope):
    from idp import create_app
    from tests.admin_support import idp_json

    dcr = create_app({**environ, "IDP_DYNAMIC_REGISTRATION": "true"})
    with dcr.app_context():
        create_tables()
    metadata = {"client_name": "School enrolment", "redirect_uris": ["https://school.example.gov.vn/cb"],
                "scope": scope}

    def register_with(*allow):
        token = idp_json(dcr, "clients", "registration-token", "create", "--label", "onboarding", *allow)
        return dcr.test_client().post("/connect/register", json=metadata,
                                      headers={"Authorization": f"Bearer {token['initial_access_token']}"})

    refused = register_with()
    assert refused.status_code == 400 and "administrator only" in refused.get_json()["error_description"]
    assert register_with("--allow-scope", scope.split()[1]).status_code == 201
    with dcr.app_context():
        db.session.remove()
        db.engine.dispose()


def test_token_exchange_keeps_a_parent_in_the_act_chain_named_as_the_target_knows_them(app, client, people):
    grant = "urn:ietf:params:oauth:grant-type:token-exchange"
    school = register(app, client_id="school", scope=SCOPE, grant_types=["authorization_code", grant])
    health = register(app, client_id="health", redirect_uris=["https://health.example.gov.vn/cb"])
    assert app.test_cli_runner().invoke(args=["token-exchange", "allow", "--client", "school", "--audience",
                                              "health", "--scope", "openid profile"]).exit_code == 0
    tokens = _tokens(app, client, school, people["nhung"], f"person:{people['bao']}")
    body = {"grant_type": grant, "subject_token": tokens["access_token"], "audience": "health",
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"}
    exchanged = client.post("/token", data=body, headers=basic(*school))
    assert exchanged.status_code == 200, exchanged.get_json()
    claims = jwt.decode(exchanged.get_json()["access_token"], jwks_of(client)).claims
    with app.app_context():
        target = db.session.query(Client).filter_by(client_id="health").one()
        bao, nhung = (db.session.get(Citizen, people[k]) for k in ("bao", "nhung"))
        assert claims["sub"] == subject_for(bao, target)
        parent = {"sub": subject_for(nhung, target), "relation": "parent"}
        assert claims["act"] == {"sub": "school", "act": parent}
    assert _introspect(client, health, exchanged.get_json()["access_token"])["active"] is True


def test_administration_is_handed_over_and_only_administrators_manage(app, client, people):
    org = _activate_and_add_ngoc(app, client, people)
    page = f"/account/acting-for/organisations/{org}"
    sign_in(app, client, people["ngoc"])
    assert client.get(page).status_code == 404  # an employee does not manage the organisation
    sign_in(app, client, people["an"])
    with app.app_context():
        ngoc_member = next(m.id for m in db.session.get(Organisation, org).members
                           if m.citizen_id == people["ngoc"])
    handed = _post(client, f"{page}/hand-over", page, member_id=str(ngoc_member))
    assert handed.status_code == 303
    assert client.get(page).status_code == 404  # An is an employee now
    sign_in(app, client, people["ngoc"])
    assert client.get(page).status_code == 200
    listed = app.test_cli_runner().invoke(args=["orgs", "members", SAO_MAI, "--json"]).output
    assert '"admin"' in listed and '"employee"' in listed


def test_random_input_to_an_administrators_forms_and_the_choice_is_never_a_server_error(app, client, people,
                                                                                         rp):
    org = _activate_and_add_ngoc(app, client, people)
    page = f"/account/acting-for/organisations/{org}"
    token = _csrf(client, page)
    text = st.text(max_size=60)
    numbers = st.one_of(text, st.sampled_from(["²", "１", "99999999999999999999"]))

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(identifier=text, roles=text, member_id=numbers, path=st.sampled_from(
        ["/members", "/members/1/roles", "/members/2/roles", "/hand-over", "/members/999/remove"]))
    def administer(identifier, roles, member_id, path):
        response = client.post(page + path, data={"csrf_token": token, "identifier": identifier,
                                                  "roles": roles, "member_id": member_id})
        assert response.status_code < 500

    administer()
    sign_in(app, client, people["ngoc"])
    consent = authorize(client, rp[0], scope=SCOPE)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(context=st.one_of(text, st.sampled_from(["org:", "org:²", "person:1", "org:99999999999"])))
    def choose(context):
        assert _choose(client, consent, context).status_code in (302, 403)

    choose()
