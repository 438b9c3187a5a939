"""Discovery and the JWK Set answered from prebuilt bytes before Flask (idp.fastpath): the
caching headers and ``304 Not Modified`` of RFC 9110 §13.1.2, HEAD, metrics, and the bound on
how long a node may publish a JWK Set another node has changed."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from idp import create_app
from idp.db import db
from idp.fastpath import JWKS_REFRESH
from idp.keys import service

PATHS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
         "/.well-known/jwks.json"]


@pytest.mark.parametrize("path", PATHS)
def test_a_matching_if_none_match_gets_304_with_the_same_etag_and_no_body(client, path):
    first = client.get(path)
    assert first.status_code == 200 and first.get_json()
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Cache-Control"].startswith("public, max-age=")
    assert first.headers["Content-Length"] == str(len(first.data))
    for presented in (etag, f'W/{etag}', f'"other", {etag}', "*"):
        again = client.get(path, headers={"If-None-Match": presented})
        assert again.status_code == 304, presented
        assert again.data == b"" and again.headers["ETag"] == etag
    changed = client.get(path, headers={"If-None-Match": '"not-this-one"'})
    assert changed.status_code == 200 and changed.data == first.data


@pytest.mark.parametrize("path", PATHS)
def test_head_has_the_headers_and_no_body_and_post_is_not_answered_here(client, path):
    head = client.head(path)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(client.get(path).data))
    assert client.post(path).status_code == 405  # Flask's answer: only GET and HEAD exist


def test_documents_answered_before_flask_are_counted_in_metrics(client):
    def count() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if (s.name == "idp_http_requests_total" and s.labels["endpoint"] == "keys.jwks"
                        and s.labels["status"] == "200"):
                    return s.value
        return 0.0

    before = count()
    for _ in range(3):
        client.get("/.well-known/jwks.json")
    assert count() - before == 3


def test_a_key_rotated_on_another_node_is_published_here_within_the_documented_bound(app, environ):
    other = create_app(environ)
    try:
        here = app.test_client()
        kids_before = {k["kid"] for k in here.get("/.well-known/jwks.json").get_json()["keys"]}
        with other.app_context():
            new, _ = service.rotate("ES256")
            new_kid = new.kid
        assert new_kid not in kids_before
        bound = JWKS_REFRESH + service.CACHE_SECONDS
        started = time.monotonic()
        while True:
            kids = {k["kid"] for k in here.get("/.well-known/jwks.json").get_json()["keys"]}
            if new_kid in kids:
                break
            assert time.monotonic() - started < bound + 0.5, "the new key was not published in time"
            time.sleep(0.1)
    finally:
        with other.app_context():
            db.engine.dispose()
