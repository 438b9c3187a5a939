"""Email addresses and phone numbers in one stored form, so lookups and uniqueness work.

Emails are lower-cased (RFC 5321 section 2.4 lets a server treat the local part as
case-sensitive, but no provider a citizen uses does). Phone numbers become E.164
(``+84912345678``): a domestic number typed with the trunk prefix ("0912...") gets the country
calling code of the configured identifier scheme.
"""

from __future__ import annotations

import re

from idp.identifiers import IdentifierScheme

MAX_EMAIL_LENGTH = 254
#: No control characters (PostgreSQL refuses NUL in text; none belongs in an address).
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]{2,}$")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()\u00a0]+")
_E164_DIGITS = re.compile(r"^[0-9]{8,15}$")


def normalise_email(raw: str) -> str | None:
    """The stored form of an email address, or None when it is not one."""
    value = raw.strip().lower()
    if len(value) > MAX_EMAIL_LENGTH or not _EMAIL.match(value):
        return None
    return value


def normalise_phone(raw: str, scheme: IdentifierScheme) -> str | None:
    """E.164 form of a phone number, or None when it is not one."""
    value = _PHONE_SEPARATORS.sub("", raw.strip())
    if len(value) > 20:
        return None
    if value.startswith("+"):
        digits = value[1:]
    elif value.startswith("00"):
        digits = value[2:]
    elif value.startswith(scheme.trunk_prefix):
        digits = scheme.calling_code + value[len(scheme.trunk_prefix):]
    else:
        return None
    if not _E164_DIGITS.match(digits) or not digits.isascii():
        return None
    return "+" + digits
