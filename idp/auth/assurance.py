"""The assurance model: which ``acr`` a sign-in reaches from its ``amr`` (RFC 8176) values.

Three authentication context classes (OIDC Core §2 ``acr``), lowest first:

- ``urn:idp:acr:basic``: one factor (a password);
- ``urn:idp:acr:substantial``: factors of at least two categories (password + authenticator
  app, recovery code or passkey), any account;
- ``urn:idp:acr:high``: at least two categories, one method phishing-resistant, on an
  identity-verified (level 2) account.

Phishing-resistant means bound to this server's origin, so a phishing page cannot relay it
(NIST SP 800-63B §5.2.5): a passkey (WebAuthn signs the origin the browser reports), or a
certificate signature the citizen's signer made over a statement naming the origin its browser
reported and posted to this server itself (:mod:`idp.auth.certificate_views`). A key method
(``hwk``, ``swk``, ``sc``) says only how the key is held: a certificate signature over a
challenge pasted into a form proves the key but can be relayed, so the sign-in that made it
says ``phishing_resistant=False`` and reaches ``substantial`` at most.

The categories are the classic three (NIST SP 800-63B §5.1; RFC 8176 §2 lists the values):
something known, something held, something one is. Aliases (``IDP_ACR_ALIASES``) let a relying
party use another vocabulary (the Vietnamese portal's ``LoA1``/``LoA2``); they map to a level.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app

ACR_BASIC = "urn:idp:acr:basic"
ACR_SUBSTANTIAL = "urn:idp:acr:substantial"
ACR_HIGH = "urn:idp:acr:high"
#: Lowest first: a level satisfies every level before it.
LEVELS = (ACR_BASIC, ACR_SUBSTANTIAL, ACR_HIGH)

KNOWLEDGE = frozenset({"pwd", "pin", "kba"})
POSSESSION = frozenset({"otp", "hwk", "swk", "sc", "sms"})
INHERENCE = frozenset({"fpt", "face", "user"})
#: Key methods: phishing-resistant (NIST SP 800-63B §5.2.5, "verifier impersonation
#: resistance") when the proof is bound to the origin, which a passkey's always is. A sign-in
#: whose key proof could be relayed (a pasted certificate signature) says so with
#: ``phishing_resistant=False`` (:func:`acr_reached`).
PHISHING_RESISTANT = frozenset({"hwk", "swk", "sc"})
#: RFC 8176 §2: "mfa", multiple-factor authentication.
MFA = "mfa"
#: Account level required for ``high`` (identity verified, Decree 69/2024 level 2).
HIGH_ACCOUNT_LEVEL = 2


def categories(amr: Iterable[str]) -> set[str]:
    """The factor categories the methods in ``amr`` cover."""
    methods = set(amr)
    found = set()
    for name, members in (("knowledge", KNOWLEDGE), ("possession", POSSESSION),
                          ("inherence", INHERENCE)):
        if methods & members:
            found.add(name)
    return found


def acr_reached(amr: Iterable[str], level: int, *, phishing_resistant: bool | None = None) -> str:
    """The highest class ``amr`` reaches on an account of assurance ``level`` (see module doc).

    ``phishing_resistant``: whether a method of ``amr`` was proven bound to the origin. None
    (passkeys, passwords, one-time codes) reads it from the methods: a key method counts.
    """
    methods = set(amr)
    if len(categories(methods)) < 2:
        return ACR_BASIC
    if phishing_resistant is None:
        phishing_resistant = bool(methods & PHISHING_RESISTANT)
    if phishing_resistant and level >= HIGH_ACCOUNT_LEVEL:
        return ACR_HIGH
    return ACR_SUBSTANTIAL


def higher(first: str | None, second: str) -> str:
    """The higher of two classes (``first`` may be None or unknown)."""
    return first if first is not None and rank(first) > rank(second) else second


def amr_claim(amr: Iterable[str]) -> list[str]:
    """The ``amr`` claim of a token: the methods, plus ``mfa`` when two categories were used."""
    methods = sorted(set(amr) - {MFA})
    if len(categories(methods)) >= 2:
        methods.append(MFA)
    return methods


def rank(acr: str | None) -> int:
    """Position of a canonical level (0 = basic); an unknown value ranks below basic."""
    return LEVELS.index(acr) if acr in LEVELS else -1


def aliases() -> tuple[tuple[str, str], ...]:
    """``(alias, level)`` pairs from ``IDP_ACR_ALIASES``, in configuration order."""
    return current_app.config["IDP"].acr_aliases


def supported_values() -> list[str]:
    """What discovery advertises in ``acr_values_supported``: the levels, then the aliases."""
    return list(LEVELS) + [alias for alias, _ in aliases()]


def resolve(value: str) -> str | None:
    """The canonical level a requested value names (itself or through an alias), or None."""
    if value in LEVELS:
        return value
    return dict(aliases()).get(value)


def required_level(requested: Iterable[str], minimums: Iterable[str] = ()) -> str | None:
    """The level a request needs, or None when it asks for nothing.

    ``requested`` are ``acr_values`` in order of preference (OIDC Core §3.1.2.1): any of them
    satisfies the request, so the lowest known one is what must be met. ``minimums`` (the
    client's registered ``default_acr_values``) always apply on top: the stricter wins.
    """
    levels = [rank(resolve(v)) for v in requested if resolve(v)]
    floor = min(levels) if levels else -1
    for value in minimums:
        if resolve(value):
            floor = max(floor, rank(resolve(value)))
    return LEVELS[floor] if floor >= 0 else None


def acr_claim(reached: str, requested: Iterable[str]) -> str:
    """The ``acr`` value to put in a token for a session at level ``reached``.

    OIDC Core §2: the class "that the authentication performed satisfies"; §3.1.2.1 lists
    ``acr_values`` in order of preference. So a request that named values gets the first one
    the session satisfies, in the relying party's own vocabulary (``LoA2`` stays ``LoA2``: the
    portal compares with what it asked). A request that named none, or none satisfied, gets
    the canonical level reached.
    """
    for value in requested:
        level = resolve(value)
        if level is not None and rank(level) <= rank(reached):
            return value
    return reached


__all__ = [
    "ACR_BASIC", "ACR_HIGH", "ACR_SUBSTANTIAL", "LEVELS", "MFA", "PHISHING_RESISTANT",
    "acr_claim", "acr_reached", "aliases", "amr_claim", "categories", "higher", "rank", "required_level",
    "resolve", "supported_values",
]
