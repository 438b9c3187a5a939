"""Configuration: every ``IDP_*`` environment variable, its default and its meaning.

This is the one place settings are defined. Operators, ``scripts/`` and the README table
depend on these names; ``tests/test_config.py`` checks that the README documents each one.
A value that does not parse stops the start with a :class:`ConfigError` naming the variable,
so nothing ever starts half-configured.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from idp.algorithms import SIGNING_ALGS
from idp.identifiers import SCHEMES


class ConfigError(Exception):
    """An ``IDP_*`` variable has a value the server cannot run with."""

    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


# -- parsers: each takes the raw string and returns the value or raises ValueError ----------


def _issuer(raw: str) -> str:
    """OIDC Discovery 1.0 §3 / RFC 8414 §2: https URL, no query or fragment.

    http is accepted only for loopback hosts, so a trial on one machine works.
    """
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL such as https://id.example.gov")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query or fragment (RFC 8414 section 2)")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("must use https unless the host is loopback (127.0.0.1, localhost)")
    return raw.rstrip("/")


def _database_url(raw: str) -> str:
    if not raw.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ValueError("must be an sqlite:/// or postgresql+psycopg:// URL")
    if raw.startswith("postgresql:"):
        # SQLAlchemy would pick psycopg2, which we do not ship; psycopg 3 is the driver.
        raw = "postgresql+psycopg:" + raw[len("postgresql:") :]
    return raw


def _redis_url(raw: str) -> str | None:
    if not raw:
        return None
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis:// or rediss:// URL")
    return raw


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _auto_or_positive_int(raw: str) -> int | None:
    """``auto`` (None: worked out where it is used) or a positive whole number."""
    return None if raw.strip().lower() == "auto" else _positive_int(raw)


def _app_signin_ttl(raw: str) -> int:
    value = _positive_int(raw)
    if value > 120:
        raise ValueError("must be at most 120 seconds")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be zero or a positive whole number")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _locales(raw: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in raw.replace(",", " ").split() if v.strip())
    known = {"vi", "en"}
    if not values or any(v not in known for v in values):
        raise ValueError("must list languages among: vi en (the first is the default)")
    return values


def _text(raw: str) -> str:
    return raw


def _help_desk_url(raw: str) -> str:
    """Empty, or an absolute http(s) URL: it becomes a link citizens follow."""
    if raw and (urlsplit(raw).scheme not in ("https", "http") or not urlsplit(raw).hostname):
        raise ValueError("must be empty or an absolute http(s) URL such as https://help.example.gov")
    return raw


_ACR_LEVELS = ("urn:idp:acr:basic", "urn:idp:acr:substantial", "urn:idp:acr:high")


def _acr_aliases(raw: str) -> tuple[tuple[str, str], ...]:
    """``ALIAS=urn:idp:acr:LEVEL`` pairs separated by commas (order kept: it is the order
    discovery lists them in)."""
    pairs: list[tuple[str, str]] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        alias, _, level = (piece.strip() for piece in item.partition("="))
        if not alias or level not in _ACR_LEVELS:
            raise ValueError("must be ALIAS=LEVEL pairs separated by commas, LEVEL among "
                             + " ".join(_ACR_LEVELS))
        if alias in _ACR_LEVELS or any(a == alias for a, _ in pairs) or " " in alias:
            raise ValueError(f"alias {alias!r} is repeated, contains a space or is an acr value")
        pairs.append((alias, level))
    return tuple(pairs)


def _alg(raw: str) -> str:
    if raw not in SIGNING_ALGS:
        raise ValueError("must be one of " + " ".join(SIGNING_ALGS))
    return raw


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def _networks(raw: str) -> Networks:
    values = raw.replace(",", " ").split()
    if not values:
        raise ValueError("must list at least one network (0.0.0.0/0 ::/0 allows any address)")
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in values)
    except ValueError:
        raise ValueError("must be IP networks in CIDR form, such as 127.0.0.1/32 10.0.0.0/8") from None


def _optional_networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return _networks(raw) if raw.strip() else ()


def _bearer_token(raw: str) -> str | None:
    if not raw:
        return None
    if len(raw) < 16:
        raise ValueError("must be at least 16 characters (use a random value)")
    return raw


def _proxy_hops(raw: str) -> int:
    value = _non_negative_int(raw)
    if value > 5:
        raise ValueError("must be the number of proxies in front of idp, 0 to 5")
    return value
def _identifier_scheme(raw: str) -> str:
    if raw not in SCHEMES:
        raise ValueError("must be one of " + " ".join(sorted(SCHEMES)))
    return raw


def _rate_limit(raw: str) -> str:
    """Flask-Limiter's notation, e.g. ``20/minute;200/hour``."""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ValueError("must be limits such as 20/minute;200/hour") from None
    return raw


def _redis_prefix(raw: str) -> str:
    if not raw or len(raw) > 64 or any(c.isspace() for c in raw):
        raise ValueError("must be 1-64 characters without spaces, such as idp:")
    return raw
def _revocation_policy(raw: str) -> str:
    if raw not in ("hard-fail", "soft-fail"):
        raise ValueError("must be hard-fail or soft-fail")
    return raw


def _crl_sources(raw: str) -> tuple[str, ...]:
    """Whitespace-separated: folders, files, http(s) URLs, or the word ``distribution-points``."""
    sources = tuple(raw.split())
    for source in sources:
        if "://" in source and not source.startswith(("http://", "https://")):
            raise ValueError("URLs must be http:// or https:// (a CRL is signed, so http is fine)")
    return sources


def _oids(raw: str) -> frozenset[str]:
    values = frozenset(raw.split())
    for value in values:
        parts = value.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{value!r} is not a dotted object identifier such as 0.4.0.194112.1.2")
    return values


def _smtp_url(raw: str) -> str | None:
    """``smtp://[user:password@]host[:port]`` (STARTTLS) or ``smtps://...`` (implicit TLS)."""
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("must be smtp://[user:password@]host[:port] (STARTTLS) or smtps://... "
                         "(implicit TLS)")
    return raw


def _mail_from(raw: str) -> str:
    from email.headerregistry import Address

    if not raw:
        return raw  # derived from the issuer's host by load_settings
    try:
        Address(addr_spec=raw.rsplit("<", 1)[-1].rstrip(">").strip())
    except (ValueError, IndexError):
        raise ValueError("must be an email address, optionally as 'Name <address>'") from None
    return raw


def _http_url(raw: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("must use https unless the host is loopback")
    return raw


def _log_level(raw: str) -> str:
    upper = raw.upper()
    if upper not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return upper


@dataclass(frozen=True)
class Setting:
    """One ``IDP_*`` variable: its name, default (as it would be typed) and meaning."""

    name: str
    default: str | None
    parse: Callable[[str], Any]
    doc: str
    attr: str = ""  #: the :class:`Settings` field (filled in from the declaration)


def _variable(name: str, default: str | None, parse: Callable[[str], Any], doc: str) -> Any:
    """A :class:`Settings` field read from the variable ``name`` (no default in the class: every
    field is given by :func:`load_settings`)."""
    return field(metadata={"setting": Setting(name, default, parse, doc)})


@dataclass(frozen=True, slots=True)
class Settings:
    """The parsed configuration, read once at start (:func:`load_settings`) and never changed:
    one typed field per ``IDP_*`` variable, each declared with its variable, default (as it
    would be typed), parser (the validation; a ValueError names the problem) and meaning.

    The app keeps it in ``app.extensions["idp.settings"]`` (:func:`current_settings`) and, for
    the code that reads it there, in ``app.config["IDP"]``.

    To add a setting: add one field here, ``name: type = _variable("IDP_NAME", "default",
    parser, "Meaning.")`` (a parser is a function of the raw string that returns the typed
    value or raises ValueError), and its row in the README configuration table.
    """

    issuer: str = _variable("IDP_ISSUER", "http://127.0.0.1:8000", _issuer,
            "Issuer identifier and public base URL (https except on loopback).")
    database_url: str = _variable("IDP_DATABASE_URL", None, _database_url,
            "SQLAlchemy URL. Default: SQLite file `instance/idp.sqlite3`. "
            "PostgreSQL: `postgresql+psycopg://user@host:5432/db`.")
    redis_url: str | None = _variable("IDP_REDIS_URL", "", _redis_url,
            "Redis for the rate limits and lockout counters shared by several nodes (a node goes on "
            "without it: docs/operations.md). Empty: in process.")
    redis_prefix: str = _variable("IDP_REDIS_PREFIX", "idp:", _redis_prefix,
            "Prefix of every Redis key this server writes (several deployments can share a Redis).")
    redis_timeout_ms: int = _variable("IDP_REDIS_TIMEOUT_MS", "100", _positive_int,
            "Milliseconds to connect to, and to wait for, Redis on each call; past it the call "
            "counts as an outage and the node runs on its fallbacks (docs/operations.md).")
    redis_retry_seconds: int = _variable("IDP_REDIS_RETRY_SECONDS", "5", _positive_int,
            "After a failed Redis call, seconds before a process asks Redis again (then the "
            "first success ends the outage, without a restart).")
    instance_dir: str = _variable("IDP_INSTANCE_DIR", "instance", _text,
            "Folder for the SQLite file and the generated secret key.")
    keys_dir: str = _variable("IDP_KEYS_DIR", "keys", _text,
            "Folder for trust anchors (`trust/*.pem`) and locally generated key material.")
    secret_key: str | None = _variable("IDP_SECRET_KEY", None, _text,
            "Key for cookies, CSRF and encryption at rest. Default: generated into "
            "`instance/secret_key` on first start. Set it (same value) on every node.")
    signing_alg: str = _variable("IDP_SIGNING_ALG", "RS256", _alg,
            "Default ID token signing algorithm (a client may choose another).")
    access_token_alg: str = _variable("IDP_ACCESS_TOKEN_ALG", "ES256", _alg,
            "Signing algorithm of JWT access tokens (RFC 9068).")
    authorization_code_ttl: int = _variable("IDP_AUTHORIZATION_CODE_TTL", "60", _positive_int,
            "Seconds an authorization code stays valid (single use).")
    access_token_ttl: int = _variable("IDP_ACCESS_TOKEN_TTL", "600", _positive_int,
            "Access token lifetime in seconds.")
    id_token_ttl: int = _variable("IDP_ID_TOKEN_TTL", "600", _positive_int, "ID token lifetime in seconds.")
    refresh_token_ttl: int = _variable("IDP_REFRESH_TOKEN_TTL", "2592000", _positive_int,
            "Refresh token lifetime in seconds (rotated on every use).")
    refresh_token_max_age: int = _variable("IDP_REFRESH_TOKEN_MAX_AGE", "7776000", _positive_int,
            "Absolute lifetime in seconds of a chain of refresh tokens (every token rotated from one "
            "sign-in): however recently rotated, none is accepted after this; the relying party "
            "sends the citizen to sign in again (RFC 9700 §4.14.2). At least IDP_REFRESH_TOKEN_TTL.")
    session_idle_ttl: int = _variable("IDP_SESSION_IDLE_TTL", "1800", _positive_int,
            "SSO session ends after this many seconds without activity.")
    session_absolute_ttl: int = _variable("IDP_SESSION_ABSOLUTE_TTL", "43200", _positive_int,
            "SSO session ends this many seconds after sign-in, whatever the activity.")
    reauth_max_age: int = _variable("IDP_REAUTH_MAX_AGE", "300", _positive_int,
            "Adding, removing or regenerating a second factor (authenticator app, recovery codes, "
            "passkeys) needs a sign-in within this many seconds; older sessions sign in again first.")
    app_signin_ttl: int = _variable("IDP_APP_SIGNIN_TTL", "120", _app_signin_ttl,
            "Seconds a \"Sign in with the app\" QR code stays valid (at most 120).")
    ciba_request_ttl: int = _variable("IDP_CIBA_REQUEST_TTL", "300", _positive_int,
            "Seconds a CIBA backchannel authentication request waits for the citizen (`expires_in`).")
    ciba_poll_interval: int = _variable("IDP_CIBA_POLL_INTERVAL", "5", _positive_int,
            "Minimum seconds between a CIBA client's token polls (`interval`; faster is `slow_down`).")
    client_secret_grace: int = _variable("IDP_CLIENT_SECRET_GRACE", "86400", _non_negative_int,
            "Seconds an old client secret keeps working after `idp clients rotate-secret`.")
    dynamic_registration: bool = _variable("IDP_DYNAMIC_REGISTRATION", "false", _bool,
            "Open `/connect/register` (RFC 7591/7592 dynamic client registration) to a trusted onboarding "
            "system holding an initial access token from `idp clients registration-token create`. "
            "Off by default; advertised in discovery only when on.")
    require_pushed_authorization_requests: bool = _variable(
            "IDP_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS", "false", _bool,
            "Every client must push its authorization request to `/par` (RFC 9126 §5) before "
            "`/authorize`; off: only clients registered with `--require-par` or `--profile fapi2`.")
    dpop_nonce: bool = _variable("IDP_DPOP_NONCE", "false", _bool,
            "DPoP proofs must carry a nonce this server issued (RFC 9449 §8, §9: `use_dpop_nonce` "
            "and the `DPoP-Nonce` header), which caps a pre-generated proof's life at 5 minutes.")
    identifier_scheme: str = _variable("IDP_IDENTIFIER_SCHEME", "vn-pin", _identifier_scheme,
            "National identifier citizens register and sign in with: `vn-pin` (Vietnam's 12-digit "
            "personal identification number) or `ru-snils` (Russia's SNILS).")
    password_min_length: int = _variable("IDP_PASSWORD_MIN_LENGTH", "10", _positive_int,
            "Shortest password accepted at registration and password change (NIST SP 800-63B 3.1.1.2).")
    argon2_time_cost: int = _variable("IDP_ARGON2_TIME_COST", "3", _positive_int,
            "argon2id iterations (RFC 9106 section 4). Changing it re-hashes each password at next sign-in.")
    argon2_memory_cost: int = _variable("IDP_ARGON2_MEMORY_COST", "65536", _positive_int,
            "argon2id memory in KiB (RFC 9106 section 4: 64 MiB). At least 8 x parallelism.")
    argon2_parallelism: int = _variable("IDP_ARGON2_PARALLELISM", "4", _positive_int,
            "argon2id lanes (RFC 9106 section 4). A hash computes them on the cores left to it per "
            "hash run at once: one thread each with `IDP_ARGON2_MAX_CONCURRENT=auto`; the hash is "
            "the same either way.")
    argon2_max_concurrent: int | None = _variable("IDP_ARGON2_MAX_CONCURRENT", "auto", _auto_or_positive_int,
            "argon2id hashes and verifications one process runs at once; more wait their turn. `auto`: "
            "the cores the process may run on divided by the server's worker processes "
            "(`WEB_CONCURRENCY`), at least 1, so that a machine runs about one per core: more at once "
            "on a core only take turns at it, and cost more CPU each (measured: 5 to 9 % for 4 on "
            "one core). Each needs `IDP_ARGON2_MEMORY_COST` KiB, which a process maps at its first "
            "hash and keeps for the next (no page faults per hash), so this also bounds a "
            "process's password memory whatever its thread count.")
    argon2_slice_ms: int = _variable("IDP_ARGON2_SLICE_MS", "100", _non_negative_int,
            "Time slice (ms) a password hash asks of Linux, so that the requests beside it on a busy "
            "core wait for its end rather than interrupt it and each run with caches it evicted "
            "(request threads then run as `SCHED_BATCH`; the kernel caps the slice at 100 ms and "
            "needs 6.12 or newer). A request with a free core beside it does not wait. `0`: the "
            "kernel's own slices (a hash runs as `SCHED_BATCH`, requests keep the default policy). "
            "See docs/operations.md.")
    login_rate_limit: str = _variable("IDP_LOGIN_RATE_LIMIT", "20/minute;200/hour", _rate_limit,
            "Sign-in, registration and password-change attempts allowed per client IP "
            "(Flask-Limiter notation).")
    login_rate_limit_fallback: str = _variable(
            "IDP_LOGIN_RATE_LIMIT_FALLBACK", "5/minute;50/hour", _rate_limit,
            "While Redis is unreachable: attempts allowed per client IP and per server process, "
            "across all the forms `IDP_LOGIN_RATE_LIMIT` covers (stricter, since each process "
            "counts alone; account lockout stays shared, in the database).")
    login_max_failures: int = _variable("IDP_LOGIN_MAX_FAILURES", "10", _positive_int,
            "Failed sign-ins in a row that lock an account; from the 3rd on, each failure imposes "
            "a growing wait (1, 2, 4... seconds).")
    login_lock_ttl: int = _variable("IDP_LOGIN_LOCK_TTL", "900", _positive_int,
            "Seconds an account stays locked after `IDP_LOGIN_MAX_FAILURES` failed sign-ins.")
    languages: tuple[str, ...] = _variable("IDP_LANGUAGES", "vi en", _locales,
            "UI languages, the first is the default.")
    help_desk_phone: str = _variable("IDP_HELP_DESK_PHONE", "", _text,
            "The citizens' help desk telephone number, shown on the start page `/` (empty: not shown).")
    help_desk_url: str = _variable("IDP_HELP_DESK_URL", "", _help_desk_url,
            "The citizens' help desk web page (https), linked from the start page `/` (empty: not linked).")
    secure_cookies_mode: str = _variable("IDP_SECURE_COOKIES", "auto", _text,
            "`auto`: Secure cookies when the issuer is https; `true` or `false` to force.")
    log_level: str = _variable("IDP_LOG_LEVEL", "INFO", _log_level, "Log level.")
    shutdown_drain_seconds: int = _variable("IDP_SHUTDOWN_DRAIN_SECONDS", "5", _non_negative_int,
            "On SIGTERM under gunicorn, seconds the node keeps serving while `/readyz` answers 503 "
            "`draining`, before it stops accepting connections and finishes the requests in flight; "
            "above the balancer's health-check interval times its unhealthy threshold. `0`: stop at "
            "once.")
    fast_path: bool = _variable("IDP_FAST_PATH", "on", _bool,
            "`on`: discovery, JWKS, client_credentials tokens, authorization codes redeemed with PKCE "
            "and the introspection of active access tokens are answered before Flask, by the same "
            "functions (same status, headers and bytes), at a fraction of the cost. `off`: everything "
            "goes through Flask.")
    client_cache: bool = _variable("IDP_CLIENT_CACHE", "on", _bool,
            "`on`: each process keeps in memory the clients it authenticated or looked up and, for "
            "introspection, that a presented token was neither revoked nor its citizen locked, and "
            "empties that copy whenever any process changes a client, revokes a token or locks a "
            "citizen: on PostgreSQL through triggers' `NOTIFY idp_changed`, heard by a listening "
            "connection of each process (while that connection is down or silent for 2 s it reads the "
            "database on every request); on SQLite through change counts kept by triggers and read "
            "before each use. `off`: read on every request.")
    proxy_fix_x_for: int = _variable("IDP_PROXY_FIX_X_FOR", "0", _proxy_hops,
            "Proxies in front of idp that set `X-Forwarded-For` (0: not behind a proxy, the header "
            "is ignored). The client address in the audit log, rate limits and `/metrics` comes "
            "from it.")
    proxy_fix_x_proto: int = _variable("IDP_PROXY_FIX_X_PROTO", "0", _proxy_hops,
            "Proxies that set `X-Forwarded-Proto` (the proxy terminates TLS).")
    proxy_fix_x_host: int = _variable("IDP_PROXY_FIX_X_HOST", "0", _proxy_hops,
            "Proxies that set `X-Forwarded-Host`.")
    proxy_fix_x_port: int = _variable("IDP_PROXY_FIX_X_PORT", "0", _proxy_hops,
            "Proxies that set `X-Forwarded-Port`.")
    proxy_fix_x_prefix: int = _variable("IDP_PROXY_FIX_X_PREFIX", "0", _proxy_hops,
            "Proxies that set `X-Forwarded-Prefix` (idp served under a path).")
    metrics_allow: Networks = _variable("IDP_METRICS_ALLOW", "127.0.0.1/32 ::1/128", _networks,
            "Networks (CIDR, space-separated) allowed to read `/metrics`; others get 403. "
            "`0.0.0.0/0 ::/0` allows any address (then set `IDP_METRICS_TOKEN`).")
    metrics_token: str | None = _variable("IDP_METRICS_TOKEN", "", _bearer_token,
            "When set, `/metrics` also requires `Authorization: Bearer <token>` (401 otherwise); "
            "at least 16 characters.")
    purge_retention: int = _variable("IDP_PURGE_RETENTION", "604800", _positive_int,
            "Seconds that ended sessions, revoked refresh-token families and redeemed codes are "
            "kept before `idp maintenance purge` deletes them (default 7 days).")
    purge_interval: int = _variable("IDP_PURGE_INTERVAL", "3600", _non_negative_int,
            "Seconds between purges run inside each server process (± 20 % jitter); `0` turns the "
            "in-process purge off (then run `idp maintenance purge` from cron).")
    purge_batch: int = _variable("IDP_PURGE_BATCH", "1000", _positive_int,
            "Rows the in-process purge deletes per transaction (each batch commits on its own).")
    acr_aliases: tuple[tuple[str, str], ...] = _variable("IDP_ACR_ALIASES",
            "LoA1=urn:idp:acr:basic,LoA2=urn:idp:acr:high", _acr_aliases,
            "Other names relying parties may use in `acr_values` for the three assurance levels "
            "(`ALIAS=urn:idp:acr:LEVEL`, comma-separated), e.g. the Vietnamese portal's LoA1/LoA2. "
            "Empty: none.")
    logout_token_ttl: int = _variable("IDP_LOGOUT_TOKEN_TTL", "120", _positive_int,
            "Seconds a back-channel logout token is valid (OIDC Back-Channel Logout 1.0 section "
            "2.4); a token re-sent later is signed again with the same `jti`.")
    backchannel_timeout: int = _variable("IDP_BACKCHANNEL_TIMEOUT", "5", _positive_int,
            "Seconds to connect to, and to wait for, a client's `backchannel_logout_uri`.")
    outbound_allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = _variable(
            "IDP_OUTBOUND_ALLOW_NETWORKS", "", _optional_networks,
            "Networks (CIDR, space- or comma-separated) that URLs registered by clients and fetched "
            "by this server (`jwks_uri`, `sector_identifier_uri`, `backchannel_logout_uri`) may "
            "point to although they are not public (loopback, private, link-local...); empty: "
            "none (idp.outbound).")
    backchannel_max_attempts: int = _variable("IDP_BACKCHANNEL_MAX_ATTEMPTS", "8", _positive_int,
            "Back-channel logout deliveries tried at most this many times, then given up "
            "(recorded in the audit log).")
    backchannel_retry_base: int = _variable("IDP_BACKCHANNEL_RETRY_BASE", "10", _positive_int,
            "Seconds before the first retry of a failed back-channel logout; doubled after each "
            "failure, at most `IDP_BACKCHANNEL_RETRY_MAX`.")
    backchannel_retry_max: int = _variable("IDP_BACKCHANNEL_RETRY_MAX", "3600", _positive_int,
            "Longest wait in seconds between two attempts of one back-channel logout delivery.")
    backchannel_poll_interval: int = _variable("IDP_BACKCHANNEL_POLL_INTERVAL", "2", _positive_int,
            "Seconds between two looks at the logout queue by the worker each server process runs.")
    backchannel_worker: bool = _variable("IDP_BACKCHANNEL_WORKER", "true", _bool,
            "Run the back-channel logout worker in every server process (`false`: only "
            "`idp logout-queue run` delivers).")
    smtp_url: str | None = _variable("IDP_SMTP_URL", "", _smtp_url,
            "Email for verification codes, account recovery and security notices: "
            "`smtp://user:password@host:587` (STARTTLS, required except on loopback) or "
            "`smtps://user:password@host:465` (implicit TLS). Empty: no email.")
    mail_from: str = _variable("IDP_MAIL_FROM", "", _mail_from,
            "Sender of idp's emails, e.g. `Cổng định danh <no-reply@id.example.gov>`. Empty: "
            "`no-reply@` the issuer's host.")
    sms_gateway_url: str | None = _variable("IDP_SMS_GATEWAY_URL", "", _http_url,
            "SMS gateway that takes idp's JSON contract (docs/notifications.md): "
            "`POST {\"id\", \"to\", \"text\"}`. Empty: no SMS.")
    sms_gateway_token: str = _variable("IDP_SMS_GATEWAY_TOKEN", "", _text,
            "Sent to the SMS gateway as `Authorization: Bearer <token>`.")
    notify_timeout: int = _variable("IDP_NOTIFY_TIMEOUT", "10", _positive_int,
            "Seconds to connect to, and to wait for, the SMTP server or the SMS gateway.")
    outbox_max_attempts: int = _variable("IDP_OUTBOX_MAX_ATTEMPTS", "10", _positive_int,
            "Emails and SMS tried at most this many times, then given up (audited).")
    outbox_retry_base: int = _variable("IDP_OUTBOX_RETRY_BASE", "15", _positive_int,
            "Seconds before the first retry of a message the channel did not accept; doubled "
            "after each failure, at most `IDP_OUTBOX_RETRY_MAX`.")
    outbox_retry_max: int = _variable("IDP_OUTBOX_RETRY_MAX", "1800", _positive_int,
            "Longest wait in seconds between two attempts of one message.")
    outbox_poll_interval: int = _variable("IDP_OUTBOX_POLL_INTERVAL", "2", _positive_int,
            "Seconds between two looks at the outbox by the worker each server process runs.")
    outbox_worker: bool = _variable("IDP_OUTBOX_WORKER", "true", _bool,
            "Run the outbox worker in every server process (`false`: only `idp outbox run` sends).")
    recovery_rate_limit: str = _variable("IDP_RECOVERY_RATE_LIMIT", "5/minute;30/hour", _rate_limit,
            "Account recovery requests and code entries allowed per client IP (Flask-Limiter notation).")
    recovery_max_per_hour: int = _variable("IDP_RECOVERY_MAX_PER_HOUR", "5", _positive_int,
            "Recovery codes one national number may ask for in an hour, whether or not it has an "
            "account (the answer is the same).")
    signature_revocation: str = _variable("IDP_SIGNATURE_REVOCATION", "hard-fail", _revocation_policy,
            "Signature certificates: `hard-fail` refuses a certificate (or a CA certificate above "
            "it) that no current CRL or OCSP answer covers; `soft-fail` accepts it with revocation "
            "status `unknown`. Every configured CRL is searched for the serial either way.")
    signature_crl_sources: tuple[str, ...] = _variable("IDP_SIGNATURE_CRL_SOURCES", "distribution-points",
            _crl_sources,
            "Where CRLs come from, separated by spaces: folders (every `*.crl`, `*.pem`, `*.der`), "
            "files, http(s) URLs, and `distribution-points` (the URLs each certificate names). "
            "Fetched CRLs are cached until their nextUpdate.")
    signature_ocsp: bool = _variable("IDP_SIGNATURE_OCSP", "true", _bool,
            "Ask the OCSP responder a signature certificate names (RFC 6960) about its status.")
    signature_max_document: int = _variable("IDP_SIGNATURE_MAX_DOCUMENT", "52428800", _positive_int,
            "Largest document (bytes) the signature verification API accepts; 413 beyond it.")
    signature_hardware_policies: frozenset[str] = _variable("IDP_SIGNATURE_HARDWARE_POLICIES",
            "0.4.0.194112.1.2 0.4.0.194112.1.3", _oids,
            "Certificate policy OIDs that mean the key lives on a hardware token or QSCD: sign-in "
            "with such a certificate is recorded with `amr` `hwk`, otherwise `swk`.")

    @property
    def secure_cookies(self) -> bool:
        if self.secure_cookies_mode == "auto":
            return self.issuer.startswith("https://")
        return _bool(self.secure_cookies_mode)


#: Every variable, in declaration order (the README table, ``tests/test_config.py``).
SETTINGS: tuple[Setting, ...] = tuple(replace(f.metadata["setting"], attr=f.name) for f in fields(Settings))

_BY_NAME = {s.name: s for s in SETTINGS}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from ``environ`` (default ``os.environ``); raise ConfigError."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.name)
        if raw is None:
            raw = setting.default
        if raw is None:
            values[setting.attr] = None
            continue
        try:
            values[setting.attr] = setting.parse(raw.strip())
        except ValueError as exc:
            message = str(exc) if str(exc) and "invalid literal" not in str(exc) else (
                "must be a whole number")
            raise ConfigError(setting.name, f"{message} (got {raw!r})") from None
    if values["secure_cookies_mode"] != "auto":
        try:
            _bool(values["secure_cookies_mode"])
        except ValueError as exc:
            raise ConfigError("IDP_SECURE_COOKIES", f"{exc} or auto") from None

    instance = Path(values["instance_dir"]).resolve()
    values["instance_dir"] = str(instance)
    values["keys_dir"] = str(Path(values["keys_dir"]).resolve())
    if values["database_url"] is None:
        values["database_url"] = f"sqlite:///{instance / 'idp.sqlite3'}"
    if not values["mail_from"]:
        values["mail_from"] = f"no-reply@{urlsplit(values['issuer']).hostname}"
    if values["refresh_token_max_age"] < values["refresh_token_ttl"]:
        raise ConfigError("IDP_REFRESH_TOKEN_MAX_AGE", "must not be shorter than IDP_REFRESH_TOKEN_TTL")
    if values["session_absolute_ttl"] < values["session_idle_ttl"]:
        raise ConfigError("IDP_SESSION_ABSOLUTE_TTL", "must not be shorter than IDP_SESSION_IDLE_TTL")
    if values["argon2_memory_cost"] < 8 * values["argon2_parallelism"]:
        raise ConfigError("IDP_ARGON2_MEMORY_COST", "must be at least 8 x IDP_ARGON2_PARALLELISM KiB")
    return Settings(**values)


_EXTENSION = "idp.settings"


def install(app: Flask, settings: Settings) -> None:
    """Keep ``settings`` on ``app``: :func:`current_settings`, and ``app.config["IDP"]``."""
    app.extensions[_EXTENSION] = settings
    app.config["IDP"] = settings


def current_settings(app: Flask | None = None) -> Settings:
    """The settings of ``app`` (default: the current app)."""
    return (app or current_app).extensions[_EXTENSION]


def secret_key(settings: Settings) -> str:
    """IDP_SECRET_KEY, or the one generated into the instance folder on first start."""
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            raise ConfigError("IDP_SECRET_KEY", "must be at least 32 characters")
        return settings.secret_key
    path = Path(settings.instance_dir) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def setting(name: str) -> Setting:
    return _BY_NAME[name]
