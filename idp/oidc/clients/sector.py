"""The pairwise sector of a client (OpenID Connect Core 1.0 §8.1; Registration 1.0 §2, §5).

A pairwise ``sub`` is computed from the client's sector (:mod:`idp.oidc.subject`), so whoever
chooses the sector chooses which other clients see the same ``sub``. §8.1 leaves two sources:

- a ``sector_identifier_uri``: an https URL of a JSON array of redirect URIs, fetched by this
  server (through :mod:`idp.outbound`, with a timeout and a size limit), which must list every
  redirect URI the client registers; the sector is the URL's host. Only the owner of that host
  can vouch for the client's redirect URIs, so a registrant cannot borrow another agency's
  sector;
- otherwise the host of the redirect URIs, which must then all share ONE host ("If the Client
  has not provided a value for sector_identifier_uri … there MUST be a single Host component").

An administrator may set the sector host directly (``idp clients create/update
--sector-identifier``), e.g. one agency's services on several hosts; a registrant through
dynamic registration cannot (:mod:`idp.oidc.endpoints.registration`). The sector is stored on the
client when it is registered and kept afterwards, so ``sub`` values never change behind the
relying party's back (clients registered before the sector was stored got the host of their
first redirect URI, the value used until then, in the migration ``sec_clients_0002``).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from idp.outbound import OutboundError, OutboundRefused, request

SECTOR_FETCH_TIMEOUT = 3.0
SECTOR_MAX_BYTES = 64 * 1024
MAX_LISTED = 100


def listed_redirect_uris(uri: str) -> list[str]:
    """GET the ``sector_identifier_uri`` and return the redirect URIs it lists (Registration §5:
    a JSON array of strings). ValueError with a readable reason on any failure."""
    try:
        response = request("GET", uri, timeout=SECTOR_FETCH_TIMEOUT, max_bytes=SECTOR_MAX_BYTES,
                           headers={"Accept": "application/json"})
    except OutboundRefused as exc:
        raise ValueError(f"sector_identifier_uri: {exc}") from None
    except OutboundError as exc:
        raise ValueError(f"sector_identifier_uri {uri!r} could not be read ({exc.reason})") from None
    if response.status != 200:
        raise ValueError(f"sector_identifier_uri {uri!r} answered HTTP {response.status}")
    try:
        listed = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        listed = None
    if not isinstance(listed, list) or len(listed) > MAX_LISTED or \
            not all(isinstance(u, str) for u in listed):
        raise ValueError(f"sector_identifier_uri {uri!r} must return a JSON array of redirect URIs")
    return listed


def sector_for(meta: dict) -> str | None:
    """The sector of a pairwise client with this (already validated) metadata; ValueError when
    §8.1 gives none. None for a client without redirect URIs (its ``client_id`` then serves,
    see :func:`idp.oidc.subject.sector_of`)."""
    uri, given, redirects = meta["sector_identifier_uri"], meta["sector_identifier"], meta["redirect_uris"]
    if uri:
        host = urlsplit(uri).hostname
        if given and given != host:
            raise ValueError(f"sector identifier {given!r} differs from the host of "
                             f"sector_identifier_uri ({host})")
        listed = listed_redirect_uris(uri)
        if missing := [u for u in redirects if u not in listed]:
            raise ValueError(f"sector_identifier_uri {uri!r} does not list the redirect URI(s) "
                             f"{', '.join(missing)} (OpenID Connect Core 1.0 section 8.1)")
        return host
    if given:
        return given
    hosts = list(dict.fromkeys(urlsplit(u).hostname for u in redirects))
    if len(hosts) > 1:
        raise ValueError(f"redirect URIs on several hosts ({', '.join(hosts)}) need a "
                         "sector_identifier_uri listing them (OpenID Connect Core 1.0 section 8.1)")
    return hosts[0] if hosts else None


__all__ = ["listed_redirect_uris", "sector_for"]
