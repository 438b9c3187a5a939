"""The ``claims`` request parameter (OIDC Core §5.5): individual claims for the ID token and
UserInfo, and ``acr`` as an essential claim (§5.5.1.1).

- ``{"id_token": {"acr": {"essential": true, "values": [...]}}}`` (or ``"value"``) makes the
  level a requirement, as ``acr_values`` does here: a citizen below it steps up, and a level
  that cannot be met ends as ``unmet_authentication_requirements`` (OpenID Connect Core
  Unmet Authentication Requirements 1.0 §2). A voluntary ``acr`` only chooses the vocabulary
  of the ``acr`` claim.
- Other claims named under ``id_token`` are added to the ID token (§5.5: the RP asks for them
  there), released exactly as at UserInfo: only what the scopes the citizen consented to
  cover (a claims request never widens consent, §5.5 "the OP MAY ... not return"). Under
  ``userinfo`` the scopes' claims are returned anyway.
The parameter is checked as JSON of that shape (§5.5); anything else is ``invalid_request``.
"""

from __future__ import annotations

import json

MEMBERS = ("userinfo", "id_token")
MAX_CLAIMS = 50


class InvalidClaims(ValueError):
    """The ``claims`` parameter does not have the shape of OIDC Core §5.5."""


def parse(raw: str | None) -> dict | None:
    """The request's ``claims`` as ``{"userinfo": {...}, "id_token": {...}}``; None without it."""
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):
        raise InvalidClaims("The claims parameter is not JSON.") from None
    if not isinstance(value, dict):
        raise InvalidClaims("The claims parameter must be a JSON object.")
    out = {}
    for member in MEMBERS:
        requested = value.get(member)
        if requested is None:
            continue
        if not isinstance(requested, dict) or len(requested) > MAX_CLAIMS:
            raise InvalidClaims(f"claims.{member} must be an object of at most {MAX_CLAIMS} claims.")
        out[member] = {name: _request(member, name, spec) for name, spec in requested.items()}
    return out


def _request(member: str, name: str, spec) -> dict:
    """One claim's request (§5.5.1): null, or an object with essential / value / values."""
    if not isinstance(name, str) or not name or len(name) > 100:
        raise InvalidClaims(f"claims.{member} has an invalid claim name.")
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise InvalidClaims(f"claims.{member}.{name} must be null or an object.")
    if not isinstance(spec.get("essential", False), bool):
        raise InvalidClaims(f"claims.{member}.{name}.essential must be true or false.")
    values = spec.get("values")
    if values is not None and (not isinstance(values, list) or len(values) > 20):
        raise InvalidClaims(f"claims.{member}.{name}.values must be a list.")
    return {k: spec[k] for k in ("essential", "value", "values") if k in spec}


def acr_request(claims: dict | None) -> tuple[bool, list[str]]:
    """Whether ``acr`` is requested as essential, and the values asked for (in order)."""
    essential, values = False, []
    for member in MEMBERS:
        spec = (claims or {}).get(member, {}).get("acr")
        if spec is None:
            continue
        essential = essential or bool(spec.get("essential"))
        if isinstance(spec.get("value"), str):
            values.append(spec["value"])
        values.extend(v for v in spec.get("values") or [] if isinstance(v, str))
    return essential, list(dict.fromkeys(values))


def id_token_claims(claims: dict | None) -> list[str]:
    """Names of the individual claims asked for in the ID token (not those it always has)."""
    always = {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
              "at_hash", "c_hash"}
    return [name for name in (claims or {}).get("id_token", {}) if name not in always]
