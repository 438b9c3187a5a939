"""The base of every form: Flask-WTF (CSRF token) with WTForms' own messages translated.

WTForms ships no Vietnamese catalogue, so its built-in messages are routed through this
application's Flask-Babel catalogue instead; the ones a citizen can meet are listed below so
extraction puts them in ``messages.po``.
"""

from __future__ import annotations

from flask_babel import get_translations, lazy_gettext
from flask_wtf import FlaskForm
from wtforms.widgets import Input

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


#: Markup of empty inputs by everything their rendering depends on (:func:`_empty_input_key`).
_RENDERED: dict[tuple, str] = {}
#: Forms are few and fixed: a bound on the entries guards against a key that varies anyway.
_RENDERED_MAX = 1024
_PLAIN = (str, bool, int)


def _empty_input_key(field, render_kw: dict) -> tuple | None:
    """What WTForms' rendering of ``field`` as an ``<input>`` depends on, when it has no value:
    the widget (class and settings), id, name, the flags its validators set (``required``,
    ``maxlength``...) and the attributes asked for. None when the field has a value (what a
    citizen typed is never remembered) or anything that is not a plain string, number or flag
    (a lazily translated text would read differently in another language)."""
    widget = field.widget
    if not isinstance(widget, Input) or field._value() != "":
        return None
    parts = (vars(widget), vars(field.flags), render_kw, field.render_kw or {})
    if not all(type(value) in _PLAIN for part in parts for value in part.values()):
        return None
    if getattr(field, "_datalist", None) is not None:
        return None
    return (type(widget), field.id, field.name, *(tuple(sorted(part.items())) for part in parts))


class BaseForm(FlaskForm):
    class Meta:
        def get_translations(self, form):  # WTForms' signature
            return _BabelTranslations()

        def render_field(self, field, render_kw):
            """WTForms' rendering, remembered for an empty input: a page's inputs render the
            same for every citizen until one is typed into, and WTForms' attribute building
            (sorting, escaping, reading the validators' flags) was a fifth of the sign-in
            page's rendering."""
            key = _empty_input_key(field, render_kw)
            if key is None:
                return super().render_field(field, render_kw)
            html = _RENDERED.get(key)
            if html is None:
                html = super().render_field(field, render_kw)
                if len(_RENDERED) < _RENDERED_MAX:
                    _RENDERED[key] = html
            return html
