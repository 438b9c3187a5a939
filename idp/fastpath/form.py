"""Reading a POST's form body before Flask, and leaving it readable for Flask.

Only ``application/x-www-form-urlencoded`` bodies with a ``Content-Length`` of at most
:data:`MAX_BODY` bytes, in UTF-8, with no parameter repeated (RFC 6749 §3.1 and §3.2:
"parameters MUST NOT be included more than once") are read into a dict; for anything else the
caller lets Flask answer, and Flask gives the error it always gave.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qsl

FORM = "application/x-www-form-urlencoded"
#: Token and introspection requests are a few hundred bytes (a JWT client assertion or an
#: access token is the largest part); longer bodies go to Flask and its own limit.
MAX_BODY = 16 * 1024


def read_form(environ: dict) -> dict[str, str] | None:
    """The form parameters of this request, or None when Flask should read the body itself.

    The body is read from ``wsgi.input`` and put back as a fresh stream, so Flask can still
    read it when the caller decides not to answer.
    """
    if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != FORM:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY:
        return None
    stream = environ["wsgi.input"]
    body = b""
    while len(body) < length:
        chunk = stream.read(length - len(body))
        if not chunk:
            break
        body += chunk
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    if len(body) != length:
        return None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    form = dict(pairs)
    return form if len(form) == len(pairs) else None
