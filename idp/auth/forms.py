"""Sign-in forms. Field names and ``autocomplete`` values follow the HTML autofill spec, so
password managers and assistive technology recognise them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField
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


class OtpForm(BaseForm):
    """A code from the authenticator app: the autofill token ``one-time-code`` lets phones
    offer the code, ``inputmode=numeric`` brings up the digit keyboard."""

    otp = StringField(
        _l("Code from your authenticator app"),
        validators=[DataRequired(_l("Enter the 6-digit code from your authenticator app.")),
                    Length(max=12, message=_l("The code has 6 digits."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false",
                   "autocapitalize": "none"},
    )


class RecoveryCodeForm(BaseForm):
    recovery_code = StringField(
        _l("Recovery code"),
        validators=[DataRequired(_l("Enter one of your recovery codes.")),
                    Length(max=64, message=_l("This is too long to be a recovery code."))],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"},
    )


class PasskeyForm(BaseForm):
    """The browser's answer to ``navigator.credentials.get/create``, as JSON (filled by script)."""

    credential = HiddenField(validators=[DataRequired(), Length(max=16000)])
    name = StringField(_l("Name of this passkey"), validators=[Length(max=100)],
                       render_kw={"autocomplete": "off"})
