"""The citizen's signer: sign a sign-in challenge or a document with a PKCS#12 file.

It stands in for the USB-token plugin or remote-signing app a citizen normally uses, so the
certificate sign-in and the document verification service can be used and tested without
hardware. It makes what those plugins make: a detached CMS/PKCS#7 SignedData (RFC 5652) with
signed attributes contentType, messageDigest and signingTime and the certificate chain, or,
with ``--jws``, a compact JWS (RFC 7515) carrying the chain in ``x5c``.

    python clients/signer/idp_signer.py --p12 an.p12 --challenge "idp-signin ..."   # base64 CMS
    python clients/signer/idp_signer.py --p12 an.p12 --document contract.pdf --format der --out contract.p7s
    python clients/signer/idp_signer.py --p12 an.p12 --challenge "..." --jws

    python clients/signer/idp_signer.py --p12 an.p12 --serve                              # origin-bound

The PKCS#12 password is read from ``--password-file``, else ``IDP_SIGNER_PASSWORD``, else asked for.
Only ``cryptography`` and ``joserfc`` are needed.

``--serve`` is the origin-bound sign-in (what lets the server grant ``acr`` high; see
idp/auth/certificate_views.py). The signer listens on 127.0.0.1 (port 47615 unless ``--port``).
The sign-in page's "Sign with the signer on this computer" form posts its challenge there, and
the browser says which page did it in the ``Origin`` header, which a web page cannot forge. The
signer signs only when that origin is the one the challenge names (``idp-signin <issuer>
<random>``), signs the challenge *and* the origin (:data:`ORIGIN_STATEMENT`), posts the
signature itself to ``<issuer>/login/certificate/direct`` and sends the browser on to the
server's "Continue" page. A look-alike site's form says the look-alike's origin: refused, and
nothing is signed. Pasting a signature (``--challenge``) still works, but a phishing page could
relay it, so the server counts it as less.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import html
import json
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
EC_JWS_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


#: What ``--serve`` signs: the challenge and the origin the browser reported (the server builds
#: the same text, idp.signatures.challenge.origin_statement).
ORIGIN_STATEMENT = "{challenge}\norigin={origin}"
DEFAULT_PORT = 47615
MAX_FORM_BYTES = 8192


class SignerError(Exception):
    """A problem the citizen can fix (wrong password, unreadable file, unsupported key)."""


def load_p12(data: bytes, password: str | None):
    """The key, the citizen's certificate and its CA chain from a PKCS#12 file."""
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(
            data, password.encode() if password is not None else None)
    except ValueError:
        raise SignerError("cannot open the PKCS#12 file: wrong password or not a PKCS#12 file") from None
    if key is None or certificate is None:
        raise SignerError("the PKCS#12 file holds no private key with its certificate")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SignerError("only RSA and ECDSA keys are supported")
    return key, certificate, list(chain or [])


def sign_cms(data: bytes, key, certificate, chain, *, hash_name: str = "sha256", pss: bool = False,
             detached: bool = True) -> bytes:
    """DER of a CMS SignedData over ``data`` (detached unless ``detached=False``)."""
    rsa_padding = None
    if isinstance(key, rsa.RSAPrivateKey):
        digest = HASHES[hash_name]()
        rsa_padding = (padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                       if pss else padding.PKCS1v15())
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(
        certificate, key, HASHES[hash_name](), rsa_padding=rsa_padding)
    for extra in chain:
        builder = builder.add_certificate(extra)
    options = [pkcs7.PKCS7Options.Binary]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    return builder.sign(serialization.Encoding.DER, options)


def sign_jws(payload: bytes, key, certificate, chain, *, pss: bool = False) -> str:
    """A compact JWS over ``payload`` with the chain in ``x5c`` (RFC 7515 §4.1.6)."""
    from joserfc import jws
    from joserfc.jwk import ECKey, RSAKey

    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    if isinstance(key, rsa.RSAPrivateKey):
        alg, jwk = ("PS256" if pss else "RS256"), RSAKey.import_key(pem)
    else:
        alg = EC_JWS_ALGS.get(key.curve.name)
        if alg is None:
            raise SignerError(f"curve {key.curve.name} has no JWS algorithm")
        jwk = ECKey.import_key(pem)
    x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
           for c in [certificate, *chain]]
    return jws.serialize_compact({"alg": alg, "x5c": x5c}, payload, jwk, algorithms=[alg])


def origin_of(url: str) -> str:
    """RFC 6454 §6.2: scheme://host[:port] (default ports left out), lowercase host."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}"


def challenge_issuer(challenge: str) -> str | None:
    """The issuer a sign-in challenge names (``idp-signin <issuer> <random>``), or None."""
    parts = challenge.split(" ")
    if len(parts) != 3 or parts[0] != "idp-signin" or not parts[1].startswith(("https://", "http://")):
        return None
    return parts[1]


def post_direct(issuer: str, challenge: str, signature: str, next_url: str | None) -> str:
    """POST the signed statement to the issuer itself; the server's continue URL."""
    form = {"challenge": challenge, "signature": signature}
    if next_url:
        form["next"] = next_url
    request = urllib.request.Request(f"{issuer}/login/certificate/direct", method="POST",  # noqa: S310 - http(s) only
                                     data=urlencode(form).encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - the issuer's own URL
            answer = json.loads(response.read(65536))
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read(65536)).get("error_description", exc.reason)
        except ValueError:
            reason = exc.reason
        raise SignerError(f"the service refused the signature: {reason}") from None
    except (OSError, ValueError) as exc:
        raise SignerError(f"cannot reach {issuer}: {exc}") from None
    target = answer.get("continue") if isinstance(answer, dict) else None
    if not isinstance(target, str) or origin_of(target) != origin_of(issuer):
        raise SignerError("the service gave no continue address of its own")
    return target


def make_server(key, certificate, chain, *, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """The loopback signer of ``--serve`` (see the module docstring); call serve_forever()."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # the citizen's terminal shows our own messages only
            pass

        def _page(self, status: int, title: str, text: str) -> None:
            body = (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{html.escape(title)}'
                    f"</title><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></html>").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._page(404, "idp signer", "The signer is running. Use the sign-in page to sign.")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != "/sign" or not 0 < length <= MAX_FORM_BYTES:
                self._page(400, "Not signed", "This is not a sign-in request.")
                return
            form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            challenge = (form.get("challenge") or [""])[0]
            next_url = (form.get("next") or [None])[0]
            issuer = challenge_issuer(challenge)
            origin = self.headers.get("Origin", "")
            if issuer is None:
                self._page(400, "Not signed", "This is not a sign-in challenge.")
                return
            if origin != origin_of(issuer):
                print(f"idp-signer: refused: the page asking to sign is {origin or 'unknown'}, "
                      f"not {origin_of(issuer)}", file=sys.stderr)
                self._page(403, "Not signed",
                           f"The page that asked for a signature ({origin or 'unknown'}) is not the "
                           f"service the challenge names ({origin_of(issuer)}). Nothing was signed.")
                return
            statement = ORIGIN_STATEMENT.format(challenge=challenge, origin=origin).encode("utf-8")
            signature = base64.b64encode(sign_cms(statement, key, certificate, chain)).decode()
            try:
                target = post_direct(issuer, challenge, signature, next_url)
            except SignerError as exc:
                print(f"idp-signer: {exc}", file=sys.stderr)
                self._page(502, "Not signed in", str(exc))
                return
            print(f"idp-signer: signed for {origin}; continue in the browser", file=sys.stderr)
            self.send_response(303)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def _password(args) -> str | None:
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
    if "IDP_SIGNER_PASSWORD" in os.environ:
        return os.environ["IDP_SIGNER_PASSWORD"]
    return getpass.getpass("PKCS#12 password: ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sign a challenge or a document with a PKCS#12 file.")
    parser.add_argument("--p12", required=True, help="the citizen's PKCS#12 (.p12/.pfx) file")
    parser.add_argument("--password-file", help="file holding the PKCS#12 password")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--challenge", help="the sign-in challenge text shown by the server")
    what.add_argument("--document", help="the document file to sign")
    what.add_argument("--serve", action="store_true",
                      help="listen on 127.0.0.1 for the sign-in page (origin-bound sign-in)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port for --serve")
    parser.add_argument("--jws", action="store_true", help="make a compact JWS instead of CMS")
    parser.add_argument("--attached", action="store_true", help="enveloping CMS (the document inside)")
    parser.add_argument("--hash", choices=sorted(HASHES), default="sha256")
    parser.add_argument("--pss", action="store_true", help="RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys)")
    parser.add_argument("--format", choices=("base64", "pem", "der"), default="base64",
                        help="CMS output encoding (default base64, as browser plugins return)")
    parser.add_argument("--out", help="write to this file instead of standard output")
    args = parser.parse_args(argv)

    if args.serve:
        try:
            key, certificate, chain = load_p12(Path(args.p12).read_bytes(), _password(args))
            server = make_server(key, certificate, chain, port=args.port)
        except (SignerError, OSError) as exc:
            print(f"idp-signer: {exc}", file=sys.stderr)
            return 1
        print(f"idp-signer: waiting on http://127.0.0.1:{server.server_address[1]}/sign "
              "(Ctrl+C to stop)", file=sys.stderr)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return 0
    try:
        data = args.challenge.encode("utf-8") if args.challenge is not None else \
            Path(args.document).read_bytes()
        key, certificate, chain = load_p12(Path(args.p12).read_bytes(), _password(args))
        if args.jws:
            output = (sign_jws(data, key, certificate, chain, pss=args.pss) + "\n").encode()
        else:
            der = sign_cms(data, key, certificate, chain, hash_name=args.hash, pss=args.pss,
                           detached=not args.attached)
            if args.format == "der":
                output = der
            elif args.format == "pem":
                body = base64.encodebytes(der).decode()
                output = f"-----BEGIN CMS-----\n{body}-----END CMS-----\n".encode()
            else:
                output = base64.b64encode(der) + b"\n"
    except (SignerError, OSError) as exc:
        print(f"idp-signer: {exc}", file=sys.stderr)
        return 1
    if args.out:
        Path(args.out).write_bytes(output)
    else:
        sys.stdout.buffer.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
