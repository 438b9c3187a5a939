"""Helpers for the multi-factor tests: reading the enrolment page like a phone would (decode
the inline SVG QR code with zxing-cpp), TOTP codes at chosen times, the second-factor page."""

from __future__ import annotations

import html
import re
import time

import pyotp
import zxingcpp

from tests.factories import page_csrf

SCALE = 4


def decode_qr_svg(svg: str) -> str:
    """Rasterise qrcode's SVG path (one ``M x,y H x2 V y2 H x z`` square per dark module) into
    a grayscale bitmap and decode it with zxing-cpp, as a phone camera would."""
    view = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    squares = re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)", svg)
    assert view and squares, "no QR code path in the SVG"
    module = float(squares[0][2]) - float(squares[0][0])
    size = round(float(view.group(1)) / module)
    width = size * SCALE
    pixels = bytearray([255]) * (width * width)
    for x, y, _, _ in squares:
        col, row = round(float(x) / module), round(float(y) / module)
        for dy in range(SCALE):
            start = (row * SCALE + dy) * width + col * SCALE
            pixels[start:start + SCALE] = bytes(SCALE)
    image = memoryview(bytes(pixels)).cast("B", shape=[width, width])
    results = zxingcpp.read_barcodes(image)
    assert results, "zxing-cpp found no QR code"
    return results[0].text


def enrolment_page(client) -> tuple[str, str, str]:
    """GET the enrolment page; returns (otpauth URI decoded from the QR code, secret shown as
    text, page html)."""
    page = client.get("/account/security/totp")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    svg = re.search(r"<svg.*?</svg>", body, re.S).group(0)
    shown = re.search(r'<code id="totp-secret">([^<]+)</code>', body).group(1)
    secret = html.unescape(shown).replace(" ", "")
    return decode_qr_svg(svg), secret, body


def code_at(secret: str, offset_steps: int = 0, now: float | None = None) -> str:
    return pyotp.TOTP(secret).at((now or time.time()) + 30 * offset_steps)


def enrol_totp(client) -> tuple[str, list[str]]:
    """Enrol an authenticator app through the account pages; returns the secret and the
    recovery codes shown once."""
    uri, secret, _ = enrolment_page(client)
    token = page_csrf(client, "/account/security/totp")
    response = client.post("/account/security/totp", data={"csrf_token": token, "otp": code_at(secret)})
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", response.get_data(as_text=True))
    return secret, codes


def submit_otp(client, code: str, path: str = "/login/second-factor"):
    token = page_csrf(client, "/login/second-factor")
    return client.post(path, data={"csrf_token": token, "otp": code})


def submit_recovery(client, code: str):
    token = page_csrf(client, "/login/second-factor")
    return client.post("/login/second-factor/recovery", data={"csrf_token": token, "recovery_code": code})
