"""The JSON answer of the token and introspection paths before Flask: the same headers as the
Flask views give (RFC 6749 §5.1 ``no-store``; :data:`idp.web.SECURITY_HEADERS`), counted in
``/metrics`` under the Flask endpoint's name."""

from __future__ import annotations

import json
import time

from idp.metrics import LATENCY, REQUESTS
from idp.web import SECURITY_HEADERS

HEADERS = (("Content-Type", "application/json"), ("Cache-Control", "no-store"),
           ("Pragma", "no-cache"), *SECURITY_HEADERS)


class JsonAnswer:
    """200 answers for one endpoint, with its metric children looked up once."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.requests = None  # made at the first answer: in the worker process, not a parent
        self.latency = LATENCY.labels(endpoint=endpoint)

    def __call__(self, start_response, body: dict, started: float) -> list[bytes]:
        # Sorted keys, like Flask's JSON provider: the same bytes from both paths.
        data = json.dumps(body, sort_keys=True).encode()
        start_response("200 OK", [*HEADERS, ("Content-Length", str(len(data)))])
        if self.requests is None:
            self.requests = REQUESTS.labels(endpoint=self.endpoint, method="POST", status="200")
        self.requests.inc()
        self.latency.observe(time.perf_counter() - started)
        return [data]
