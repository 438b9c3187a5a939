"""The citizen-facing wording of identifier, registry and password problems.

Services raise problems by code; this module is the one place those codes become
translated sentences (Flask-Babel), so the same wording serves pages and the ``idp`` command.
"""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

IDENTIFIER_PARTS = {
    "characters": _l("The number may contain only digits."),
    "length": _l("The number has the wrong number of digits."),
    "province": _l("Digits 1-3 of the number are not a province or city code."),
    "future": _l("Digits 4-6 of the number give a birth year in the future."),
    "century": _l("Digit 4 of the number (century of birth and sex) does not match the birth date."),
    "birth_year": _l("Digits 5-6 of the number (year of birth) do not match the birth date."),
    "gender": _l("Digit 4 of the number (century of birth and sex) does not match the registered sex."),
    "checksum": _l("The check number (last two digits) does not match the other digits."),
    "check_digit": _l("The check digit does not match the other digits."),
    "serial": _l("The serial part of the number cannot be all zeros."),
    "branch": _l("A branch number runs from 001 to 999."),
    "kind": _l("The first digit does not stand for a legal entity."),
}

PASSWORD_PROBLEMS = {
    "too_long": _l("The password is too long (at most 256 characters)."),
    "common": _l("This password is too common: it appears in lists attackers try first."),
    "personal": _l("The password must not be your identification number, email or phone."),
}

REGISTRY_MISMATCH = _l(
    "These details do not match the population registry. Check the number, your full name "
    "as written on your identity card, and your birth date.")
ACCOUNT_EXISTS = _l("An account already exists for this number. Sign in instead.")
EMAIL_TAKEN = _l("This email address is already used by another account.")
PHONE_TAKEN = _l("This phone number is already used by another account.")
EMAIL_INVALID = _l("Enter an email address such as name@example.vn.")
PHONE_INVALID = _l("Enter a phone number such as 0912 345 678 or +84 912 345 678.")
CURRENT_PASSWORD_WRONG = _l("The current password is wrong.")
CONTACT_REQUIRED = _l("Give an email address or a phone number (or both).")
CONTACT_CHANNEL_OFF_EMAIL = _l("This service cannot send email at the moment, so an email address cannot "
                               "be verified. Try again later or ask at a service counter.")
CONTACT_CHANNEL_OFF_PHONE = _l("This service cannot send text messages at the moment, so a phone number "
                               "cannot be verified. Try again later or ask at a service counter.")
RESET_CODE_WRONG = _l("The code is wrong or has expired. Check the latest message, or ask for a new code.")
RECOVERY_TOO_MANY = _l("Too many codes were asked for this number. Wait an hour and try again, or go to a "
                       "service counter.")
CODE_NONE_PENDING = _l("There is no code waiting for this contact. Ask for a new code.")
CODE_EXPIRED = _l("This code has expired. Ask for a new code.")
CODE_EXHAUSTED = _l("Too many wrong codes. Ask for a new code.")
CODE_WRONG = _l("The code is wrong. Check the latest message we sent and try again.")
CONTACT_PROVEN_ELSEWHERE = _l("This contact is already verified on another account. Remove it there first, "
                              "or ask at a service counter.")


def identifier_message(part: str) -> str:
    return str(IDENTIFIER_PARTS.get(part, IDENTIFIER_PARTS["characters"]))


def password_message(code: str, min_length: int) -> str:
    if code == "too_short":
        return gettext("The password must have at least %(count)d characters.", count=min_length)
    return str(PASSWORD_PROBLEMS[code])


IDENTIFIER_HINTS = {
    "vn-pin": _l("The 12-digit number on your citizen identity card."),
    "ru-snils": _l("Your 11-digit SNILS, for example 112-233-445 95."),
}


def identifier_hint(scheme_name: str) -> str:
    return str(IDENTIFIER_HINTS[scheme_name])
