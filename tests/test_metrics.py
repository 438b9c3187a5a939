"""``GET /metrics``: Prometheus exposition of requests, latency, sign-ins and tokens issued,
readable only from allowed networks (403) and with the bearer token when one is set (401,
RFC 6750 section 3)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from idp import create_app
from idp.config import ConfigError, load_settings
from idp.metrics import count_signin, count_token

TOKEN = "metrics-token-0123456789abcdef"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in an exposition, 0 when the series does not exist yet."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def scrape(client, **kwargs) -> str:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


@pytest.fixture
def make_app(environ):
    apps = []

    def make(**settings):
        application = create_app({**environ, **settings})
        apps.append(application)
        return application

    yield make
    for application in apps:
        with application.app_context():
            from idp.db import db

            db.engine.dispose()


def test_metrics_are_prometheus_text_with_every_family_declared(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    for family in ("idp_http_requests_total", "idp_http_request_duration_seconds",
                   "idp_signins_total", "idp_tokens_issued_total"):
        assert f"# TYPE {family.removesuffix('_total')} " in text or f"# TYPE {family} " in text


def test_requests_are_counted_by_endpoint_method_and_status_and_timed(client):
    before = scrape(client)
    for _ in range(3):
        client.get("/healthz")
    client.post("/healthz")  # 405: no endpoint matched the method
    after = scrape(client)
    labels = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    assert sample(after, "idp_http_requests_total", **labels) - sample(
        before, "idp_http_requests_total", **labels) == 3
    assert sample(after, "idp_http_requests_total", endpoint="unmatched", method="POST",
                  status="405") >= 1
    count = "idp_http_request_duration_seconds_count"
    assert sample(after, count, endpoint="health.healthz") - sample(
        before, count, endpoint="health.healthz") == 3
    assert sample(after, "idp_http_request_duration_seconds_bucket", endpoint="health.healthz",
                  le="10.0") == sample(after, count, endpoint="health.healthz")


def test_unknown_paths_share_one_series_so_probing_cannot_grow_the_output(client):
    before = scrape(client)
    for n in range(5):
        assert client.get(f"/probe-{n}").status_code == 404
    after = scrape(client)
    assert "probe-" not in after
    labels = {"endpoint": "unmatched", "method": "GET", "status": "404"}
    assert sample(after, "idp_http_requests_total", **labels) - sample(
        before, "idp_http_requests_total", **labels) == 5


def test_sign_ins_and_tokens_counted_by_other_packages_are_exposed(client):
    before = scrape(client)
    count_signin("password", "success")
    count_signin("password", "failure")
    count_signin("password", "failure")
    count_token("client_credentials")
    count_token("Not A Grant Type!")  # a label value outside the allowed form becomes "other"
    after = scrape(client)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("idp_signins_total", method="password", outcome="success") == 1
    assert delta("idp_signins_total", method="password", outcome="failure") == 2
    assert delta("idp_tokens_issued_total", grant_type="client_credentials") == 1
    assert delta("idp_tokens_issued_total", grant_type="other") == 1


def test_an_address_outside_the_allowed_networks_is_refused_403_json(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert response.status_code == 403
    assert response.get_json() == {
        "error": "forbidden",
        "error_description": "this address may not read metrics (IDP_METRICS_ALLOW)"}
    assert "idp_" not in response.get_data(as_text=True).replace("IDP_METRICS_ALLOW", "")


def test_loopback_is_allowed_by_default_over_ipv6_too(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::ffff:127.0.0.1"}).status_code == 200


def test_configured_networks_replace_the_loopback_default(make_app):
    client = make_app(IDP_METRICS_ALLOW="10.0.0.0/8, 192.0.2.0/24").test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.77"}).status_code == 200
    assert client.get("/metrics").status_code == 403  # 127.0.0.1 no longer listed


def test_with_a_token_a_request_without_credentials_is_401_with_a_bearer_challenge(make_app):
    client = make_app(IDP_METRICS_TOKEN=TOKEN).test_client()
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer wrong", f"Basic {TOKEN}", "Bearer "])
def test_with_a_token_a_wrong_one_is_401_invalid_token(make_app, header):
    client = make_app(IDP_METRICS_TOKEN=TOKEN).test_client()
    response = client.get("/metrics", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics", error="invalid_token"'


def test_with_a_token_the_right_one_from_an_allowed_address_reads_the_metrics(make_app):
    client = make_app(IDP_METRICS_TOKEN=TOKEN).test_client()
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # the token does not open the door to other addresses
    refused = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                         environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert refused.status_code == 403


@pytest.mark.parametrize(("variable", "value"), [
    ("IDP_METRICS_ALLOW", ""),
    ("IDP_METRICS_ALLOW", "127.0.0.1/33"),
    ("IDP_METRICS_ALLOW", "localhost"),
    ("IDP_METRICS_TOKEN", "short"),
])
def test_invalid_metrics_settings_stop_the_start_naming_the_variable(variable, value):
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert caught.value.variable == variable


def test_real_sign_ins_are_counted_by_method_and_outcome(app):
    from tests.factories import load_registry, make_citizen, sign_in

    load_registry(app)
    make_citizen(app)
    client = app.test_client()
    before = scrape(client)
    assert sign_in(client, password="not the password").status_code == 422
    assert sign_in(client, username="079000000000", password="whatever").status_code == 422
    assert sign_in(client).status_code == 303
    after = scrape(client)

    def delta(**labels):
        return sample(after, "idp_signins_total", **labels) - sample(before, "idp_signins_total", **labels)

    assert delta(method="pwd", outcome="bad_password") == 1
    assert delta(method="pwd", outcome="unknown_account") == 1
    assert delta(method="pwd", outcome="success") == 1


def test_tokens_issued_by_the_token_endpoint_are_counted_by_grant_and_failures_are_not(app):
    from tests.oidc_support import basic, register

    client_id, secret = register(app, grant_types=["client_credentials"], redirect_uris=[],
                                 scope="openid")
    client = app.test_client()
    before = scrape(client)
    for _ in range(2):
        ok = client.post("/token", data={"grant_type": "client_credentials"},
                         headers=basic(client_id, secret))
        assert ok.status_code == 200, ok.get_data(as_text=True)
    refused = client.post("/token", data={"grant_type": "client_credentials"},
                          headers=basic(client_id, "wrong"))
    assert refused.status_code == 401
    after = scrape(client)
    delta = (sample(after, "idp_tokens_issued_total", grant_type="client_credentials")
             - sample(before, "idp_tokens_issued_total", grant_type="client_credentials"))
    assert delta == 2
    assert sample(after, "idp_http_request_duration_seconds_count", endpoint="oidc.token") >= 3
