"""The certificate sign-in pages (blueprint ``certificate_signin``): ``/login/certificate``.

GET shows a fresh one-time challenge (:func:`idp.signatures.challenge.issue_challenge`: random,
valid two minutes, bound to this browser by a random value kept in the signed Flask session)
and the signer command that signs it. POST takes the signer's output (detached CMS as base64
or PEM, or a compact JWS), has :mod:`idp.auth.certificates` decide, and either completes the
sign-in or shows the page again with the reason and a new challenge. Refusals are 400 (the
signed response itself is unusable), 403 (the certificate or the account is refused) or 429
(throttled), never a server error. A pasted signature can be relayed by a phishing page, so
that sign-in reaches ``acr`` ``substantial`` at most (:mod:`idp.auth.assurance`).

The origin-bound flow (``acr`` ``high`` possible), with the signer running on the citizen's
computer (``idp_signer.py --p12 ... --serve``, listening on :data:`SIGNER_LOCAL_URL`):

1. the page's second form posts the challenge (and ``next``) to the signer on the loopback
   address; the browser adds the ``Origin`` header of the page (Fetch §3.1), which no page can
   forge: a phishing page's form says the phishing origin;
2. the signer refuses unless that origin is the one the challenge names (this issuer), signs
   :func:`idp.signatures.challenge.origin_statement` (challenge + origin) and POSTs it itself to
   ``POST /login/certificate/direct`` (form ``challenge``, ``signature``; no cookie, no CSRF
   token: it is not a browser). The first post for a live challenge is kept; the answer is
   ``202`` with the ``continue`` URL, or ``400`` with an OAuth-style error;
3. the signer redirects the browser (303) to ``GET /login/certificate/continue``, a page with
   one "Continue" button (no JavaScript); its POST, in the browser session the challenge is
   bound to, verifies the kept statement against this server's origin, uses the challenge up
   and completes the sign-in as phishing-resistant.

A phishing page cannot relay this: the statement names the origin the citizen's browser was
on, the challenge is single use, and only the browser session it was issued to can continue.
"""

from __future__ import annotations

import secrets
import shlex
import time
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, make_response, render_template, request, session
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from idp.auth import certificates
from idp.auth.sessions import current_session
from idp.auth.signin import complete_sign_in, safe_next
from idp.auth.views import _duration
from idp.signatures import challenge as challenges
from idp.signatures import validation
from idp.signatures.cms import CONTENT_CONFLICT, CONTENT_MISSING, MALFORMED, NO_CERTIFICATE, UNSUPPORTED
from idp.web import csrf, no_store
from idp.web.forms import BaseForm

#: The browser's session remembers when its citizen last proved who they are with a signature
#: certificate in the origin-bound flow: the account page then lets a level-2 citizen set a new
#: password without the old one (account recovery by certificate).
CERTIFICATE_PROOF_KEY = "certificate_proof"

bp = Blueprint("certificate_signin", __name__)

#: The random value a challenge is bound to; lives in the signed session cookie of this browser.
BINDING_KEY = "idp_certificate_binding"
SIGNER_COMMAND = "python clients/signer/idp_signer.py --p12 {p12} --challenge {challenge}"
SERVE_COMMAND = "python clients/signer/idp_signer.py --p12 {p12} --serve"
#: Where the signer's ``--serve`` mode listens (its default port).
SIGNER_LOCAL_URL = "http://127.0.0.1:47615/sign"

#: Problems with the signed response itself (400); everything else refused is 403.
_BAD_REQUEST = frozenset({
    MALFORMED, UNSUPPORTED, NO_CERTIFICATE, CONTENT_MISSING, CONTENT_CONFLICT, validation.BAD_SIGNATURE,
    validation.INVALID_SIGNING_TIME,
    challenges.UNKNOWN_CHALLENGE, challenges.CHALLENGE_EXPIRED, challenges.CHALLENGE_REPLAYED,
    challenges.WRONG_SESSION, challenges.CHALLENGE_MISMATCH,
})


class CertificateForm(BaseForm):
    challenge = HiddenField(validators=[DataRequired(), Length(max=512)])
    signature = TextAreaField(
        _l("Signature from your signer"),
        validators=[DataRequired(_l("Paste the signature your signer printed.")),
                    Length(max=challenges.MAX_RESPONSE_BYTES,
                           message=_l("This is too long to be a signature."))],
        render_kw={"rows": 8, "spellcheck": "false", "autocomplete": "off", "autocapitalize": "none"},
    )


class ContinueForm(BaseForm):
    challenge = HiddenField(validators=[DataRequired(), Length(max=512)])


def _date(value: str | None) -> str:
    return (value or "")[:10]


def reason_message(failure) -> str:
    """What the citizen reads for a refusal: the reason, in their language."""
    code, details = failure.code, failure.details
    messages = {
        validation.EXPIRED: lambda: gettext("This certificate has expired (on %(date)s).",
                                            date=_date(details.get("expired_at"))),
        validation.NOT_YET_VALID: lambda: gettext("This certificate is not valid yet (valid from %(date)s).",
                                                  date=_date(details.get("valid_from"))),
        validation.REVOKED: lambda: gettext(
            "This certificate has been revoked by its certification authority (on %(date)s).",
            date=_date(details.get("revoked_at"))),
        validation.UNKNOWN_ISSUER: lambda: gettext(
            "This certificate was issued by an unknown certification authority that this service "
            "does not trust."),
        validation.WRONG_KEY_USAGE: lambda: gettext(
            "This certificate is not meant for signatures (wrong key usage)."),
        validation.BAD_SIGNATURE: lambda: gettext(
            "The signature does not match the challenge: it was made over other text, or it was "
            "altered on the way."),
        validation.REVOCATION_UNAVAILABLE: lambda: gettext(
            "Whether this certificate has been revoked could not be checked. Try again later."),
        validation.INVALID_CERTIFICATE: lambda: gettext("This certificate is not valid."),
        validation.INVALID_SIGNING_TIME: lambda: gettext(
            "The signing time in the signature is in the future or before this challenge was "
            "issued. Check your computer's clock and sign the new challenge below."),
        MALFORMED: lambda: gettext(
            "This is not a signature we can read. Paste everything the signer printed."),
        UNSUPPORTED: lambda: gettext("The signature uses an algorithm that is not allowed."),
        NO_CERTIFICATE: lambda: gettext("The signature does not include your certificate."),
        CONTENT_MISSING: lambda: gettext("This is not a signature we can read. Paste everything the "
                                         "signer printed."),
        CONTENT_CONFLICT: lambda: gettext("Send a detached signature of the challenge, without the "
                                          "challenge inside it."),
        challenges.UNKNOWN_CHALLENGE: lambda: gettext(
            "This challenge was not issued by this server. Sign the new challenge below."),
        challenges.CHALLENGE_EXPIRED: lambda: gettext(
            "The challenge has expired (it is valid for 2 minutes). Sign the new challenge below."),
        challenges.CHALLENGE_REPLAYED: lambda: gettext(
            "This challenge has already been used (replayed). Sign the new challenge below."),
        challenges.WRONG_SESSION: lambda: gettext(
            "This challenge was issued to another browser. Sign the new challenge below."),
        challenges.CHALLENGE_MISMATCH: lambda: gettext(
            "The signed text is not the challenge shown on this page (tampered challenge)."),
        challenges.NO_IDENTIFIER: lambda: gettext(
            "This certificate carries no personal identification number."),
        challenges.IDENTIFIER_MISMATCH: lambda: gettext(
            "This certificate belongs to another person, not to the account signed in on this "
            "browser. Sign out first to sign in as someone else."),
        certificates.NO_ACCOUNT: lambda: gettext(
            "There is no account for the identification number in this certificate. Register first."),
    }
    message = messages.get(code)
    return message() if message else gettext("This certificate cannot be used to sign in.")


def _binding() -> str:
    value = session.get(BINDING_KEY)
    if not isinstance(value, str) or len(value) < 32:
        value = secrets.token_urlsafe(32)
        session[BINDING_KEY] = value
    return value


def _page(form: CertificateForm, next_url: str | None, *, failure: str | None = None, status: int = 200,
          headers: dict | None = None):
    """The page with a new challenge (a refused one is used up: signing again needs a new one).
    Never cached: the challenge is for this browser and this moment only."""
    challenge = challenges.issue_challenge(_binding())
    form.challenge.data = challenge
    form.signature.data = ""
    command = SIGNER_COMMAND.format(p12=gettext("your-certificate.p12"), challenge=shlex.quote(challenge))
    serve = SERVE_COMMAND.format(p12=gettext("your-certificate.p12"))
    html = render_template("auth/certificate.html", form=form, challenge=challenge, command=command,
                           serve_command=serve, signer_url=SIGNER_LOCAL_URL, next_url=next_url,
                           failure=failure)
    return no_store(make_response(html, status, headers or {}))


def _throttled(attempt: certificates.CertificateAttempt):
    if attempt.outcome == certificates.DISABLED:
        return gettext("This account has been locked by an administrator. "
                       "Contact the help desk to unlock it."), 403
    if attempt.outcome == certificates.LOCKED:
        return gettext("This account is locked after too many failed sign-in attempts. "
                       "Try again in %(duration)s.", duration=_duration(attempt.wait_seconds)), 429
    return gettext("Too many failed attempts. Wait %(duration)s before trying again.",
                   duration=_duration(attempt.wait_seconds)), 429


@bp.route("/login/certificate", methods=["GET", "POST"])
def login():
    """Sign in with a signature certificate (the certificate's identifier names the account)."""
    next_url = safe_next(request.values.get("next"))
    form = CertificateForm()
    if request.method == "GET":
        return _page(form, next_url)
    if not form.validate_on_submit():
        return _page(form, next_url, status=400)

    outcome = challenges.verify_challenge_response(_binding(), form.challenge.data, form.signature.data)
    return _decide(outcome, form, next_url)


def _decide(outcome: challenges.ChallengeOutcome, form: CertificateForm, next_url: str | None):
    """Sign in (or show the page again with the reason) from a verified challenge."""
    signed_in = current_session()
    attempt = certificates.sign_in_with_certificate(outcome, signed_in.citizen_id if signed_in else None)
    if attempt.outcome == "ok":
        amr = list(attempt.amr)
        method = "certificate-hwk" if "hwk" in amr else "certificate-swk"
        if attempt.origin_bound:
            method += "-direct"
        citizen_id = attempt.citizen.id
        response = complete_sign_in(attempt.citizen, amr=amr, next_url=next_url, method=method,
                                    phishing_resistant=attempt.origin_bound)
        if attempt.origin_bound:
            # What account recovery by certificate needs: a proof that cannot have been relayed.
            session[CERTIFICATE_PROOF_KEY] = {"citizen_id": citizen_id, "at": int(time.time())}
        return response
    if attempt.outcome == "refused":
        status = 400 if attempt.failure.code in _BAD_REQUEST else 403
        return _page(form, next_url, failure=reason_message(attempt.failure), status=status)
    message, status = _throttled(attempt)
    headers = {"Retry-After": str(attempt.wait_seconds)} if status == 429 else {}
    return _page(form, next_url, failure=message, status=status, headers=headers)


def _origin() -> str:
    return challenges.origin_of(current_app.config["IDP"].issuer)


@bp.route("/login/certificate/direct", methods=["POST"])
@csrf.exempt  # the citizen's signer posts here, not a browser: no cookie, no session to forge
def direct():
    """The signer's own post of a signed origin statement (step 2 of the module docstring)."""
    challenge = request.form.get("challenge", "")
    signature = request.form.get("signature", "")
    problem = challenges.store_direct_response(challenge, signature)
    if problem is not None:
        return no_store(make_response(jsonify(error="invalid_request", error_code=problem,
                                              error_description=challenges.MESSAGES[problem]), 400))
    query = {"challenge": challenge}
    next_url = safe_next(request.form.get("next"))
    if next_url:
        query["next"] = next_url
    url = f"{current_app.config['IDP'].issuer}/login/certificate/continue?{urlencode(query)}"
    return no_store(make_response(jsonify(status="received", **{"continue": url}), 202))


@bp.route("/login/certificate/continue", methods=["GET", "POST"])
def continue_direct():
    """Finish the origin-bound flow in the browser the challenge was issued to (step 3)."""
    next_url = safe_next(request.values.get("next"))
    form = ContinueForm()
    if request.method == "GET":
        form.challenge.data = request.args.get("challenge", "")[:512]
        received = challenges.direct_response(form.challenge.data) is not None
        html = render_template("auth/certificate_continue.html", form=form, next_url=next_url,
                               received=received)
        return no_store(make_response(html, 200))
    if not form.validate_on_submit():
        return _page(CertificateForm(), next_url, status=400)
    response = challenges.direct_response(form.challenge.data)
    if response is None:
        html = render_template("auth/certificate_continue.html", form=form, next_url=next_url,
                               received=False)
        return no_store(make_response(html, 409))
    outcome = challenges.verify_challenge_response(_binding(), form.challenge.data, response,
                                                   origin=_origin())
    return _decide(outcome, CertificateForm(formdata=None), next_url)
