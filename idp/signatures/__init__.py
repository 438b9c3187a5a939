"""Digital signatures: certificate path validation, CMS/JWS verification, certificate sign-in
challenges, and the signed-document verification API for agencies.

- :mod:`.validation` — RFC 5280 path validation (pyhanko-certvalidator), reasons for refusal;
- :mod:`.revocation` — CRLs and OCSP responses gathered for it;
- :mod:`.cms` — RFC 5652 SignedData verification; :mod:`.jws` — RFC 7515 compact JWS with x5c;
- :mod:`.identity` — the citizen's identifier and key storage read from a certificate;
- :mod:`.challenge` — one-time sign-in challenges and the check of a signed response;
- :mod:`.documents` and :mod:`.api` — ``POST /api/signatures/verify``;
- :mod:`.demo_pki` — the fictional demo PKI (``scripts/demo_pki.py``); :mod:`.demo` — the
  sandbox's copy of it (``./scripts/run``).
"""

from __future__ import annotations

from flask import Flask

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    from idp.signatures import demo
    from idp.signatures.api import bp
    from idp.web import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.extensions.setdefault("idp.demo_loaders", []).append(demo.load)
