"""Six-digit codes sent by email or SMS: made, stored as a keyed digest, compared in constant
time. Shared by contact verification and account recovery.

NIST SP 800-63B §5.1.3 (out-of-band authenticators): a random code of at least 6 digits, valid
for a short time (``CODE_TTL``), with a limited number of tries (``MAX_TRIES``) so guessing has
a 5 in a million chance. Only an HMAC keyed with ``IDP_SECRET_KEY`` is stored, bound to what
the code is for, so a database reader learns no code and a code for one purpose never works
for another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app

CODE_TTL = timedelta(minutes=10)
MAX_TRIES = 5
DIGITS = 6


def new_code() -> str:
    return f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"


def digest(purpose: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{purpose}\x00{code}".encode(), hashlib.sha256).hexdigest()


def matches(purpose: str, code: str, stored: str | None) -> bool:
    """Whether ``code`` (as typed: spaces ignored) is the one whose digest is ``stored``."""
    typed = "".join(code.split())
    if stored is None or len(typed) != DIGITS or not typed.isdigit():
        # Same work as a real comparison, so a malformed code is not told apart by time.
        hmac.compare_digest(digest(purpose, "0" * DIGITS), "0" * 64)
        return False
    return hmac.compare_digest(digest(purpose, typed), stored)
