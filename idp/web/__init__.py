"""What every page shares: layout, language, CSRF protection, security headers, error pages.

- Language (Flask-Babel): ``ui_locales`` on the request (OIDC Core §3.1.2.1), then the
  ``idp_lang`` cookie set by the switcher, then Accept-Language, then the first of
  ``IDP_LANGUAGES`` (Vietnamese by default).
- CSRF (Flask-WTF) on every form; protocol endpoints that clients POST to (token, introspection,
  revocation...) are exempted by their blueprints, since they authenticate the client instead.
- Security headers: a CSP with no inline script, ``frame-ancestors 'none'``, no-store on pages
  that carry authentication state; :func:`no_store` for answers that carry tokens or secrets
  (the public documents' cached answers are :mod:`idp.public_documents`).
"""

from __future__ import annotations

from flask import (
    Flask,
    current_app,
    g,
    has_request_context,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from idp.db import db
from idp.resilience.database_outage import is_database_outage, unavailable_response
from idp.web.safe_next import safe_next

csrf = CSRFProtect()
babel = Babel()

LANG_COOKIE = "idp_lang"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
       "form-action 'self' https: http://127.0.0.1:* http://localhost:*; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")


def languages() -> tuple[str, ...]:
    return current_app.config["IDP"].languages


def select_locale() -> str:
    """OIDC ``ui_locales`` first (space-separated, in order of preference), then the switcher's
    cookie, then the browser's Accept-Language. Outside a request (the ``idp`` command), English,
    the language of the command's own output."""
    if not has_request_context():
        return "en"
    supported = languages()
    if "idp_locale" in g:
        return g.idp_locale
    for tag in request.values.get("ui_locales", "").split():
        base = tag.split("-")[0].lower()
        if base in supported:
            return base
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in supported:
        return cookie
    return request.accept_languages.best_match(supported) or supported[0]


def no_store(response):
    """RFC 6749 §5.1 / pages with authentication state: never cached anywhere."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


#: On every response, the pages' and the JSON answers' (those of :mod:`idp.fastpath` too).
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))


def _security_headers(response):
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.path.startswith("/api/")


def _http_error(exc: HTTPException):
    """Readable pages for browsers, JSON for API callers; never a stack trace."""
    if wants_json():
        body = {"error": exc.name.lower().replace(" ", "_"), "error_description": exc.description}
        return make_response(jsonify(body), exc.code)
    return render_template("error.html", code=exc.code, title=exc.name,
                           message=exc.description), exc.code


def _csrf_error(exc: CSRFError):
    return render_template("error.html", code=400, title="Bad Request",
                           message=exc.description), 400


def _unexpected_error(exc: Exception):
    if is_database_outage(exc):  # 503 with Retry-After, not a 500 (idp.resilience.database_outage)
        return unavailable_response(exc)
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    if wants_json():
        return jsonify(error="server_error", error_description="internal error"), 500
    return render_template("error.html", code=500, title="Internal Server Error",
                           message="Something went wrong on our side."), 500


def set_language(code: str):
    """The language switcher: remember the choice in a cookie and go back where we were."""
    response = redirect(safe_next(request.args.get("next")) or "/")
    if code in languages():
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="Lax",
                            secure=current_app.config["IDP"].secure_cookies, httponly=True)
    return response


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories="translations")
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # bound to the session, not a clock
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.add_url_rule("/lang/<code>", "set_language", set_language)

    @app.context_processor
    def _layout():
        return {"languages": languages(), "get_locale": get_locale}
