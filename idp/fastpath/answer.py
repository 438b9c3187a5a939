"""The JSON answer of the token and introspection paths before Flask: the same headers as the
Flask views give (RFC 6749 §5.1 ``no-store``; :data:`idp.web.SECURITY_HEADERS`), counted in
``/metrics`` under the Flask endpoint's name."""

from __future__ import annotations

import json

from idp.metrics import EndpointMetrics
from idp.web import SECURITY_HEADERS

HEADERS = (("Content-Type", "application/json"), ("Cache-Control", "no-store"),
           ("Pragma", "no-cache"), *SECURITY_HEADERS)


class JsonAnswer:
    """200 answers for one endpoint."""

    def __init__(self, endpoint: str) -> None:
        self.metrics = EndpointMetrics(endpoint)

    def __call__(self, start_response, body: dict, started: float) -> list[bytes]:
        # Sorted keys, like Flask's JSON provider: the same bytes from both paths.
        data = json.dumps(body, sort_keys=True).encode()
        start_response("200 OK", [*HEADERS, ("Content-Length", str(len(data)))])
        self.metrics.observe("POST", "200", started)
        return [data]
