"""The citizen's signer: sign a sign-in challenge or a document with a PKCS#12 file.

It stands in for the USB-token plugin or remote-signing app a citizen normally uses, so the
certificate sign-in and the document verification service can be used and tested without
hardware. It makes what those plugins make: a detached CMS/PKCS#7 SignedData (RFC 5652) with
signed attributes contentType, messageDigest and signingTime and the certificate chain, or,
with ``--jws``, a compact JWS (RFC 7515) carrying the chain in ``x5c``.

    python clients/signer/idp_signer.py --p12 an.p12 --challenge "idp-signin ..."   # base64 CMS
    python clients/signer/idp_signer.py --p12 an.p12 --document contract.pdf --format der --out contract.p7s
    python clients/signer/idp_signer.py --p12 an.p12 --challenge "..." --jws

The PKCS#12 password is read from ``--password-file``, else ``IDP_SIGNER_PASSWORD``, else asked for.
Only ``cryptography`` and ``joserfc`` are needed.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
EC_JWS_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


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
    parser.add_argument("--jws", action="store_true", help="make a compact JWS instead of CMS")
    parser.add_argument("--attached", action="store_true", help="enveloping CMS (the document inside)")
    parser.add_argument("--hash", choices=sorted(HASHES), default="sha256")
    parser.add_argument("--pss", action="store_true", help="RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys)")
    parser.add_argument("--format", choices=("base64", "pem", "der"), default="base64",
                        help="CMS output encoding (default base64, as browser plugins return)")
    parser.add_argument("--out", help="write to this file instead of standard output")
    args = parser.parse_args(argv)

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
