"""No request makes the server fail: random bytes in every header and form field of every
endpoint that authenticates a client or a bearer token, and of every form of the citizen pages,
get a 4xx (or a 2xx/3xx), never a 5xx.

RFC 6749 §5.2: a malformed client credential is ``invalid_client``; RFC 6750 §3.1: a malformed
bearer token is ``invalid_token``. The citizen pages' forms are found from the URL map (every
rule that takes a POST), so a new form is covered without changing this file. The answers
given before Flask (:mod:`idp.fastpath`) are reached as the test client reaches them; the same
endpoints are also fuzzed with Flask alone behind them.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp import create_app
from idp.auth.sessions import COOKIE_NAME
from tests.oidc_support import POST_LOGOUT, REDIRECT, basic, make_citizen, redirect_params, register, sign_in

#: Endpoints that authenticate a client (RFC 6749 §2.3) or a bearer token (RFC 6750 §2).
CLIENT_ENDPOINTS = [
    ("POST", "/token"), ("POST", "/introspect"), ("POST", "/revoke"),
    ("POST", "/connect/register"), ("GET", "/connect/register/{client}"),
    ("PUT", "/connect/register/{client}"), ("DELETE", "/connect/register/{client}"),
    ("POST", "/api/signatures/verify"), ("GET", "/userinfo"), ("POST", "/userinfo"),
    ("GET", "/logout"), ("POST", "/logout"), ("GET", "/authorize"), ("POST", "/authorize"),
    ("POST", "/par"),
]
#: Form fields those endpoints read (random ones are added too).
CLIENT_FIELDS = [
    "grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type",
    "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "token",
    "token_type_hint", "subject_token", "subject_token_type", "audience", "resource",
    "access_token", "id_token_hint", "post_logout_redirect_uri", "state", "response_type",
    "nonce", "prompt", "max_age", "acr_values", "ui_locales", "request", "request_uri",
    "document", "signature", "logout_hint", "claims", "dpop_jkt", "response_mode",
]
FORM_FIELDS = ["csrf_token", "identifier", "username", "password", "new_password", "current_password",
               "confirm", "code", "otp", "recovery_code", "email", "phone", "next", "decision",
               "credential", "remember", "full_name", "birthdate", "gender", "pin", "accept",
               "context", "roles", "member_id"]
HEADERS = ["Authorization", "DPoP", "Content-Type", "Accept", "Accept-Language", "User-Agent",
           "If-None-Match", "Origin", "Referer", "X-Forwarded-For", "X-Forwarded-Proto",
           "X-Forwarded-Host", "Cookie"]
#: A WSGI server hands headers over as latin-1 text: any byte may arrive.
latin1 = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=80)
raw = st.binary(max_size=60)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


authorization = st.one_of(
    latin1,
    raw.map(lambda b: "Basic " + _b64(b)),
    st.tuples(raw, raw).map(lambda p: "Basic " + _b64(p[0] + b":" + p[1])),
    st.tuples(st.sampled_from(["Basic", "basic", "Bearer", "bearer", "DPoP", "Negotiate", ""]),
              latin1).map(" ".join),
)
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


#: Values that get past the first checks, so the fuzz reaches the code behind them.
PLAUSIBLE = ["client_credentials", "authorization_code", "refresh_token", "portal", "openid",
             "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
             "urn:ietf:params:oauth:grant-type:token-exchange",
             "urn:ietf:params:oauth:token-type:access_token", "access_token", "refresh_token",
             "https://rp.example.gov.vn/callback", "code", "S256", "login", "male", "1985-03-14"]
#: Compact JWS look-alikes whose parts are base64url of random bytes (a header that is not
#: UTF-8 or not JSON, a payload of any kind): client assertions, tokens, id_token_hint.
jws_like = st.tuples(raw, raw, raw).map(lambda parts: ".".join(_b64url(p) for p in parts))
jws_with_json = st.tuples(st.dictionaries(st.sampled_from(["alg", "kid", "typ", "jku", "x5c"]),
                                          st.one_of(latin1, st.integers(), st.none()), max_size=3),
                          raw).map(lambda p: _b64url(json.dumps(p[0]).encode()) + "."
                                   + _b64url(p[1]) + "." + _b64url(b"sig"))
values = st.one_of(raw, latin1.map(lambda t: t.encode("utf-8")), st.sampled_from(PLAUSIBLE),
                   jws_like, jws_with_json)
content_type = st.one_of(st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/json", "application/octet-stream",
                                          "application/pkcs7-mime"]), latin1)


@st.composite
def requests(draw, fields: list[str]):
    """(headers as WSGI environ entries, form pairs of random bytes)."""
    environ = {}
    for name in draw(st.lists(st.sampled_from(HEADERS), unique=True, max_size=5)):
        value = draw(authorization if name in ("Authorization", "DPoP") else
                     content_type if name == "Content-Type" else latin1)
        key = "CONTENT_TYPE" if name == "Content-Type" else "HTTP_" + name.upper().replace("-", "_")
        environ[key] = value
    names = draw(st.lists(st.one_of(st.sampled_from(fields), raw), max_size=6))
    pairs = [(name, draw(values)) for name in names]
    environ.setdefault("CONTENT_TYPE", "application/x-www-form-urlencoded")
    return environ, pairs


FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _assert_no_server_error(client, method: str, url: str, environ: dict, pairs: list) -> None:
    """The pairs go in the query string of a GET or DELETE, in the urlencoded body otherwise."""
    encoded = urlencode(pairs)
    if method in ("GET", "DELETE"):
        environ, body = {**environ, "QUERY_STRING": encoded}, b""
    else:
        body = encoded.encode()
    response = client.open(url, method=method, data=body, environ_overrides=environ)
    assert response.status_code < 500, (method, url, environ, body, response.data[:300])


@pytest.fixture
def environ(environ):
    """Dynamic registration on, so its endpoints are fuzzed too."""
    return {**environ, "IDP_DYNAMIC_REGISTRATION": "true"}


@pytest.fixture
def service(app):
    return register(app, client_id="portal", grant_types=["authorization_code", "refresh_token",
                                                           "client_credentials"],
                    scope="openid profile signature.verify")


@pytest.mark.parametrize(("method", "path", "layer"), [
    *[(method, path, "as-served") for method, path in CLIENT_ENDPOINTS],
    # /token and /introspect are answered before Flask when they can be: Flask alone too.
    ("POST", "/token", "flask-only"), ("POST", "/introspect", "flask-only")])
def test_random_bytes_in_headers_and_fields_of_client_endpoints_never_a_server_error(
        app, environ, service, method, path, layer):
    if layer == "flask-only":  # the same database, served by Flask alone
        app = create_app({**environ, "IDP_FAST_PATH": "off"})
        app.config["TESTING"] = True
    client = app.test_client()
    url = path.format(client=service[0])

    base = _valid_request(path, service)

    @FUZZ
    @given(request=requests(CLIENT_FIELDS), from_valid=st.booleans())
    def check(request, from_valid):
        environ, pairs = request
        if from_valid:
            # A well-formed request with some fields and headers replaced: the fuzz gets past
            # the first checks to the code behind them.
            given = {name if isinstance(name, str) else name.decode("latin-1") for name, _ in pairs}
            pairs = [(k, v) for k, v in base["form"] if k not in given] + pairs
            environ = {**base["environ"], **environ}
        _assert_no_server_error(client, method, url, environ, pairs)

    check()


def _valid_request(path: str, service: tuple[str, str]) -> dict:
    authorization = basic(*service)["Authorization"]
    forms = {
        "/token": [("grant_type", "client_credentials"), ("scope", "signature.verify")],
        "/introspect": [("token", "x")], "/revoke": [("token", "x")],
        "/authorize": [("response_type", "code"), ("client_id", service[0]), ("redirect_uri", REDIRECT),
                       ("scope", "openid"), ("state", "s1"), ("code_challenge", "x" * 43),
                       ("code_challenge_method", "S256")],
        "/logout": [("client_id", service[0]), ("post_logout_redirect_uri", POST_LOGOUT)],
    }
    return {"form": forms.get(path, []), "environ": {"HTTP_AUTHORIZATION": authorization}
            if path in ("/token", "/introspect", "/revoke") else {}}


def test_non_utf8_basic_credentials_are_invalid_client_on_every_client_endpoint(app, service):
    """RFC 6749 §5.2: the base64 of bytes ff fe 3a ff (not UTF-8) was a 500 (UnicodeDecodeError
    in Authlib's extract_basic_authorization); latin-1 text in the header, a missing colon and
    a bad percent escape are the same: 401 invalid_client, before Flask and in it."""
    client = app.test_client()
    malformed = ["Basic " + _b64(b"\xff\xfe:\xff"), "Basic " + _b64(b"portal"),
                 "Basic \xe9\xff", "Basic " + _b64(b"portal:%ff"), "Basic !!!"]
    forms = {"/token": {"grant_type": "client_credentials"}, "/introspect": {"token": "x"},
             "/revoke": {"token": "x"}}
    for path, form in forms.items():
        for header in malformed:
            response = client.post(path, data=form, environ_overrides={"HTTP_AUTHORIZATION": header})
            assert response.status_code == 401, (path, header, response.data)
            assert response.get_json()["error"] == "invalid_client"
    # The well-formed header of the same client still works, also with its id and secret
    # form-encoded (RFC 6749 §2.3.1: every character may be percent-encoded).
    assert client.post("/token", data=forms["/token"], headers=basic(*service)).status_code == 200
    encoded = "".join(f"%{b:02X}" for b in service[0].encode()) + ":" + "".join(
        f"%{b:02X}" for b in service[1].encode())
    response = client.post("/token", data=forms["/token"],
                           headers={"Authorization": "Basic " + _b64(encoded.encode())})
    assert response.status_code == 200, response.data


def test_malformed_bearer_tokens_are_invalid_token_on_bearer_endpoints(app, service):
    """RFC 6750 §3.1: a bearer value with odd bytes is a 401 with the Bearer challenge at the
    signature verification API, UserInfo and dynamic registration."""
    client = app.test_client()
    for method, path in [("POST", "/api/signatures/verify"), ("GET", "/userinfo"),
                         ("POST", "/connect/register"), ("GET", "/connect/register/portal")]:
        for header in ["Bearer \xff\xfe", "Bearer a\x00b", "Bearer ", "Basic " + _b64(b"\xff:\xff")]:
            response = client.open(path, method=method, json={},
                                   environ_overrides={"HTTP_AUTHORIZATION": header})
            assert response.status_code == 401, (path, header, response.data)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_odd_client_id_in_form_is_invalid_client_not_a_database_error(app, service):
    """A NUL byte in client_id (PostgreSQL refuses it in a query) is an unknown client."""
    response = app.test_client().post("/token", data={"grant_type": "client_credentials",
                                                      "client_id": "por\x00tal", "client_secret": "x"})
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("name", ['"', "\x00", "é", "\\"])
def test_repeated_parameter_with_an_odd_name_is_invalid_request(app, service, name):
    """RFC 6749 §3.2 and §5.2: the answer names the repeated parameter within the characters
    an error_description may hold (Authlib raised ValueError, a 500, on any other)."""
    client = app.test_client()
    body = urlencode([(name, "1"), (name, "2"), ("grant_type", "client_credentials")]).encode()
    for path in ("/token", "/introspect", "/revoke"):
        response = client.post(path, data=body, headers=basic(*service),
                               content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400, (path, response.data[:200])
        assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("scope", ["\x00", "signature.verify \u00e9", 'a"b'])
def test_client_credentials_with_an_odd_scope_is_invalid_scope(app, service, scope):
    """RFC 6749 §5.2: the refused scope is quoted in the description without the characters it
    may not hold (a NUL was a 500)."""
    response = app.test_client().post("/token", data={"grant_type": "client_credentials", "scope": scope},
                                      headers=basic(*service))
    assert response.status_code == 400, response.data[:300]
    assert response.get_json()["error"] == "invalid_scope"


@pytest.mark.parametrize("params", [
    {"scope": 'openid "profile\\'}, {"scope": "openid hồ_sơ"},
    {"é": ["1", "2"]}, {'"': ["1", "2"]},
])
def test_authorization_errors_quoting_odd_request_values_redirect_to_the_client(app, service, params):
    """RFC 6749 §4.1.2.1: an unknown scope or a repeated parameter with characters no
    error_description may hold is still an error redirect, never a 500."""
    query = [("response_type", "code"), ("client_id", service[0]), ("redirect_uri", REDIRECT),
             ("state", "s1")]
    for key, value in params.items():
        if isinstance(value, list):
            query += [(key, v) for v in value]
        else:
            query.append((key, value))
    if "scope" not in params:
        query.append(("scope", "openid"))
    response = app.test_client().get("/authorize?" + urlencode(query))
    assert response.status_code == 302, response.data[:300]
    error = redirect_params(response)
    assert error["error"] in ("invalid_scope", "invalid_request") and error["state"] == "s1"


# --- Every form of the citizen pages, from the URL map -----------------------------------------

API_ENDPOINTS = {"oidc.token", "oidc.introspect", "oidc.revoke", "oidc.register", "oidc.configure",
                 "signatures_api.verify", "oidc.userinfo", "oidc.logout", "oidc.authorize",
                 "oidc.pushed_authorization_request"}


def _form_rules(app) -> list[str]:
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if "POST" in rule.methods and rule.endpoint not in API_ENDPOINTS})


def _url(rule: str) -> str:
    rule = re.sub(r"<any\(([a-z_]+)[^>]*>", r"\1", rule)  # the first of the choices
    return re.sub(r"<int:[^>]+>", "1", re.sub(r"<(?:string:)?[a-z_]+>", "unknown", rule))


def _field_names(client, url: str) -> list[str]:
    page = client.get(url)
    names = re.findall(rb'name="([^"]+)"', page.data) if page.status_code == 200 else []
    return sorted({*FORM_FIELDS, *(name.decode() for name in names)})


def _csrf_token(client) -> str:
    page = client.get("/login")
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page.data).group(1).decode()


def test_every_citizen_form_is_enumerated(app):
    """The form list comes from the URL map: sign-in, registration, the account pages, MFA,
    certificate sign-in, consent."""
    rules = _form_rules(app)
    for expected in ["/login", "/register", "/login/certificate", "/login/second-factor",
                     "/account/password", "/account/security/totp", "/authorize/continue/<pending_id>"]:
        assert expected in rules
    assert len(rules) >= 20


@pytest.mark.parametrize("rule", [
    # listed here for readable test ids; test_every_citizen_form_is_enumerated checks the map
    "/account/acting-for/organisations/<int:organisation_id>/activate",
    "/account/acting-for/organisations/<int:organisation_id>/hand-over",
    "/account/acting-for/organisations/<int:organisation_id>/members",
    "/account/acting-for/organisations/<int:organisation_id>/members/<int:member_id>/remove",
    "/account/acting-for/organisations/<int:organisation_id>/members/<int:member_id>/roles",
    "/account/consents/<int:consent_id>/revoke", "/account/contacts",
    "/account/contacts/<any(email, phone):kind>/resend", "/account/contacts/<any(email, phone):kind>/verify",
    "/account/notices", "/account/password", "/recover", "/recover/code",
    "/account/security/app", "/account/security/app/<device_id>/remove", "/login/app/continue",
    "/app/signin/<request_id>", "/app/enrol/<token>", "/app/ciba/pending", "/app/ciba/<request_id>",
    "/bc-authorize",
    "/account/security/passkeys", "/account/security/passkeys/<int:credential_pk>/remove",
    "/account/security/passkeys/options", "/account/security/recovery-codes",
    "/account/security/totp", "/account/security/totp/remove",
    "/account/sessions/<int:session_id>/end", "/account/sessions/end-others",
    "/authorize/continue/<pending_id>", "/login", "/login/certificate", "/login/certificate/continue",
    "/login/certificate/direct", "/login/passkey",
    "/login/passkey/options", "/login/second-factor", "/login/second-factor/passkey",
    "/login/second-factor/passkey/options", "/login/second-factor/recovery", "/logout/confirm",
    "/register", "/signout", "/lang/<code>",
])
def test_random_bytes_in_every_citizen_form_never_a_server_error(app, rule):
    if rule != "/lang/<code>":
        assert rule in _form_rules(app), "a form left the URL map: update this list"
    citizen = make_citizen(app)
    client = app.test_client()
    sign_in(app, client, citizen)
    url = _url(rule)
    fields = _field_names(client, url)
    token = _csrf_token(client)
    method = "GET" if rule == "/lang/<code>" else "POST"

    @FUZZ
    @given(request=requests(fields), signed_in=st.booleans(), with_csrf=st.booleans(),
           code=latin1)
    def check(request, signed_in, with_csrf, code):
        environ, pairs = request
        if signed_in:
            sign_in(app, client, citizen)
        else:
            client.delete_cookie(COOKIE_NAME)
        if with_csrf:
            pairs = [*pairs, ("csrf_token", token)]
        target = url if rule != "/lang/<code>" else "/lang/" + code.encode("latin-1").decode(
            "utf-8", "replace").replace("/", "").replace("?", "").replace("#", "")
        _assert_no_server_error(client, method, target, environ, pairs)

    check()


def test_every_post_rule_is_fuzzed(app):
    """A new form added to the URL map must join the list above."""
    listed = set(test_random_bytes_in_every_citizen_form_never_a_server_error.pytestmark[0].args[1])
    assert set(_form_rules(app)) <= listed
