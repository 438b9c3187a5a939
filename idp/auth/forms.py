"""Sign-in forms. Field names and ``autocomplete`` values follow the HTML autofill spec, so
password managers and assistive technology recognise them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp.auth.password import MAX_LENGTH
from idp.web.forms import BaseForm


class LoginForm(BaseForm):
    username = StringField(
        _l("Identification number, email or phone"),
        validators=[DataRequired(_l("Enter your identification number, email or phone.")),
                    Length(max=254, message=_l("This is too long to be a sign-in name."))],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")),
                    Length(max=MAX_LENGTH, message=_l("The password is too long."))],
        render_kw={"autocomplete": "current-password"},
    )
