"""Scopes this server understands and the claims each releases (OIDC Core §5.4), with the
plain-words description the consent page shows.

``national_id`` and ``assurance`` are this server's own: the national identifier leaves the
server only under ``national_id``, to a client registered for it, with the citizen's consent.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

SCOPES: dict[str, tuple[tuple[str, ...], object]] = {
    "openid": ((), _l("Confirm that it is you (an identifier for this service only)")),
    "profile": (("name", "family_name", "given_name", "middle_name", "birthdate", "gender",
                 "locale", "updated_at"),
                _l("Your name, date of birth and sex")),
    "email": (("email", "email_verified"), _l("Your email address")),
    "phone": (("phone_number", "phone_number_verified"), _l("Your phone number")),
    "address": (("address",), _l("Your registered address")),
    "national_id": (("national_id", "national_id_scheme", "identity_document"),
                    _l("Your personal identification number and identity document")),
    "assurance": (("assurance_level",), _l("How well your account has been verified")),
    # Acting for others (idp.orgs.context, idp.oidc.tokens.acting): the organisation chosen at sign-in
    # with the roles it gave the citizen; or the child chosen, as ``sub``, and the citizen in ``act``.
    "organization": (("org",), _l("The organisation you choose to act for, and your roles in it")),
    "representation": (("act",), _l("The person you choose to act for, and that you act for them")),
    # OIDC Core §11: a refresh token that outlives the sign-in session (it survives sign-out,
    # Back-Channel Logout 1.0 §2.7); only ever granted with the citizen's consent.
    "offline_access": ((), _l("Keep this access after you sign out, until you revoke it")),
}

#: Scopes naming an API of this server, for agency back-ends with the client credentials grant
#: only (RFC 6749 §4.4): they release nothing about a citizen and a citizen is never asked for
#: them, so the authorization endpoint does not know them.
SERVICE_SCOPES: dict[str, object] = {
    "signature.verify": _l("Verify signed documents (POST /api/signatures/verify)"),
}

#: Scopes that release nothing about the citizen; granting them needs no consent by itself.
NO_CONSENT = frozenset({"openid"})


def claims_for(scopes: list[str] | set[str]) -> list[str]:
    names: list[str] = []
    for scope in scopes:
        names.extend(SCOPES.get(scope, ((), ""))[0])
    return names


def all_claims() -> list[str]:
    return ["sub", *claims_for(SCOPES)]
