"""The JSON answer of the token and introspection paths before Flask: the Flask views' own
headers (Authlib's ``default_json_headers``: JSON, RFC 6749 §5.1 ``no-store`` and
``Pragma: no-cache``; then :data:`idp.web.SECURITY_HEADERS`) and bytes (the app's JSON provider,
which Authlib's Flask integration serialises with), counted in ``/metrics`` under the Flask
endpoint's name."""

from __future__ import annotations

from authlib.consts import default_json_headers
from flask import Flask

from idp.metrics import EndpointMetrics
from idp.web import SECURITY_HEADERS

HEADERS = (*default_json_headers, *SECURITY_HEADERS)


class JsonAnswer:
    """200 answers for one endpoint."""

    def __init__(self, app: Flask, endpoint: str) -> None:
        self.dumps = app.json.dumps
        self.metrics = EndpointMetrics(endpoint)

    def __call__(self, start_response, body: dict, started: float) -> list[bytes]:
        data = self.dumps(body).encode()
        start_response("200 OK", [*HEADERS, ("Content-Length", str(len(data)))])
        self.metrics.observe("POST", "200", started)
        return [data]
