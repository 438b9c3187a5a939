"""POST /api/signatures/verify over HTTP, and its OpenAPI document.

Every call carries a real access token from ``/token`` (client credentials grant, scope
``signature.verify``); test_api_auth.py covers the refusals without one.
"""

from __future__ import annotations

import base64
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DOCUMENT = b"%PDF-1.7\n" + "Quyết định số 15/QĐ-UBND\n".encode() * 200
URL = "/api/signatures/verify"


@pytest.fixture
def client(app, agency_token):
    """The agency's HTTP client: every request carries its bearer token (RFC 6750 §2.1)."""
    agency = app.test_client()
    agency.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {agency_token}"
    return agency


def _post(client, document: bytes | None, signature: bytes):
    data = {"signature": (io.BytesIO(signature), "document.p7s")}
    if document is not None:
        data["document"] = (io.BytesIO(document), "document.pdf")
    return client.post(URL, data=data, content_type="multipart/form-data")


@pytest.mark.parametrize("slug", ["an", "binh", "cuong"])
def test_valid_detached_signature_is_reported_valid_with_signer_details(client, demo_pki, signer,
                                                                      citizen_keys, slug):
    key, certificate, chain = citizen_keys[slug]
    response = _post(client, DOCUMENT, signer.sign_cms(DOCUMENT, key, certificate, chain))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["valid"] is True, body["failures"]
    assert body["failures"] == []
    assert body["signature_format"] == "cms-detached"
    citizen = demo_pki["by_slug"][slug]
    assert body["signer"] == {"identifier": {"scheme": "vn-pin", "value": citizen["identifier"]},
                              "name": citizen["name"]}
    assert body["certificate"]["serial_number"] == format(certificate.serial_number, "x")
    assert body["certificate"]["issuer"] == certificate.issuer.rfc4514_string()
    assert body["signing_time"] is not None
    assert body["revocation"] == {"status": "good", "revoked_at": None}


def test_signature_as_base64_text_field_is_accepted(client, signer, citizen_keys):
    signature = base64.b64encode(signer.sign_cms(DOCUMENT, *citizen_keys["cuong"])).decode()
    response = client.post(URL, data={"signature": signature, "document": (io.BytesIO(DOCUMENT), "d.pdf")},
                           content_type="multipart/form-data")
    assert response.get_json()["valid"] is True


def test_enveloping_cms_as_the_body_is_verified(client, signer, citizen_keys):
    der = signer.sign_cms(DOCUMENT, *citizen_keys["an"], detached=False)
    response = client.post(URL, data=der, content_type="application/pkcs7-mime")
    body = response.get_json()
    assert response.status_code == 200
    assert body["valid"] is True, body["failures"]
    assert body["signature_format"] == "cms-enveloping"


def test_modified_document_is_invalid_with_bad_signature(client, signer, citizen_keys):
    signature = signer.sign_cms(DOCUMENT, *citizen_keys["an"])
    body = _post(client, DOCUMENT.replace(b"15/", b"16/"), signature).get_json()
    assert body["valid"] is False
    assert [f["code"] for f in body["failures"]] == ["bad_signature"]
    assert body["signer"]["identifier"]["value"]  # who claimed to sign is still reported


def test_revoked_signer_is_invalid_with_the_revocation_date(client, demo_pki, signer, citizen_keys):
    body = _post(client, DOCUMENT, signer.sign_cms(DOCUMENT, *citizen_keys["dung"])).get_json()
    assert body["valid"] is False
    assert [f["code"] for f in body["failures"]] == ["revoked"]
    assert body["failures"][0]["revoked_at"] == demo_pki["revoked_at"]
    assert body["revocation"] == {"status": "revoked", "revoked_at": demo_pki["revoked_at"]}


def test_signer_from_an_unknown_ca_is_invalid(client, signer, citizen_keys):
    body = _post(client, DOCUMENT, signer.sign_cms(DOCUMENT, *citizen_keys["khanh"])).get_json()
    assert [f["code"] for f in body["failures"]] == ["unknown_issuer"]


def test_every_failure_is_listed(client, signer, citizen_keys):
    signature = signer.sign_cms(DOCUMENT, *citizen_keys["hai"])
    body = _post(client, b"other", signature).get_json()
    assert [f["code"] for f in body["failures"]] == ["bad_signature", "wrong_key_usage"]


def test_malformed_signature_is_invalid_not_an_error(client):
    body = _post(client, DOCUMENT, b"\x30\x82\x01\x00garbage").get_json()
    assert body["valid"] is False
    assert [f["code"] for f in body["failures"]] == ["malformed"]
    assert body["signer"] is None


def test_missing_signature_is_a_400(client):
    response = client.post(URL, data={"document": (io.BytesIO(DOCUMENT), "d.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_other_media_types_are_a_415(client):
    response = client.post(URL, json={"signature": "x"})
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"


@pytest.fixture
def environ(environ):
    return {**environ, "IDP_SIGNATURE_MAX_DOCUMENT": "3000000"}


def test_a_document_over_the_limit_is_a_413(client, signer, citizen_keys):
    big = b"x" * 5_000_000
    response = _post(client, big, signer.sign_cms(b"x", *citizen_keys["an"]))
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"


def test_a_document_larger_than_the_app_wide_limit_but_within_ours_is_verified(client, signer, citizen_keys):
    document = b"y" * 2_500_000  # the app's MAX_CONTENT_LENGTH for pages is 1 MiB
    response = _post(client, document, signer.sign_cms(document, *citizen_keys["cuong"]))
    assert response.status_code == 200
    assert response.get_json()["valid"] is True


def test_the_api_needs_no_csrf_token(app, client, signer, citizen_keys):
    app.config["WTF_CSRF_ENABLED"] = True
    response = _post(client, DOCUMENT, signer.sign_cms(DOCUMENT, *citizen_keys["an"]))
    assert response.status_code == 200


def test_openapi_document_is_served_without_a_token_and_describes_the_endpoint(app):
    response = app.test_client().get("/api/signatures/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "http://127.0.0.1:8000"}]
    operation = document["paths"]["/api/signatures/verify"]["post"]
    assert set(operation["requestBody"]["content"]) >= {"multipart/form-data", "application/pkcs7-mime"}
    codes = document["components"]["schemas"]["Failure"]["properties"]["code"]["enum"]
    from idp.signatures.cms import CMS_REASONS
    from idp.signatures.validation import REASONS

    assert set(REASONS) | set(CMS_REASONS) | {"invalid_signing_time"} == set(codes)
    flow = document["components"]["securitySchemes"]["clientCredentials"]["flows"]["clientCredentials"]
    assert flow["scopes"] == {"signature.verify": "Verify signed documents"}
    assert flow["tokenUrl"] == "http://127.0.0.1:8000/token"
    assert document["security"] == [{"clientCredentials": ["signature.verify"]}]
    for status in ("401", "403"):
        assert operation["responses"][status]["headers"]["WWW-Authenticate"] == {
            "$ref": "#/components/headers/WWW-Authenticate"}
    assert "WWW-Authenticate" in document["components"]["headers"]


# -- fuzzing: hostile bytes never give a 500 -----------------------------------------------------


@pytest.fixture
def valid_signature(signer, citizen_keys) -> bytes:
    return signer.sign_cms(DOCUMENT, *citizen_keys["cuong"])


def _mutations(valid: bytes):
    def apply(edits):
        data = bytearray(valid)
        for position, value in edits:
            data[position % len(data)] = value
        return bytes(data)

    return st.one_of(
        st.binary(max_size=2048),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8).map(apply),
        st.integers(1, len(valid) - 1).map(lambda n: valid[:n]),
        st.binary(max_size=64).map(lambda tail: valid + tail),
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_cms_never_gives_a_server_error(client, valid_signature, data):
    signature = data.draw(_mutations(valid_signature))
    enveloping = data.draw(st.booleans())
    if enveloping:
        response = client.post(URL, data=signature, content_type="application/pkcs7-mime")
    else:
        response = _post(client, DOCUMENT, signature)
    assert response.status_code in (200, 400), response.get_data()[:200]
    body = response.get_json()
    if response.status_code == 200:
        assert body["valid"] is (body["failures"] == [])
        if body["valid"]:  # only a mutation outside the signed bytes can keep it valid
            assert not enveloping
            assert body["signer"]["name"] == "Lê Văn Cường"
