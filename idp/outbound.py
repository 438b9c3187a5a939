"""Outbound requests to URLs that clients registered: the one way the server fetches them.

The server itself fetches a client's ``jwks_uri`` (OIDC Registration §2), its
``sector_identifier_uri`` (OIDC Core §8.1) and POSTs to its ``backchannel_logout_uri``
(OIDC Back-Channel Logout §2.5). A registrant who names ``https://169.254.169.254/…``,
``https://10.0.0.5/…`` or ``https://127.0.0.1:6379/`` would make the server a proxy into the
operator's own network (server-side request forgery, RFC 9700 §4.16 / OWASP SSRF). So:

- at registration (:func:`check_target`), a URL whose host is a literal IP address in a
  non-public range, or a loopback name (``localhost``, ``*.localhost``), is refused;
- at fetch time (:func:`request`), the host name is resolved and the request is refused if ANY
  of its addresses is in a non-public range: a name may have been pointed at an internal
  address after registration, or may answer differently each time (DNS rebinding);
- the connection then goes to the very address that was checked. The request is made with
  httpcore (httpx's transport layer) through a network backend pinned to that address: the
  TCP connection ignores the name and connects to the vetted IP, while the URL, hence the
  ``Host`` header and the TLS SNI / certificate check, still use the registered name. There is
  no second lookup between check and connect for an attacker to win. Redirects are never
  followed and no proxy from the environment is used, for the same reason.

Non-public means every address that is not globally routable (:attr:`ipaddress.IPv4Address.is_global`
is false: loopback, RFC 1918, link-local, RFC 6598 shared 100.64/10, 0.0.0.0/8, reserved,
documentation ranges, RFC 4193 ULA fc00::/7 ...) and multicast, and IPv6 forms embedding such an
IPv4 address (``::ffff:10.0.0.5``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``).

The operator may let listed networks through with ``IDP_OUTBOUND_ALLOW_NETWORKS`` (CIDR list,
empty by default): a relying party deployed inside the operator's network, or loopback for the
demo and the tests. Bodies are read up to a size limit within an overall deadline.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpcore
import httpx
from flask import current_app

from idp.resilience.bulkhead import HostBulkhead, Saturated

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(ValueError):
    """The URL points where this server must not send requests; the message says why."""


class OutboundError(Exception):
    """The request could not be made or its answer could not be read. ``reason`` is short and
    free of secrets: ``timeout``, ``refused``, ``too large`` or an exception name."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


def allowed_networks() -> tuple[Network, ...]:
    """``IDP_OUTBOUND_ALLOW_NETWORKS``: the operator's exceptions to the rule."""
    return tuple(current_app.config["IDP"].outbound_allow_networks)


def _embedded(address: Address) -> list[Address]:
    """The address, and any IPv4 address an IPv6 form carries (mapped, 6to4, NAT64)."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: Address) -> bool:
    """Globally routable unicast, also for any IPv4 address embedded in an IPv6 one."""
    return all(a.is_global and not a.is_multicast for a in _embedded(address))


def address_allowed(address: Address, networks: Iterable[Network]) -> bool:
    networks = tuple(networks)
    if any(a in n for a in _embedded(address) for n in networks if a.version == n.version):
        return True
    return is_public(address)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _loopback_name(host: str) -> bool:
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")  # RFC 6761 §6.3


def check_target(url: str, field: str = "URL") -> None:
    """Registration-time check of a URL the server will fetch; raises :class:`OutboundRefused`.
    Names other than loopback ones are not resolved here (they are at every fetch)."""
    host = urlsplit(url).hostname or ""
    networks = allowed_networks()
    literal = _literal(host)
    if literal is not None:
        if not address_allowed(literal, networks):
            raise OutboundRefused(f"{field} {url!r} points to a non-public address ({literal}); "
                                  "this server does not send requests into private networks")
        return
    if _loopback_name(host) and not all(
            address_allowed(ipaddress.ip_address(a), networks) for a in ("127.0.0.1", "::1")):
        raise OutboundRefused(f"{field} {url!r} points to this server's own host (loopback)")


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (a literal address is itself)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundError("unresolvable") from exc
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the vetted addresses (in resolver order, the next one if a connection is
    refused, as :func:`socket.create_connection` does) whatever host name httpcore asks for;
    TLS (started on the stream with the URL's host as SNI) and the Host header are unaffected."""

    def __init__(self, addresses: list[Address]) -> None:
        self._addresses = [str(a) for a in addresses]
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        error: Exception | None = None
        for address in self._addresses:
            try:
                return self._backend.connect_tcp(address, port, timeout=timeout,
                                                 local_address=local_address,
                                                 socket_options=socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError("no address")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover
        raise httpcore.ConnectError("unix sockets are not used for outbound requests")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - no retries are configured
        self._backend.sleep(seconds)


def vetted_addresses(url: str) -> list[Address]:
    """Resolve the URL's host and return the addresses to connect to; refuses (OutboundRefused)
    if any address is non-public and not allowed by the operator."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise OutboundRefused(f"{url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(parts.hostname, port)
    networks = allowed_networks()
    if not addresses:
        raise OutboundError("unresolvable")
    refused = [a for a in addresses if not address_allowed(a, networks)]
    if refused:
        raise OutboundRefused(f"{parts.hostname} resolves to a non-public address")
    return addresses


def tls_context():
    """Certificates are verified against the system's CA bundle as httpx does (certifi), for the
    URL's host name, not the address connected to."""
    return httpx.create_ssl_context()


_CALLS = HostBulkhead("outbound")


def request(method: str, url: str, *, timeout: float, max_bytes: int,
            headers: dict[str, str] | None = None, form: dict[str, str] | None = None,
            json_body: dict | None = None) -> Response:
    """Send one request to a client-registered URL and read at most ``max_bytes`` of the answer
    within ``timeout`` seconds overall. Raises :class:`OutboundRefused` for a forbidden target
    and :class:`OutboundError` for any failure; never follows redirects."""
    addresses = vetted_addresses(url)
    deadline = time.monotonic() + timeout
    send = dict(headers or {})
    content = None
    if form is not None:
        content = urlencode(form).encode()
        send["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        content = json.dumps(json_body).encode()
        send["Content-Type"] = "application/json"
    send.setdefault("User-Agent", "idp")
    limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    try:
        # A hanging host holds at most a few of the node's threads (idp.resilience.bulkhead).
        with _CALLS.call(urlsplit(url).netloc), \
                httpcore.ConnectionPool(ssl_context=tls_context(), max_connections=1,
                                        network_backend=_PinnedBackend(addresses)) as pool, \
                pool.stream(method, url, headers=list(send.items()), content=content,
                            extensions={"timeout": limits}) as response:
            body = bytearray()
            for chunk in response.iter_stream():
                body += chunk
                if len(body) > max_bytes:
                    raise OutboundError("too large")
                if time.monotonic() > deadline:
                    raise OutboundError("timeout")
            return Response(status=response.status, body=bytes(body))
    except Saturated as exc:
        raise OutboundError("busy") from exc
    except httpcore.TimeoutException as exc:
        raise OutboundError("timeout") from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
        raise OutboundError(type(exc).__name__) from exc


__all__ = ["OutboundError", "OutboundRefused", "Response", "address_allowed", "check_target",
           "is_public", "request", "vetted_addresses"]
