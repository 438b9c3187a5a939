"""Digital signatures: certificate path validation, CMS/JWS verification, certificate sign-in
challenges and signed documents, with no views of its own; the HTTP API for
agencies that uses it is :mod:`idp.api.signatures`.

- :mod:`.validation` — RFC 5280 path validation (pyhanko-certvalidator), reasons for refusal;
- :mod:`.revocation` — CRLs and OCSP responses gathered for it;
- :mod:`.cms` — RFC 5652 SignedData verification; :mod:`.jws` — RFC 7515 compact JWS with x5c;
- :mod:`.identity` — the citizen's identifier and key storage read from a certificate;
- :mod:`.challenge` — one-time sign-in challenges and the check of a signed response;
- :mod:`.documents` — a signed document checked as a whole (``POST /api/signatures/verify``);
- :mod:`.demo_pki` — the fictional demo PKI (``scripts/demo_pki.py``); the sandbox's copy of it
  (``./scripts/run``) is :mod:`idp.accounts.demo_certificate`.
"""
