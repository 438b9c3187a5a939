"""The signed-document verification API for agencies: ``POST /api/signatures/verify``.

An agency sends a document and its detached CMS signature (``multipart/form-data`` with parts
``document`` and ``signature``), or an enveloping CMS alone as the request body
(``application/pkcs7-mime``, ``application/cms`` or ``application/octet-stream``), and gets back
JSON: valid or not, the signer's identifier and name, the certificate's serial number and
issuer, the signing time, the revocation status, and every failure. The contract is the OpenAPI
3.1 document served at ``/api/signatures/openapi.json`` (``openapi.json`` beside this module).

Limits: the request may be at most ``IDP_SIGNATURE_MAX_DOCUMENT`` plus room for the signature
(413 beyond). A detached document is spooled by Werkzeug to a temporary file and hashed in
chunks; an enveloping CMS is parsed whole, so it is held in memory within the same limit.

Machine-to-machine: exempt from CSRF (no cookies are used). Every call needs an access token
with scope ``signature.verify`` (client credentials grant, RFC 6749 §4.4) as a bearer token
(RFC 6750 §2.1): 401 without a valid one, 403 ``insufficient_scope`` without the scope, each
with its ``WWW-Authenticate`` challenge (RFC 6750 §3). The token is checked before the body is
read, so a stranger cannot make the server spool a large upload.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request

from idp.oidc.tokens.resource import require_access_token
from idp.signatures.challenge import current_policy
from idp.signatures.cms import MAX_SIGNATURE_BYTES
from idp.signatures.documents import verify_document
from idp.web import no_store

bp = Blueprint("signatures_api", __name__, url_prefix="/api/signatures")

#: The scope an agency's client must hold (:data:`idp.oidc.scopes.SERVICE_SCOPES`).
SCOPE = "signature.verify"

ENVELOPING_TYPES = ("application/pkcs7-mime", "application/cms", "application/octet-stream")
#: Multipart boundaries and headers on top of the document and the signature.
_OVERHEAD = 64 * 1024
_OPENAPI = Path(__file__).with_name("openapi.json")


class RequestProblem(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _error(status: int, error: str, description: str):
    return no_store(jsonify(error=error, error_description=description)), status


def _read_signature_part() -> bytes:
    part = request.files.get("signature")
    if part is not None:
        data = part.stream.read(MAX_SIGNATURE_BYTES + 1)
    else:
        text = request.form.get("signature")
        if text is None:
            raise RequestProblem(400, "invalid_request", "the 'signature' part is missing")
        data = text.encode("utf-8", "replace")
    if len(data) > MAX_SIGNATURE_BYTES:
        raise RequestProblem(413, "request_entity_too_large",
                             f"the signature part is larger than {MAX_SIGNATURE_BYTES} bytes")
    if not data.strip():
        raise RequestProblem(400, "invalid_request", "the 'signature' part is empty")
    return data


def read_submission():
    """(signature bytes, document stream or None) from the request, or RequestProblem."""
    policy = current_policy()
    # Flask 3.1: limits for this request only (the app-wide limit is for pages and forms).
    request.max_content_length = policy.max_document + MAX_SIGNATURE_BYTES + _OVERHEAD
    request.max_form_memory_size = 2 * MAX_SIGNATURE_BYTES
    if request.mimetype == "multipart/form-data":
        signature = _read_signature_part()
        document = request.files.get("document")
        return signature, (document.stream if document is not None else None)
    if request.mimetype in ENVELOPING_TYPES:
        body = request.get_data(cache=False)
        if not body:
            raise RequestProblem(400, "invalid_request", "the request body (an enveloping CMS) is empty")
        return body, None
    raise RequestProblem(415, "unsupported_media_type",
                         "send multipart/form-data (document + signature) or an enveloping CMS as "
                         "application/pkcs7-mime")


@bp.post("/verify")
@require_access_token(SCOPE)
def verify():
    """Verify a signed document; 200 with ``valid`` true or false, 4xx only for unusable requests."""
    try:
        signature, document = read_submission()
    except RequestProblem as problem:
        return _error(problem.status, problem.error, problem.description)
    return no_store(jsonify(verify_document(signature, document, current_policy())))


@lru_cache(maxsize=1)
def _openapi_document() -> dict:
    return json.loads(_OPENAPI.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    """The API's OpenAPI 3.1 description, with this server's URL filled in."""
    issuer = current_app.config["IDP"].issuer
    document = json.loads(json.dumps(_openapi_document()))  # a deep copy: the cache stays clean
    document["servers"] = [{"url": issuer}]
    flows = document["components"]["securitySchemes"]["clientCredentials"]["flows"]
    flows["clientCredentials"]["tokenUrl"] = f"{issuer}/token"
    return jsonify(document)
