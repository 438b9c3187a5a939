"""The sign-in page an authorization request is answered with, rendered once per language and
filled in for each request.

Every sign-in starts with this page (:mod:`idp.oidc.views.authorize` answers a new request with
it), and rendering its two templates (a dozen translated strings, five links that each carry the
request to resume) is half of that answer's work. From one request to the next in the same
language, two things in the page differ: the id of the stored request (in the form's action and
in every link that goes on with it) and the CSRF token. Both are written in characters that
URL-encoding and HTML-escaping leave as they are (``secrets.token_urlsafe``'s alphabet; a signed
token adds ``.``). So the page rendered with a placeholder of that alphabet in the place of each,
the placeholders then replaced, is the page rendered with them, character for character.

Anything else that varies is rendered as usual: a prefilled sign-in name, an error, a flashed
message, a page whose language switcher comes back elsewhere than to :func:`login_address` of
the request alone, and every page while templates reload (debug).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import current_app, render_template, session
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf

from idp.auth.forms import LoginForm

#: A stored request's id as :mod:`idp.oidc.views.authorize` makes it (``token_urlsafe``).
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{16,128}")
_REQUEST_PLACEHOLDER = "IdpSignInPageRequestPlaceholder"
_CSRF_PLACEHOLDER = "IdpSignInPageCsrfPlaceholder"
_PAGES = "idp.sign_in_pages"
#: Pages kept per process: one per language and ``next`` prefix (one prefix today).
MAX_PAGES = 16


def login_address(next_url: str, **params: str | None) -> str:
    """``/login`` going on to ``next_url``, with ``params`` that have a value (``login_hint``,
    ``ui_locales``): where the sign-in page's language switcher comes back to."""
    return "/login?" + urlencode({"next": next_url, **{k: v for k, v in params.items() if v}})


def page(next_url: str | None, here: str | None, hint: str | None = None) -> str:
    """The sign-in page, whose form posts to ``/login?next=<next_url>``, its language switcher
    coming back to ``here`` (else to the page's own address) and ``hint`` prefilling the
    sign-in name: filled in from this process's copy where only the request's id and the CSRF
    token are its own, else rendered from the templates."""
    if not hint and next_url and here is not None:
        filled = _filled(next_url, here)
        if filled is not None:
            return filled
    return rendered(next_url, here, hint=hint)


def rendered(next_url: str | None, here: str | None, csrf_token: str | None = None, *,
             hint: str | None = None) -> str:
    """The sign-in page from its templates; ``csrf_token`` in its form instead of this
    request's (the copy is rendered with a placeholder)."""
    form = LoginForm()
    if hint:
        form.username.data = hint[:254]
    if csrf_token is not None:
        form.csrf_token.current_token = csrf_token
    return render_template("auth/login.html", form=form, next_url=next_url, here=here)


def _filled(next_url: str, here: str) -> str | None:
    """The page for ``next_url`` (a path ending in a stored request's id) from this process's
    copy for the request's language, or None when it has to be rendered."""
    prefix, _, request_id = next_url.rpartition("/")
    if (not _REQUEST_ID.fullmatch(request_id) or here != login_address(next_url)
            or "_flashes" in session or current_app.jinja_env.auto_reload):
        return None
    pages: dict[tuple[str, str], str | None] = current_app.extensions.setdefault(_PAGES, {})
    key = (str(get_locale()), prefix)
    if key in pages:
        page = pages[key]
    else:
        page = _template(prefix)
        if len(pages) < MAX_PAGES:
            pages[key] = page  # None too: a page that cannot be copied is not tried again
    if page is None:
        return None
    # generate_csrf: this request's token, the one its form posts back (kept in its session).
    return page.replace(_CSRF_PLACEHOLDER, generate_csrf()).replace(_REQUEST_PLACEHOLDER, request_id)


def _template(prefix: str) -> str | None:
    next_url = f"{prefix}/{_REQUEST_PLACEHOLDER}"
    page = rendered(next_url, login_address(next_url), _CSRF_PLACEHOLDER)
    # The token goes in one place, the id in the form's action at least; a template that
    # transformed either (truncated, say) would not show it whole: render it each time.
    if page.count(_CSRF_PLACEHOLDER) != 1 or _REQUEST_PLACEHOLDER not in page:
        return None
    return page
