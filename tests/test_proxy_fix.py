"""ProxyFix (IDP_PROXY_FIX_*): ``X-Forwarded-*`` headers are believed only when idp is
configured to sit behind that many proxies; otherwise a client could pick its own address for
the audit log, rate limits and the ``/metrics`` allow-list."""

from __future__ import annotations

import pytest
from flask import jsonify, request

from idp import create_app
from idp.audit.log import record
from idp.db import db
from tests.schema import create_tables


@pytest.fixture
def make_app(environ):
    apps = []

    def make(**settings):
        application = create_app({**environ, **settings})
        with application.app_context():
            create_tables()

        @application.get("/_whoami")
        def whoami():
            event = record("test.request", commit=True)
            return jsonify(remote_addr=request.remote_addr, scheme=request.scheme,
                           audit_ip=event.ip_address)

        apps.append(application)
        return application.test_client()

    yield make
    for application in apps:
        with application.app_context():
            db.engine.dispose()


def test_without_proxy_settings_x_forwarded_for_is_ignored(make_app):
    client = make_app()
    seen = client.get("/_whoami", headers={"X-Forwarded-For": "203.0.113.7",
                                           "X-Forwarded-Proto": "https"}).get_json()
    assert seen == {"remote_addr": "127.0.0.1", "scheme": "http", "audit_ip": "127.0.0.1"}
    # nor can a remote client claim to be loopback to read the metrics
    spoofed = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"},
                         environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert spoofed.status_code == 403


def test_behind_one_proxy_the_address_it_adds_is_the_client_address(make_app):
    client = make_app(IDP_PROXY_FIX_X_FOR="1", IDP_PROXY_FIX_X_PROTO="1")
    # the client forged the first entry; the proxy appended the real address last
    seen = client.get("/_whoami", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.7",
                                           "X-Forwarded-Proto": "https"}).get_json()
    assert seen == {"remote_addr": "203.0.113.7", "scheme": "https", "audit_ip": "203.0.113.7"}
    # the proxy on loopback no longer makes every client look local to /metrics
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_proxy_hops_out_of_range_are_refused(environ):
    from idp.config import ConfigError

    with pytest.raises(ConfigError, match="IDP_PROXY_FIX_X_FOR"):
        create_app({**environ, "IDP_PROXY_FIX_X_FOR": "9"})
