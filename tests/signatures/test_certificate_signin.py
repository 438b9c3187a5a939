"""Certificate sign-in over HTTP, as a citizen's browser does it: the sign-in page offers it,
``/login/certificate`` shows a one-time challenge and the signer command, the citizen signs it
with the demo PKI (the real signer tool) and pastes the output. Each refusal names its reason
on a readable page; the resulting SSO session serves an OpenID Connect authorization whose ID
token carries ``amr`` ``hwk`` or ``swk`` (RFC 8176)."""

from __future__ import annotations

import base64
import html
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.auth.models import CertificateCredential, SsoSession
from idp.citizens.models import LEVEL_SELF_REGISTERED, LEVEL_VERIFIED, Citizen, NationalIdentifier
from idp.db import db
from tests.oidc_support import (
    consent_and_code,
    exchange,
    jwks_of,
    pkce_pair,
    register,
    sign_in_page_resume,
    verify,
)
from tests.oidc_support import sign_in as password_session
from tests.signatures.conftest import ROOT

URL = "/login/certificate"


@pytest.fixture
def browser(app):
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return browser


def make_account(app, demo_pki, slug: str, *, level: int = LEVEL_SELF_REGISTERED) -> int:
    """An account holding the national identifier of the demo PKI citizen ``slug``."""
    person = demo_pki["by_slug"][slug]
    with app.app_context():
        citizen = Citizen(full_name=person["name"], birthdate=date(1985, 1, 2), gender="male", level=level,
                          email=f"{slug}@example.vn")
        citizen.identifiers.append(NationalIdentifier(scheme="vn-pin", value=person["identifier"]))
        db.session.add(citizen)
        db.session.commit()
        return citizen.id


def open_page(browser, **query) -> dict[str, str]:
    """GET the certificate page: its challenge, CSRF token and signer command."""
    response = browser.get(URL, query_string=query)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return _page_parts(response.get_data(as_text=True))


def _page_parts(page: str) -> dict[str, str]:
    return {
        "challenge": html.unescape(re.search(r'<pre id="challenge"[^>]*>([^<]+)</pre>', page).group(1)),
        "csrf": re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1),
        "command": html.unescape(re.search(r'<pre id="signer-command"[^>]*>([^<]+)</pre>', page).group(1)),
    }


def submit(browser, page: dict[str, str], signature: str, **query):
    return browser.post(URL, query_string=query, data={
        "csrf_token": page["csrf"], "challenge": page["challenge"], "signature": signature})


def cms(signer, citizen_keys, slug: str, text: str) -> str:
    return base64.b64encode(signer.sign_cms(text.encode(), *citizen_keys[slug])).decode()


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _session_of(app, citizen_id: int) -> SsoSession:
    with app.app_context():
        return db.session.scalars(select(SsoSession).where(SsoSession.citizen_id == citizen_id)
                                  .order_by(SsoSession.id.desc())).first()


def _events(app, action: str, citizen_id: int | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        if citizen_id is not None:
            query = query.where(AuditEvent.citizen_id == citizen_id)
        return list(db.session.scalars(query))


# -- signing in ----------------------------------------------------------------------------------


def test_the_password_page_offers_certificate_sign_in_keeping_next(browser):
    page = browser.get("/login", query_string={"next": "/authorize/continue/abc"}).get_data(as_text=True)
    assert "Sign in with a digital-signature certificate" in page
    assert 'href="/login/certificate?next=/authorize/continue/abc"' in page


def test_rsa_certificate_signed_by_the_signer_tool_as_a_subprocess_signs_in(app, browser, demo_pki):
    citizen_id = make_account(app, demo_pki, "an", level=LEVEL_VERIFIED)
    page = open_page(browser)
    assert page["challenge"].startswith("idp-signin http://127.0.0.1:8000 ")
    assert page["command"].startswith("python clients/signer/idp_signer.py --p12 ")
    assert page["command"].endswith(f"--challenge '{page['challenge']}'")
    result = subprocess.run(
        [sys.executable, str(ROOT / "clients" / "signer" / "idp_signer.py"),
         "--p12", str(demo_pki["dir"] / "an.p12"), "--challenge", page["challenge"]],
        env={**os.environ, "IDP_SIGNER_PASSWORD": demo_pki["password"]},
        capture_output=True, text=True, timeout=60, check=True)
    response = submit(browser, page, result.stdout)
    assert response.status_code == 303, text_of(response)[:2000]
    assert response.headers["Location"] == "/account"
    assert _session_of(app, citizen_id).amr == ["hwk", "pin"]  # qcStatement QcSSCD: a USB token
    assert "Nguyễn Văn An" in browser.get("/account").get_data(as_text=True)
    with app.app_context():
        credential = db.session.scalar(select(CertificateCredential))
        assert credential.citizen_id == citizen_id
        assert credential.serial_number == format(int(demo_pki["by_slug"]["an"]["serial"]), "x")
        assert credential.last_used_at is not None
    success = _events(app, "signin", citizen_id)[-1]
    assert (success.outcome, success.details["method"]) == ("success", "certificate-hwk")


@pytest.mark.parametrize("form", ["cms-base64", "cms-pem", "jws"])
def test_ecdsa_certificate_signs_in_with_cms_or_jws(app, browser, demo_pki, signer, citizen_keys, form):
    citizen_id = make_account(app, demo_pki, "cuong")
    page = open_page(browser)
    key, certificate, chain = citizen_keys["cuong"]
    if form == "jws":
        signature = signer.sign_jws(page["challenge"].encode(), key, certificate, chain)
    else:
        der = signer.sign_cms(page["challenge"].encode(), key, certificate, chain)
        signature = base64.b64encode(der).decode()
        if form == "cms-pem":
            signature = "-----BEGIN CMS-----\n" + base64.encodebytes(der).decode() + "-----END CMS-----\n"
    response = submit(browser, page, signature)
    assert response.status_code == 303, text_of(response)[:2000]
    assert _session_of(app, citizen_id).amr == ["hwk", "pin"]


def test_software_key_certificate_signs_in_with_amr_swk(app, browser, demo_pki, signer, citizen_keys):
    citizen_id = make_account(app, demo_pki, "binh")
    page = open_page(browser)
    assert submit(browser, page, cms(signer, citizen_keys, "binh", page["challenge"])).status_code == 303
    assert _session_of(app, citizen_id).amr == ["swk"]


def test_signing_in_again_updates_the_same_credential(app, browser, demo_pki, signer, citizen_keys):
    make_account(app, demo_pki, "binh")
    for _ in range(2):
        page = open_page(browser)
        assert submit(browser, page, cms(signer, citizen_keys, "binh", page["challenge"])).status_code == 303
    with app.app_context():
        assert len(db.session.scalars(select(CertificateCredential)).all()) == 1


# -- refusals, each with its reason --------------------------------------------------------------


@pytest.mark.parametrize(("slug", "status", "reason"), [
    ("dung", 403, "has been revoked by its certification authority (on {revoked})"),
    ("em", 403, "This certificate has expired"),
    ("khanh", 403, "unknown certification authority"),
    ("hai", 403, "wrong key usage"),
])
def test_defective_certificates_are_refused_naming_the_reason(app, browser, demo_pki, signer, citizen_keys,
                                                              slug, status, reason):
    citizen_id = make_account(app, demo_pki, slug)
    page = open_page(browser)
    response = submit(browser, page, cms(signer, citizen_keys, slug, page["challenge"]))
    assert response.status_code == status
    assert reason.format(revoked=demo_pki["revoked_at"][:10]) in text_of(response)
    assert 'role="alert"' in text_of(response)
    assert _session_of(app, citizen_id) is None
    # A new challenge to try again, and the attempt in the account's sign-in history.
    assert _page_parts(response.get_data(as_text=True))["challenge"] != page["challenge"]
    failure = _events(app, "signin", citizen_id)[-1]
    assert failure.outcome == "failure"
    assert failure.details == {"method": "certificate",
                               "reason": {"dung": "revoked", "em": "expired", "khanh": "unknown_issuer",
                                          "hai": "wrong_key_usage"}[slug]}


def test_a_signature_over_a_tampered_challenge_is_refused(app, browser, demo_pki, signer, citizen_keys):
    citizen_id = make_account(app, demo_pki, "an")
    page = open_page(browser)
    tampered = page["challenge"][:-4] + "AAAA"
    response = submit(browser, page, cms(signer, citizen_keys, "an", tampered))
    assert response.status_code == 400
    assert "The signature does not match the challenge" in text_of(response)
    assert _session_of(app, citizen_id) is None


def test_a_jws_over_a_tampered_challenge_is_refused(app, browser, demo_pki, signer, citizen_keys):
    make_account(app, demo_pki, "cuong")
    page = open_page(browser)
    token = signer.sign_jws((page["challenge"] + " and more").encode(), *citizen_keys["cuong"])
    response = submit(browser, page, token)
    assert response.status_code == 400
    assert "tampered challenge" in text_of(response)


def test_a_replayed_challenge_is_refused(app, browser, demo_pki, signer, citizen_keys):
    citizen_id = make_account(app, demo_pki, "an")
    page = open_page(browser)
    signature = cms(signer, citizen_keys, "an", page["challenge"])
    assert submit(browser, page, signature).status_code == 303
    sessions_before = _session_of(app, citizen_id).id
    # The same signed challenge again (with the page's new CSRF token, as a script would).
    replay = submit(browser, {**open_page(browser), "challenge": page["challenge"]}, signature)
    assert replay.status_code == 400
    assert "This challenge has already been used (replayed)" in text_of(replay)
    assert _session_of(app, citizen_id).id == sessions_before


def test_a_challenge_from_another_browser_is_refused(app, browser, demo_pki, signer, citizen_keys):
    make_account(app, demo_pki, "an")
    page = open_page(browser)
    thief = app.test_client()
    thief.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    thief_page = open_page(thief)
    response = submit(thief, {**thief_page, "challenge": page["challenge"]},
                      cms(signer, citizen_keys, "an", page["challenge"]))
    assert response.status_code == 400
    assert "issued to another browser" in text_of(response)


def test_another_persons_certificate_is_refused_on_a_signed_in_browser(app, browser, demo_pki, signer,
                                                                       citizen_keys):
    an = make_account(app, demo_pki, "an")
    make_account(app, demo_pki, "cuong")
    page = open_page(browser)
    assert submit(browser, page, cms(signer, citizen_keys, "an", page["challenge"])).status_code == 303
    page = open_page(browser)
    response = submit(browser, page, cms(signer, citizen_keys, "cuong", page["challenge"]))
    assert response.status_code == 403
    assert "This certificate belongs to another person" in text_of(response)
    assert _session_of(app, an).ended_at is None  # still An's browser


def test_a_certificate_without_an_account_is_refused(app, browser, signer, citizen_keys):
    page = open_page(browser)
    response = submit(browser, page, cms(signer, citizen_keys, "binh", page["challenge"]))
    assert response.status_code == 403
    assert "There is no account for the identification number in this certificate" in text_of(response)


def test_an_unreadable_signature_is_a_readable_400(app, browser):
    page = open_page(browser)
    response = submit(browser, page, "this is not a signature")
    assert response.status_code == 400
    assert "This is not a signature we can read" in text_of(response)
    response = submit(browser, open_page(browser), "")
    assert response.status_code == 400
    assert "Paste the signature your signer printed." in text_of(response)


@pytest.fixture
def environ(environ):
    """A short lock for the lockout test; a per-IP limit the fuzzing below does not reach."""
    return {**environ, "IDP_LOGIN_MAX_FAILURES": "4", "IDP_LOGIN_RATE_LIMIT": "1000/minute"}


def test_failed_certificate_attempts_lock_the_account_like_password_failures(app, browser, demo_pki, signer,
                                                                             citizen_keys, monkeypatch):
    from idp.auth import lockout

    clock = [1_000_000.0]
    monkeypatch.setattr(lockout, "_now", lambda: clock[0])
    citizen_id = make_account(app, demo_pki, "dung")
    statuses = []
    for _ in range(4):
        page = open_page(browser)
        response = submit(browser, page, cms(signer, citizen_keys, "dung", page["challenge"]))
        statuses.append(response.status_code)
        clock[0] += 60  # past any growing wait
    assert statuses == [403, 403, 403, 429]
    page = open_page(browser)
    locked = submit(browser, page, cms(signer, citizen_keys, "dung", page["challenge"]))
    assert locked.status_code == 429
    assert "This account is locked after too many failed sign-in attempts" in text_of(locked)
    assert int(locked.headers["Retry-After"]) > 0
    # The password form sees the same lock.
    from tests.factories import csrf_token

    response = browser.post("/login", data={"csrf_token": csrf_token(browser), "username":
                                            demo_pki["by_slug"]["dung"]["identifier"], "password": "x" * 12})
    assert response.status_code == 429
    failures = [e.details["method"] for e in _events(app, "signin", citizen_id) if e.outcome == "failure"]
    assert failures == ["certificate"] * 5 + ["pwd"]


# -- level 2 -------------------------------------------------------------------------------------


def test_a_qualified_certificate_raises_the_account_to_level_2_audited(app, browser, demo_pki, signer,
                                                                       citizen_keys):
    citizen_id = make_account(app, demo_pki, "binh", level=LEVEL_SELF_REGISTERED)
    page = open_page(browser)
    assert submit(browser, page, cms(signer, citizen_keys, "binh", page["challenge"])).status_code == 303
    with app.app_context():
        assert db.session.get(Citizen, citizen_id).level == LEVEL_VERIFIED
    [raised] = _events(app, "account.level_raised", citizen_id)
    assert raised.details["from"] == 1 and raised.details["to"] == 2
    assert raised.details["evidence"] == "qualified_certificate"
    assert raised.details["certificate_sha256"] == citizen_keys["binh"][1].fingerprint(hashes.SHA256()).hex()


def _unqualified_certificate(demo_pki, identifier: str):
    """A certificate of the demo issuing CA without qcStatements: valid, but not qualified."""
    issuer = x509.load_pem_x509_certificate((demo_pki["dir"] / "issuing-ca.pem").read_bytes())
    issuer_key = serialization.load_pem_private_key((demo_pki["dir"] / "issuing-ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ngô Thị Lan"),
                                 x509.NameAttribute(NameOID.USER_ID, f"CCCD:{identifier}")]))
        .issuer_name(issuer.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(issuer_key, hashes.SHA256()))
    return key, certificate, [issuer]


def test_a_certificate_that_is_not_qualified_signs_in_without_raising_the_level(app, browser, demo_pki,
                                                                                 signer):
    with app.app_context():
        citizen = Citizen(full_name="Ngô Thị Lan", birthdate=date(1990, 5, 6), gender="female")
        citizen.identifiers.append(NationalIdentifier(scheme="vn-pin", value="001190009999"))
        db.session.add(citizen)
        db.session.commit()
        citizen_id = citizen.id
    key, certificate, chain = _unqualified_certificate(demo_pki, "001190009999")
    page = open_page(browser)
    der = signer.sign_cms(page["challenge"].encode(), key, certificate, chain)
    assert submit(browser, page, base64.b64encode(der).decode()).status_code == 303
    with app.app_context():
        assert db.session.get(Citizen, citizen_id).level == LEVEL_SELF_REGISTERED
    assert _events(app, "account.level_raised", citizen_id) == []
    assert _session_of(app, citizen_id).amr == ["swk"]


# -- the SSO session serves OpenID Connect -------------------------------------------------------


@pytest.mark.parametrize(("slug", "amr"), [("cuong", "hwk"), ("binh", "swk")])
def test_an_oidc_authorization_signs_in_by_certificate_and_the_id_token_carries_amr(
        app, browser, demo_pki, signer, citizen_keys, slug, amr):
    make_account(app, demo_pki, slug)
    client_id, secret = register(app, client_id="portal", scope="openid")
    verifier, pkce_challenge = pkce_pair()
    response = browser.get("/authorize", query_string={
        "response_type": "code", "client_id": client_id, "redirect_uri": "https://rp.example.gov.vn/callback",
        "scope": "openid", "state": "s1", "nonce": "n1",
        "code_challenge": pkce_challenge, "code_challenge_method": "S256"})
    next_url = sign_in_page_resume(response)  # the sign-in page, which links to the certificate's
    assert 'href="/login/certificate?next=' in response.get_data(as_text=True)
    page = open_page(browser, next=next_url)
    signed_in = submit(browser, page, cms(signer, citizen_keys, slug, page["challenge"]), next=next_url)
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"] == next_url
    response = browser.get(next_url)
    code = consent_and_code(browser, response)["code"]
    tokens = exchange(browser, client_id, secret, code,
                      verifier=verifier).get_json()
    claims = verify(tokens["id_token"], jwks_of(browser)).claims
    assert amr in claims["amr"]
    assert claims["nonce"] == "n1"


def test_a_password_session_steps_up_with_a_pasted_hardware_certificate_to_substantial_only_keeping_the_sid(
        app, browser, demo_pki, signer, citizen_keys):
    """acr_values=high on a level 2 account signed in by password: the second-factor page offers
    the certificate; a pasted signature adds hwk+pin to the same session (OIDC Core 3.1.2.1
    acr_values) but can be relayed, so the session reaches substantial, not high, and the
    authorization still asks for more (test_certificate_origin_bound.py reaches high)."""
    citizen_id = make_account(app, demo_pki, "cuong", level=LEVEL_VERIFIED)
    page = open_page(browser)  # a certificate known to the account (it was used once before)
    assert submit(browser, page, cms(signer, citizen_keys, "cuong", page["challenge"])).status_code == 303
    browser = app.test_client()  # another day, another browser: signed in by password
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    password_session(app, browser, citizen_id)
    sid = _session_of(app, citizen_id).sid
    client_id, secret = register(app, client_id="land-registry", scope="openid")
    verifier, pkce_challenge = pkce_pair()
    response = browser.get("/authorize", query_string={
        "response_type": "code", "client_id": client_id, "redirect_uri": "https://rp.example.gov.vn/callback",
        "scope": "openid", "state": "s1", "acr_values": "urn:idp:acr:high",
        "code_challenge": pkce_challenge, "code_challenge_method": "S256"})
    assert response.status_code == 302
    second_factor = browser.get(response.headers["Location"]).get_data(as_text=True)
    link = re.search(r'href="(/login/certificate\?next=[^"]+)"', second_factor)
    assert link, second_factor[:2000]
    next_url = unquote(link.group(1).split("next=", 1)[1].replace("&amp;", "&"))
    page = open_page(browser, next=next_url)
    signed = submit(browser, page, cms(signer, citizen_keys, "cuong", page["challenge"]), next=next_url)
    assert signed.status_code == 303
    session = _session_of(app, citizen_id)
    assert (session.sid, session.acr, sorted(session.amr)) == (
        sid, "urn:idp:acr:substantial", ["hwk", "pin", "pwd"])
    again = browser.get(next_url)
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/login/second-factor?")


def test_the_certificate_page_is_in_vietnamese_by_default(app):
    page = app.test_client().get(URL).get_data(as_text=True)
    assert "Đăng nhập bằng chứng thư chữ ký số" in page


def test_certificate_sign_ins_appear_in_the_citizens_sign_in_history(app, browser, demo_pki, signer,
                                                                     citizen_keys):
    make_account(app, demo_pki, "an")
    page = open_page(browser)
    submit(browser, page, cms(signer, citizen_keys, "an", page["challenge"][:-1] + "x"))  # refused
    page = open_page(browser)
    assert submit(browser, page, cms(signer, citizen_keys, "an", page["challenge"])).status_code == 303
    history = text_of(browser.get("/account/history"))
    assert "Signature certificate (hardware token)" in history
    assert "Signature certificate" in history and "Failed" in history


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(response=st.one_of(st.text(max_size=3000), st.binary(max_size=2000).map(
    lambda b: base64.b64encode(b).decode()), st.from_regex(r"ey[A-Za-z0-9_-]{0,200}\.[A-Za-z0-9_-]{0,200}\."
                                                           r"[A-Za-z0-9_-]{0,100}", fullmatch=True)))
def test_whatever_is_pasted_the_answer_is_a_readable_page_never_a_500(app, response):
    browser = app.test_client()
    page = open_page(browser)
    answer = submit(browser, page, response)
    assert answer.status_code in (400, 403), answer.status_code
    assert 'role="alert"' in answer.get_data(as_text=True)
