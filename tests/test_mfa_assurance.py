"""The assurance rule (idp/auth/assurance.py): RFC 8176 ``amr`` values → factor categories →
``acr``, the ``mfa`` marker, ``acr_values`` resolution and aliases. The certificate sign-in
calls ``complete_sign_in(citizen, amr=["hwk", "pin"])`` or ``amr=["swk"]`` and relies on these."""

from __future__ import annotations

import pytest

from idp.auth import assurance as a

BASIC, SUBSTANTIAL, HIGH = a.LEVELS


@pytest.mark.parametrize(("amr", "level", "expected"), [
    (["pwd"], 2, BASIC),
    (["swk"], 2, BASIC),                      # a software key alone: one category
    (["otp"], 2, BASIC),
    (["pwd", "pin"], 2, BASIC),               # two knowledge methods: still one category
    (["pwd", "otp"], 1, SUBSTANTIAL),
    (["pwd", "otp"], 2, SUBSTANTIAL),         # not phishing-resistant
    (["pwd", "swk"], 1, SUBSTANTIAL),         # phishing-resistant but account not verified
    (["pwd", "swk"], 2, HIGH),
    (["hwk", "pin"], 2, HIGH),                # key on a qualified token + its PIN
    (["hwk", "pin"], 1, SUBSTANTIAL),
    (["sc", "fpt"], 2, HIGH),
    (["otp", "face"], 2, SUBSTANTIAL),
])
def test_acr_reached_follows_categories_phishing_resistance_and_account_level(amr, level, expected):
    assert a.acr_reached(amr, level) == expected


def test_mfa_is_added_to_amr_only_with_two_categories():
    assert a.amr_claim(["pwd"]) == ["pwd"]
    assert a.amr_claim(["pwd", "pin"]) == ["pin", "pwd"]
    assert a.amr_claim(["pwd", "otp"]) == ["otp", "pwd", "mfa"]
    assert a.amr_claim(["pwd", "otp", "mfa"]) == ["otp", "pwd", "mfa"]


def test_required_level_is_the_lowest_requested_and_never_below_the_client_minimum(app):
    with app.app_context():
        assert a.required_level([]) is None
        assert a.required_level([HIGH, SUBSTANTIAL]) == SUBSTANTIAL
        assert a.required_level(["LoA2"]) == HIGH
        assert a.required_level(["LoA1"], [SUBSTANTIAL]) == SUBSTANTIAL
        assert a.required_level(["urn:other"]) is None
        assert a.required_level([], ["LoA2"]) == HIGH


def test_acr_claim_answers_with_the_first_satisfied_requested_value(app):
    with app.app_context():
        assert a.acr_claim(HIGH, ["LoA2"]) == "LoA2"
        assert a.acr_claim(HIGH, ["LoA1"]) == "LoA1"
        assert a.acr_claim(SUBSTANTIAL, ["LoA2", SUBSTANTIAL]) == SUBSTANTIAL
        assert a.acr_claim(BASIC, [BASIC, "LoA1"]) == BASIC
        assert a.acr_claim(SUBSTANTIAL, []) == SUBSTANTIAL
