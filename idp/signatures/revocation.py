"""Revocation data for signature certificates: CRLs (RFC 5280 §5) and OCSP (RFC 6960).

CRLs come from ``IDP_SIGNATURE_CRL_SOURCES``: folders, files, http(s) URLs and, with the word
``distribution-points``, the URLs each certificate names in its CRL distribution points
(RFC 5280 §4.2.1.13). A fetched CRL is kept in process until its nextUpdate; a CRL that cannot
be had is simply missing, and the path validator's policy (hard-fail / soft-fail) decides what
that means. OCSP is asked only when ``IDP_SIGNATURE_OCSP`` is on and the certificate names a
responder in its Authority Information Access (RFC 5280 §4.2.2.1).

This module only gathers data; it never decides. Every CRL and OCSP response is checked
(signature, issuer, freshness) by pyhanko-certvalidator during path validation.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from idp.resilience.bulkhead import HostBulkhead, Saturated

log = logging.getLogger(__name__)

DISTRIBUTION_POINTS = "distribution-points"
#: Seconds one CRL or OCSP fetch may take in all (connect, wait, read).
FETCH_TIMEOUT = 5.0
MAX_CRL_BYTES = 20 * 1024 * 1024
MAX_OCSP_BYTES = 64 * 1024
#: How long to wait before trying a URL again after it failed (avoids hammering a dead host).
RETRY_AFTER = timedelta(seconds=30)
_CRL_SUFFIXES = (".crl", ".pem", ".der")
_FETCHES = HostBulkhead("revocation")


@dataclass
class _Cached:
    data: bytes | None
    until: datetime


_lock = threading.Lock()
_url_cache: dict[str, _Cached] = {}
_file_cache: dict[str, tuple[float, bytes | None]] = {}


def clear_caches() -> None:
    """Forget every cached CRL and OCSP response (tests; an operator's reload)."""
    with _lock:
        _url_cache.clear()
        _file_cache.clear()


def _now() -> datetime:
    return datetime.now(UTC)


def _to_der_crl(data: bytes) -> bytes | None:
    """A CRL in DER (or PEM, turned into DER); None when it is not a CRL."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data).public_bytes(serialization.Encoding.DER)
        x509.load_der_x509_crl(data)
        return data
    except ValueError:
        return None


def _next_update(der: bytes) -> datetime | None:
    try:
        return x509.load_der_x509_crl(der).next_update_utc
    except ValueError:
        return None


def _fetch(url: str, *, body: bytes | None = None, content_type: str | None = None,
           limit: int) -> bytes | None:
    if not url.startswith(("http://", "https://")):
        return None
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")  # noqa: S310
    if content_type:
        request.add_header("Content-Type", content_type)
    deadline = time.monotonic() + FETCH_TIMEOUT
    try:
        # At most a few threads per host wait on a slow CRL or OCSP server (idp.resilience.bulkhead).
        with _FETCHES.call(urlsplit(url).netloc), \
                urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            data = bytearray()
            while len(data) <= limit:
                chunk = response.read(min(65536, limit + 1 - len(data)))
                if not chunk:
                    break
                data += chunk
                if time.monotonic() > deadline:  # a server trickling bytes: the same bound
                    raise TimeoutError("revocation data fetch took too long")
            data = bytes(data)
    except Saturated:
        return None
    except (OSError, ValueError) as exc:
        log.warning("revocation data unavailable from %s: %s", url, exc)
        return None
    if len(data) > limit:
        log.warning("revocation data from %s is larger than %d bytes: ignored", url, limit)
        return None
    return data


def _crl_from_url(url: str) -> bytes | None:
    now = _now()
    with _lock:
        cached = _url_cache.get(url)
        if cached is not None and cached.until > now:
            return cached.data
    der = _fetch(url, limit=MAX_CRL_BYTES)
    der = _to_der_crl(der) if der is not None else None
    next_update = _next_update(der) if der is not None else None
    # Cached until nextUpdate (RFC 5280 §5.1.2.5); a failure is remembered briefly only.
    until = next_update if next_update and next_update > now else now + RETRY_AFTER
    with _lock:
        _url_cache[url] = _Cached(der, until)
    return der


def _crl_from_file(path: Path) -> bytes | None:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    key = str(path)
    with _lock:
        cached = _file_cache.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        der = _to_der_crl(path.read_bytes())
    except OSError:
        der = None
    with _lock:
        _file_cache[key] = (mtime, der)
    return der


def distribution_point_urls(certificate: x509.Certificate) -> list[str]:
    try:
        points = certificate.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(
                    ("http://", "https://")):
                urls.append(name.value)
    return urls


def ocsp_urls(certificate: x509.Certificate) -> list[str]:
    try:
        access = certificate.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except x509.ExtensionNotFound:
        return []
    return [a.access_location.value for a in access
            if a.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(a.access_location, x509.UniformResourceIdentifier)
            and a.access_location.value.startswith(("http://", "https://"))]


def gather_crls(sources: tuple[str, ...], certificates: list[x509.Certificate]) -> list[bytes]:
    """Every CRL (DER) the configured sources have for these certificates' issuers."""
    crls: list[bytes] = []
    for source in sources:
        if source == DISTRIBUTION_POINTS:
            for certificate in certificates:
                for url in distribution_point_urls(certificate):
                    crls.append(_crl_from_url(url))
        elif source.startswith(("http://", "https://")):
            crls.append(_crl_from_url(source))
        else:
            path = Path(source)
            if path.is_dir():
                crls.extend(_crl_from_file(p) for p in sorted(path.iterdir())
                            if p.suffix.lower() in _CRL_SUFFIXES and p.is_file())
            else:
                crls.append(_crl_from_file(path))
    unique: dict[bytes, None] = {}
    for der in crls:
        if der is not None:
            unique.setdefault(der, None)
    return list(unique)


def ocsp_response(certificate: x509.Certificate, issuer: x509.Certificate) -> bytes | None:
    """The responder's answer (DER) about ``certificate``, from cache until its nextUpdate."""
    urls = ocsp_urls(certificate)
    if not urls:
        return None
    cache_key = f"ocsp:{urls[0]}:{issuer.fingerprint(hashes.SHA256()).hex()}:{certificate.serial_number}"
    now = _now()
    with _lock:
        cached = _url_cache.get(cache_key)
        if cached is not None and cached.until > now:
            return cached.data
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256()).build()
    data = _fetch(urls[0], body=request.public_bytes(serialization.Encoding.DER),
                  content_type="application/ocsp-request", limit=MAX_OCSP_BYTES)
    until = now + RETRY_AFTER
    if data is not None:
        try:
            parsed = ocsp.load_der_ocsp_response(data)
            if (parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
                    and parsed.next_update_utc and parsed.next_update_utc > now):
                until = parsed.next_update_utc
        except ValueError:
            data = None
    with _lock:
        _url_cache[cache_key] = _Cached(data, until)
    return data
