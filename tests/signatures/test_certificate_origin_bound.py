"""Certificate sign-in ``acr``: a pasted signature can be relayed by a phishing page and reaches
``substantial`` at most; ``high`` needs the origin-bound flow, where the citizen's signer
(clients/signer/idp_signer.py ``--serve``, on the loopback address) checks the origin the
browser reports, signs challenge + origin and posts it to the server itself, and the browser
the challenge was issued to continues (idp/auth/certificate_views.py). ``amr`` says what
happened (RFC 8176): ``hwk``/``swk`` for the key, ``pin`` only for a QSCD key (QcSSCD).

The server answers on its issuer address (a live loopback server) so the signer can post to it;
the browsers are Flask test clients of the same app.
"""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from urllib.parse import unquote, urlencode, urlsplit

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from idp.auth.certificate_views import SIGNER_LOCAL_URL
from idp.citizens.models import LEVEL_VERIFIED
from idp.db import db
from idp.signatures.models import SignatureChallenge
from tests.helpers import free_port
from tests.oidc_support import consent_and_code, exchange, jwks_of, pkce_pair, register, verify
from tests.oidc_support import sign_in as password_session
from tests.signatures.test_certificate_signin import (
    _session_of,
    cms,
    make_account,
    open_page,
    submit,
    text_of,
)


@pytest.fixture
def environ(environ):
    return {**environ, "IDP_ISSUER": f"http://127.0.0.1:{free_port()}"}


@pytest.fixture
def issuer(app, environ):
    """The idp answering on its issuer address, for the signer's own post."""
    port = int(environ["IDP_ISSUER"].rsplit(":", 1)[1])
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield environ["IDP_ISSUER"]
    server.shutdown()


@pytest.fixture
def serve(signer, citizen_keys):
    """Start the signer's --serve mode for a demo citizen on a free loopback port; its URL."""
    servers = []

    def start(slug: str) -> str:
        server = signer.make_server(*citizen_keys[slug], port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/sign"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _browser(app):
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return browser


def _form_post(url: str, fields: dict, origin: str | None):
    """What a browser sends when a page's form posts to the signer (no redirect followed)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin is not None:
        headers["Origin"] = origin
    request = urllib.request.Request(url, data=urlencode(fields).encode(), headers=headers, method="POST")
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _sign_with_signer(browser, signer_url: str, page_html: str, *, origin: str):
    """The citizen presses "Sign with the signer on this computer" on ``page_html``."""
    fields = dict(re.findall(r'<input type="hidden" name="(challenge|next)" value="([^"]*)"',
                             page_html.split('id="sign-with-signer"')[0].rsplit("<form", 1)[1]))
    return _form_post(signer_url, {k: v.replace("&amp;", "&") for k, v in fields.items()}, origin)


def _continue(browser, location: str):
    """The browser follows the signer's redirect and presses "Continue"."""
    parts = urlsplit(location)
    page = browser.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    challenge = re.search(r'name="challenge"[^>]*value="([^"]*)"', html).group(1).replace("&#10;", "\n")
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1).replace("&amp;", "&")
    return browser.post(action, data={"csrf_token": csrf, "challenge": challenge}), html


def _direct_responses(app) -> list:
    with app.app_context():
        return list(db.session.scalars(select(SignatureChallenge.direct_response)
                                       .where(SignatureChallenge.direct_response.is_not(None))))


def test_the_page_offers_the_signer_on_this_computer_with_the_challenge(app, issuer):
    html = _browser(app).get("/login/certificate").get_data(as_text=True)
    assert f'<form method="post" action="{SIGNER_LOCAL_URL}">' in html
    assert "--serve" in html
    assert re.search(r'<input type="hidden" name="challenge" value="idp-signin http://127\.0\.0\.1:\d+ ',
                     html)


def test_the_signers_own_post_of_an_origin_bound_statement_signs_in_at_high(app, issuer, demo_pki, serve):
    """QcSSCD token key on a level 2 account: amr hwk + pin (the QSCD checked the PIN) + mfa,
    acr high, because the statement names the origin the browser reported."""
    citizen_id = make_account(app, demo_pki, "an", level=LEVEL_VERIFIED)
    browser = _browser(app)
    page = browser.get("/login/certificate").get_data(as_text=True)
    status, headers, _ = _sign_with_signer(browser, serve("an"), page, origin=issuer)
    assert status == 303
    assert headers["Location"].startswith(f"{issuer}/login/certificate/continue?challenge=")
    assert len(_direct_responses(app)) == 1
    signed_in, continue_page = _continue(browser, headers["Location"])
    assert "Your signer has sent its signature" in continue_page
    assert signed_in.status_code == 303, text_of(signed_in)
    session = _session_of(app, citizen_id)
    assert (session.acr, sorted(session.amr)) == ("urn:idp:acr:high", ["hwk", "pin"])


def test_a_pasted_signature_relayed_by_a_phishing_page_reaches_substantial_at_most(
        app, issuer, demo_pki, signer, citizen_keys):
    """The reproduced relay: the attacker's browser fetches a challenge and shows it on a
    look-alike page; the citizen signs and pastes; the attacker's browser submits it. It used to
    get acr high with amr hwk pin mfa; now substantial (and the amr says only what happened)."""
    citizen_id = make_account(app, demo_pki, "an", level=LEVEL_VERIFIED)
    attacker = _browser(app)
    page = open_page(attacker)
    pasted = cms(signer, citizen_keys, "an", page["challenge"])  # made on the citizen's computer
    assert submit(attacker, page, pasted).status_code == 303
    session = _session_of(app, citizen_id)
    assert session.acr == "urn:idp:acr:substantial"
    assert sorted(session.amr) == ["hwk", "pin"]


def test_a_phishing_pages_form_is_refused_by_the_signer_and_nothing_is_signed_or_posted(
        app, issuer, demo_pki, serve):
    make_account(app, demo_pki, "an", level=LEVEL_VERIFIED)
    attacker = _browser(app)
    page = attacker.get("/login/certificate").get_data(as_text=True)  # the real challenge ...
    # ... shown on the look-alike site, whose form the citizen's browser posts to the signer.
    status, _, body = _sign_with_signer(attacker, serve("an"), page, origin="https://dichvucong-gov.example")
    assert status == 403
    assert "Nothing was signed" in body
    assert _direct_responses(app) == []
    assert _form_post(serve("an"), {"challenge": "idp-signin x y"}, None)[0] == 400


def test_a_relayed_continue_from_another_browser_session_is_refused(app, issuer, demo_pki, serve):
    """The signer's post names the challenge, but only the browser session it was issued to can
    continue: another browser (the attacker's) gets wrong_session and no session."""
    citizen_id = make_account(app, demo_pki, "an", level=LEVEL_VERIFIED)
    citizen = _browser(app)
    page = citizen.get("/login/certificate").get_data(as_text=True)
    _, headers, _ = _sign_with_signer(citizen, serve("an"), page, origin=issuer)
    refused, _ = _continue(_browser(app), headers["Location"])
    assert refused.status_code == 400
    assert "This challenge was issued to another browser" in text_of(refused)
    assert _session_of(app, citizen_id) is None


def test_a_plain_signature_posted_as_direct_is_not_origin_bound_and_is_refused(
        app, issuer, demo_pki, signer, citizen_keys):
    """A relayed pasted signature (over the bare challenge) posted to the direct endpoint does
    not verify as an origin statement: the attacker's browser cannot continue with it."""
    make_account(app, demo_pki, "an", level=LEVEL_VERIFIED)
    attacker = _browser(app)
    page = open_page(attacker)
    pasted = cms(signer, citizen_keys, "an", page["challenge"])
    status, _, body = _form_post(f"{issuer}/login/certificate/direct",
                                 {"challenge": page["challenge"], "signature": pasted}, None)
    assert status == 202
    location = re.search(r'"continue":\s*"([^"]+)"', body).group(1)
    refused, _ = _continue(attacker, location)
    assert refused.status_code == 400
    assert "The signature does not match the challenge" in text_of(refused)
    # A second post for the same challenge is not taken: the first one stays.
    again = _form_post(f"{issuer}/login/certificate/direct",
                       {"challenge": page["challenge"], "signature": pasted}, None)
    assert again[0] == 400 and '"error_code":"challenge_replayed"' in again[2].replace(" ", "")


def test_the_direct_endpoint_refuses_an_unknown_challenge_as_json(app, issuer):
    status, headers, body = _form_post(f"{issuer}/login/certificate/direct",
                                       {"challenge": "idp-signin x y", "signature": "abc"}, None)
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    assert '"error":"invalid_request"' in body.replace(" ", "")


def test_continue_before_the_signer_posted_says_so(app, issuer):
    browser = _browser(app)
    page = open_page(browser)
    query = urlencode({"challenge": page["challenge"]})
    response, html = _continue(browser, f"/login/certificate/continue?{query}")
    assert "Your signer has not sent a signature for this challenge yet" in html
    assert response.status_code == 409


def test_a_password_session_steps_up_to_high_with_the_signers_own_post_keeping_the_sid(
        app, issuer, demo_pki, serve, signer, citizen_keys):
    """acr_values=high on a level 2 account signed in by password: the second-factor page
    offers the certificate; the origin-bound flow adds hwk (+ pin: QcSSCD) to the same session."""
    citizen_id = make_account(app, demo_pki, "cuong", level=LEVEL_VERIFIED)
    before = _browser(app)  # a certificate known to the account (it was used once before)
    page = open_page(before)
    assert submit(before, page, cms(signer, citizen_keys, "cuong", page["challenge"])).status_code == 303
    browser = _browser(app)
    password_session(app, browser, citizen_id)
    sid = _session_of(app, citizen_id).sid
    client_id, secret = register(app, client_id="land-registry", scope="openid")
    verifier, pkce_challenge = pkce_pair()
    response = browser.get("/authorize", query_string={
        "response_type": "code", "client_id": client_id, "redirect_uri": "https://rp.example.gov.vn/callback",
        "scope": "openid", "state": "s1", "acr_values": "urn:idp:acr:high",
        "code_challenge": pkce_challenge, "code_challenge_method": "S256"})
    second_factor = browser.get(response.headers["Location"]).get_data(as_text=True)
    link = re.search(r'href="(/login/certificate\?next=[^"]+)"', second_factor)
    next_url = unquote(link.group(1).split("next=", 1)[1].replace("&amp;", "&"))
    page = browser.get("/login/certificate", query_string={"next": next_url}).get_data(as_text=True)
    status, headers, _ = _sign_with_signer(browser, serve("cuong"), page, origin=issuer)
    assert status == 303
    signed, _ = _continue(browser, headers["Location"])
    assert signed.status_code == 303
    assert signed.headers["Location"] == next_url
    session = _session_of(app, citizen_id)
    assert (session.sid, session.acr, sorted(session.amr)) == (sid, "urn:idp:acr:high", ["hwk", "pin", "pwd"])
    code = consent_and_code(browser, browser.get(next_url))["code"]
    claims = verify(exchange(browser, client_id, secret, code, verifier=verifier).get_json()["id_token"],
                    jwks_of(browser)).claims
    assert claims["acr"] == "urn:idp:acr:high"
    assert sorted(claims["amr"]) == ["hwk", "mfa", "pin", "pwd"]



def test_a_relayed_certificate_session_stays_below_high_when_a_phished_code_is_added(
        app, demo_pki, signer, citizen_keys):
    """Step-up keeps the relayable proof relayable: the key method the session got from a pasted
    signature does not become phishing-resistant when an authenticator-app code (which a
    phishing page can relay too) is added on /login/second-factor."""
    from tests.mfa_support import code_at, enrol_totp, submit_otp

    citizen_id = make_account(app, demo_pki, "an", level=LEVEL_VERIFIED)
    attacker = _browser(app)
    page = open_page(attacker)
    assert submit(attacker, page, cms(signer, citizen_keys, "an", page["challenge"])).status_code == 303
    secret, _ = enrol_totp(attacker)  # the citizen's app (enrolled earlier, say)
    assert attacker.get("/login/second-factor", query_string={"next": "/account"}).status_code == 200
    response = submit_otp(attacker, code_at(secret, 1))
    assert response.status_code == 303, text_of(response)[:500]
    session = _session_of(app, citizen_id)
    assert sorted(session.amr) == ["hwk", "otp", "pin"]
    assert session.acr == "urn:idp:acr:substantial"


def test_the_signer_command_shown_on_the_page_serves_the_origin_bound_flow(app, issuer, demo_pki):
    """clients/signer/idp_signer.py --serve as a citizen runs it (a subprocess on a loopback port)."""
    import os
    import subprocess
    import sys

    from tests.helpers import free_port
    from tests.signatures.conftest import ROOT

    citizen_id = make_account(app, demo_pki, "cuong", level=LEVEL_VERIFIED)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "clients" / "signer" / "idp_signer.py"), "--p12",
         str(demo_pki["dir"] / "cuong.p12"), "--serve", "--port", str(port)],
        env={**os.environ, "IDP_SIGNER_PASSWORD": demo_pki["password"]},
        stderr=subprocess.PIPE, text=True)
    try:
        assert f"waiting on http://127.0.0.1:{port}/sign" in process.stderr.readline()
        browser = _browser(app)
        page = browser.get("/login/certificate").get_data(as_text=True)
        status, headers, _ = _sign_with_signer(browser, f"http://127.0.0.1:{port}/sign", page, origin=issuer)
        assert status == 303
        signed_in, _ = _continue(browser, headers["Location"])
        assert signed_in.status_code == 303
        session = _session_of(app, citizen_id)
        assert (session.acr, sorted(session.amr)) == ("urn:idp:acr:high", ["hwk", "pin"])
    finally:
        process.terminate()
        process.wait(timeout=30)
