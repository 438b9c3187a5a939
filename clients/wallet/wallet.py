"""``wallet``: the reference citizen identity app, as a command-line program that plays the phone.

It holds a P-256 key that never leaves it, in a PKCS#8 file encrypted with the citizen's PIN
(``cryptography``'s best available encryption), and speaks idp's app protocol
(``docs/app-signin.md``): every message is a compact JWS, ES256, over a JSON object with
``aud`` (the issuer) and ``iat``. Standard library + ``cryptography`` only, so a mobile team
can read it as a specification.

Commands::

    wallet enrol URL [--name NAME]         the link of the account page's "Add the app" QR code
    wallet scan URL [--pick N] [--yes|--deny]   the link of a "Sign in with the app" QR code
    wallet pending                         CIBA requests waiting for the citizen
    wallet approve REQUEST_ID | deny REQUEST_ID

The PIN is asked on the terminal, or read from file descriptor N with ``--pin-fd N`` (tests).
The wallet's files live in ``--home`` (default ``$WALLET_HOME`` or ``~/.idp-wallet``):
``key.pem`` (the encrypted private key) and ``wallet.json`` (issuer, device id, name).
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ENROL_TYPE = "idp-app-enrol+jws"
SIGNIN_TYPE = "idp-app-signin+jws"
CIBA_TYPE = "idp-app-ciba+jws"
MIN_PIN = 6
TIMEOUT = 15


class WalletError(Exception):
    """Something the citizen must read; the program exits with status 1."""


# -- keys and messages ----------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict:
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big"))}


def sign(key: ec.EllipticCurvePrivateKey, header: dict, payload: dict) -> str:
    """RFC 7515 compact serialisation; ES256 = ECDSA P-256 SHA-256 with the signature as the
    32-byte big-endian r followed by the 32-byte s (RFC 7518 §3.4), not DER."""
    signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(payload, separators=(",", ":")).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


# -- the wallet's files -----------------------------------------------------------------------


class Wallet:
    def __init__(self, home: Path, pin_fd: int | None):
        self.home = home
        self.pin_fd = pin_fd

    @property
    def key_file(self) -> Path:
        return self.home / "key.pem"

    @property
    def state_file(self) -> Path:
        return self.home / "wallet.json"

    def state(self) -> dict:
        if not self.state_file.exists():
            raise WalletError("This wallet is not enrolled yet: run `wallet enrol URL` first.")
        return json.loads(self.state_file.read_text())

    def pin(self, *, new: bool = False) -> bytes:
        if self.pin_fd is not None:
            with os.fdopen(self.pin_fd, "r", closefd=False) as stream:
                value = stream.readline().rstrip("\r\n")
        else:
            value = getpass.getpass("New PIN: " if new else "PIN: ")
            if new and getpass.getpass("PIN again: ") != value:
                raise WalletError("The two PINs differ.")
        if new and (len(value) < MIN_PIN or not value.isdigit()):
            raise WalletError(f"The PIN must be at least {MIN_PIN} digits.")
        return value.encode()

    def create_key(self, pin: bytes) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(pin))
        descriptor = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        return key

    def key(self) -> ec.EllipticCurvePrivateKey:
        try:
            return serialization.load_pem_private_key(self.key_file.read_bytes(), password=self.pin())
        except (ValueError, TypeError):
            raise WalletError("Wrong PIN.") from None

    def signed(self, typ: str, payload: dict) -> str:
        state = self.state()
        header = {"alg": "ES256", "typ": typ, "kid": state["device_id"]}
        return sign(self.key(), header, {"aud": state["issuer"], "iat": int(time.time()), **payload})


# -- HTTP -----------------------------------------------------------------------------------------


def call(method: str, url: str, body: str | None = None) -> dict:
    data = body.encode() if body is not None else None
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/jose"
    if urlsplit(url).scheme not in ("https", "http"):
        raise WalletError("Only https (or http on a test machine) links are used.")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - checked
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - checked above
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
        except ValueError:
            answer = {}
        error, description = answer.get("error", exc.code), answer.get("error_description", "")
        raise WalletError(f"refused: {error}: {description}") from None
    except urllib.error.URLError as exc:
        raise WalletError(f"cannot reach the server: {exc.reason}") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _same_server(url: str, issuer: str, path: str) -> None:
    """The app signs only for the server it enrolled with: a QR code pointing anywhere else
    (a look-alike server) is refused before anything is signed."""
    if not url.startswith(issuer.rstrip("/") + path):
        raise WalletError(f"This QR code is not from {issuer}; the app will not use it.")


# -- commands -------------------------------------------------------------------------------------


def enrol(wallet: Wallet, url: str, name: str, hardware: bool) -> None:
    parts = urlsplit(url)
    if "/app/enrol/" not in parts.path or parts.scheme not in ("https", "http"):
        raise WalletError("This is not an enrolment link.")
    if wallet.state_file.exists():
        raise WalletError(f"This wallet is already enrolled ({wallet.state_file}); use another --home.")
    token = parts.path.rsplit("/", 1)[1]
    issuer = _origin(url) + parts.path[:parts.path.index("/app/enrol/")]
    key = wallet.create_key(wallet.pin(new=True))
    header = {"alg": "ES256", "typ": ENROL_TYPE, "jwk": public_jwk(key)}
    payload = {"aud": issuer, "iat": int(time.time()), "enrolment": token, "device_name": name,
               "hardware_backed": hardware}
    try:
        answer = call("POST", url, sign(key, header, payload))
    except WalletError:
        wallet.key_file.unlink(missing_ok=True)
        raise
    wallet.state_file.write_text(json.dumps({"issuer": answer["issuer"], "device_id": answer["device_id"],
                                             "device_name": name}))
    print(f"Enrolled as {name!r} (device {answer['device_id']}) with {answer['issuer']}.")


def _ask(prompt: str) -> str:
    print(prompt, end=" ", flush=True)
    return sys.stdin.readline().strip()


def scan(wallet: Wallet, url: str, pick: int | None, decision: str | None) -> None:
    state = wallet.state()
    _same_server(url, state["issuer"], "/app/signin/")
    request_id = urlsplit(url).path.rsplit("/", 1)[1]
    info = call("GET", url)
    print(f"Sign-in request for: {info.get('service') or state['issuer']}")
    print(f"From a browser: {info.get('browser') or 'unknown'}, network {info.get('network') or 'unknown'}")
    choices = info["choices"]
    if pick is None:
        pick = int(_ask(f"Which number does your browser show? {' / '.join(map(str, choices))}:") or 0)
    if pick not in choices:
        raise WalletError("That number is not one of the choices.")
    if decision is None:
        decision = "approve" if _ask("Sign in there? [y/N]").lower() in ("y", "yes") else "deny"
    answer = call("POST", url, wallet.signed(SIGNIN_TYPE, {"request_id": request_id, "choice": pick,
                                                           "decision": decision}))
    print("Approved: your browser is signing in." if answer["status"] == "approved" else "Refused.")


def pending(wallet: Wallet) -> None:
    state = wallet.state()
    answer = call("POST", state["issuer"] + "/app/ciba/pending", wallet.signed(CIBA_TYPE, {"action": "list"}))
    requests = answer["requests"]
    if not requests:
        print("No request is waiting.")
    for item in requests:
        who = item["service"] + (f" ({item['agency']})" if item.get("agency") else "")
        print(f"{item['request_id']}  {who}  asks you to confirm who you are")
        if item.get("binding_message"):
            print(f"    message: {item['binding_message']}  (check it matches what you are told)")
        expires = time.strftime("%H:%M:%S", time.localtime(item["expires_at"]))
        print(f"    wants: {item['scope']}; expires {expires}")


def decide(wallet: Wallet, request_id: str, action: str) -> None:
    state = wallet.state()
    answer = call("POST", f"{state['issuer']}/app/ciba/{request_id}",
                  wallet.signed(CIBA_TYPE, {"action": action, "request_id": request_id}))
    print("Confirmed." if answer["status"] == "approved" else "Refused.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wallet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path,
                        default=Path(os.environ.get("WALLET_HOME", Path.home() / ".idp-wallet")))
    parser.add_argument("--pin-fd", type=int, default=None, help="Read the PIN from this file descriptor.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("enrol", help="Enrol this wallet with an account (the QR code's link).")
    p.add_argument("url")
    p.add_argument("--name", default="Wallet", help="The name the account page shows.")
    p.add_argument("--hardware-backed", action="store_true",
                   help="Say the key is in secure hardware (the server records the claim, unverified).")
    p = commands.add_parser("scan", help="Answer a sign-in QR code (its link).")
    p.add_argument("url")
    p.add_argument("--pick", type=int, default=None, help="The number the browser shows.")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--yes", action="store_const", const="approve", dest="decision")
    group.add_argument("--deny", action="store_const", const="deny", dest="decision")
    commands.add_parser("pending", help="List CIBA requests waiting for you.")
    for name in ("approve", "deny"):
        commands.add_parser(name, help=f"{name.capitalize()} a CIBA request.").add_argument("request_id")
    args = parser.parse_args(argv)
    wallet = Wallet(args.home, args.pin_fd)
    try:
        if args.command == "enrol":
            enrol(wallet, args.url, args.name, args.hardware_backed)
        elif args.command == "scan":
            scan(wallet, args.url, args.pick, args.decision)
        elif args.command == "pending":
            pending(wallet)
        else:
            decide(wallet, args.request_id, args.command)
    except WalletError as exc:
        print(f"wallet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
