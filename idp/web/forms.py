"""The base of every form: Flask-WTF (CSRF token) with WTForms' own messages translated.

WTForms ships no Vietnamese catalogue, so its built-in messages are routed through this
application's Flask-Babel catalogue instead; the ones a citizen can meet are listed below so
extraction puts them in ``messages.po``.
"""

from __future__ import annotations

from flask_babel import get_translations, lazy_gettext
from flask_wtf import FlaskForm

#: WTForms messages that can reach a page, marked for extraction.
WTFORMS_MESSAGES = (
    lazy_gettext("Not a valid date value."),
    lazy_gettext("This field is required."),
    lazy_gettext("Invalid Choice: could not coerce."),
)


class _BabelTranslations:
    """WTForms formats its messages itself, so the catalogue is asked without formatting."""

    def gettext(self, string: str) -> str:
        return get_translations().gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ngettext(singular, plural, n)


class BaseForm(FlaskForm):
    class Meta:
        def get_translations(self, form):  # WTForms' signature
            return _BabelTranslations()
