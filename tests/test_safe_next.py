"""Every ``next`` goes through one check (idp.web.safe_next): RFC 9700 §4.11, no open redirect.

Browsers remove tab, CR and LF anywhere in a URL and read "\\" as "/", so "/\\t/evil.example"
is "//evil.example", a scheme-relative URL to another host. Each payload is sent to each page
that takes ``next`` and must answer a same-origin Location (or none), never a 500."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.factories import AN, load_registry, make_citizen, sign_in

ORIGIN = "http://localhost"
PAYLOADS = [
    "/%09/evil.example",        # the review's payload: tab, browsers drop it
    "/%0d%0a/evil.example",     # CR LF: was a 500 (header injection refused by Werkzeug)
    "/%0a/evil.example",
    "/%0d/evil.example",
    "/%00/evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "/%5Cevil.example",         # decoded by the query parser into "/\\evil.example"
    "\\/evil.example",
    "%09//evil.example",
    "%20//evil.example",
    "/%C2%85/evil.example",     # C1 control (NEL)
    "https://evil.example/",
    "https:/evil.example",
    "javascript:alert(1)",
    "/%2509/evil.example",      # a still-encoded tab stays a harmless path
]


def _same_origin(location: str | None) -> bool:
    if location is None:
        return True
    for character in "\t\r\n":  # what a browser does before parsing
        location = location.replace(character, "")
    resolved = urlsplit(urljoin(ORIGIN + "/some/page", location.replace("\\", "/")))
    return f"{resolved.scheme}://{resolved.netloc}" == ORIGIN


@pytest.fixture
def citizen_app(app):
    load_registry(app)
    make_citizen(app, AN)
    return app


@pytest.mark.parametrize("payload", PAYLOADS)
def test_language_switch_never_redirects_off_site(client, payload):
    response = client.get(f"/lang/en?next={payload}")
    assert response.status_code == 302
    assert _same_origin(response.headers["Location"]), response.headers["Location"]


@pytest.mark.parametrize("payload", ["/%09/evil.example", "/%0d%0a/evil.example", "/\\evil.example"])
def test_language_switch_refusals_go_home(client, payload):
    assert client.get("/lang/en", query_string={"next": payload.replace("%09", "\t").replace(
        "%0d%0a", "\r\n")}).headers["Location"] == "/"


def test_language_switch_keeps_a_path_on_this_server(client):
    response = client.get("/lang/vi", query_string={"next": "/account/sessions?x=1"})
    assert response.headers["Location"] == "/account/sessions?x=1"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sign_in_never_redirects_off_site(citizen_app, payload):
    client = citizen_app.test_client()
    response = client.post(f"/login?next={payload}", data={
        "csrf_token": _token(client), "username": AN["identifier"], "password": "correct horse battery"})
    assert response.status_code == 303
    assert _same_origin(response.headers["Location"]), response.headers["Location"]


@pytest.mark.parametrize("path", ["/login", "/login/certificate", "/login/passkey"])
@pytest.mark.parametrize("payload", ["/%09/evil.example", "/%0d%0a/evil.example", "/\\evil.example"])
def test_sign_in_pages_never_answer_500_to_a_bad_next(client, path, payload):
    response = client.get(f"{path}?next={payload}")
    assert response.status_code < 500
    assert not _carries_next(response)


def test_second_factor_step_up_keeps_no_off_site_next(citizen_app):
    client = citizen_app.test_client()
    assert sign_in(client).status_code == 303
    response = client.get("/login/second-factor?next=/%09/evil.example&acr=urn:idp:acr:substantial")
    assert response.status_code < 500
    assert not _carries_next(response)


def _carries_next(response) -> bool:
    """Whether a link or form of the page (other than the language switcher, which checks its
    own ``next`` again) passes the payload on."""
    targets = re.findall(r'(?:href|action)="([^"]*)"', response.get_data(as_text=True))
    return any("evil.example" in t for t in targets if not t.startswith("/lang/"))


def _token(client) -> str:
    from tests.factories import csrf_token

    return csrf_token(client)
