"""The one check every return URL (``next``) goes through before it becomes a ``Location``.

RFC 9700 §4.11 (open redirectors): a ``next`` taken from a request may only lead back to this
server. A browser does not read ``Location`` the way a naive prefix test does: the WHATWG URL
parser removes every tab, CR and LF anywhere in the URL ("/\\t/evil.example" becomes
"//evil.example", a scheme-relative URL to another host), trims leading C0 controls and spaces,
and treats "\\" as "/" in http(s) URLs ("/\\evil.example" is "//evil.example"). A CR or LF would
also break the header itself. So the check refuses every control character and backslash
outright, then resolves what is left against a placeholder origin the way a browser would and
keeps it only when it stays on that origin.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

MAX_NEXT_LENGTH = 2000
#: C0 controls (tab, CR, LF among them), DEL and the C1 controls: browsers strip or misread them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_PLACEHOLDER = "https://idp.invalid"


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this server, else None: never an open redirect.

    Only a relative reference that starts with exactly one "/" passes: no scheme, no host, no
    "//" or "/\\" (scheme-relative to another host), no backslash, no control character. Percent
    escapes stay as they are: a browser does not decode them in a ``Location`` path."""
    if not target or len(target) > MAX_NEXT_LENGTH or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target or _CONTROL.search(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    resolved = urlsplit(urljoin(_PLACEHOLDER + "/", target))
    if f"{resolved.scheme}://{resolved.netloc}" != _PLACEHOLDER:
        return None
    return target
