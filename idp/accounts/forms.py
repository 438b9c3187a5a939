"""Forms of registration and of the account pages (Flask-WTF: each carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, EmailField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from idp.auth.password import MAX_LENGTH
from idp.citizens.contacts import MAX_EMAIL_LENGTH
from idp.web.forms import BaseForm

_NEW_PASSWORD = {"autocomplete": "new-password"}


class RegistrationForm(BaseForm):
    identifier = StringField(
        _l("Personal identification number"),
        validators=[DataRequired(_l("Enter your personal identification number.")),
                    Length(max=40, message=_l("The number has the wrong number of digits."))],
        render_kw={"autocomplete": "username", "inputmode": "numeric", "spellcheck": "false"},
    )
    full_name = StringField(
        _l("Full name"),
        validators=[DataRequired(_l("Enter your full name as on your identity card.")),
                    Length(max=200, message=_l("The name is too long."))],
        render_kw={"autocomplete": "name"},
    )
    birthdate = DateField(
        _l("Date of birth"),
        validators=[DataRequired(_l("Enter your date of birth."))],
        render_kw={"autocomplete": "bday"},
    )
    email = EmailField(
        _l("Email"), validators=[Optional(), Length(max=MAX_EMAIL_LENGTH)],
        render_kw={"autocomplete": "email"},
    )
    phone = TelField(
        _l("Mobile phone"), validators=[Optional(), Length(max=32)],
        render_kw={"autocomplete": "tel"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Choose a password.")), Length(max=MAX_LENGTH)],
        render_kw=_NEW_PASSWORD,
    )
    password_confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(_l("Type the password again.")),
                    EqualTo("password", _l("The two passwords are not the same."))],
        render_kw=_NEW_PASSWORD,
    )


class ContactsForm(BaseForm):
    email = EmailField(_l("Email"), validators=[Optional(), Length(max=MAX_EMAIL_LENGTH)],
                       render_kw={"autocomplete": "email"})
    phone = TelField(_l("Mobile phone"), validators=[Optional(), Length(max=32)],
                     render_kw={"autocomplete": "tel"})


class PasswordSetForm(BaseForm):
    """A new password, typed twice (recovery by certificate; the base of the other forms that
    set one)."""

    password = PasswordField(
        _l("New password"), validators=[DataRequired(_l("Choose a password.")), Length(max=MAX_LENGTH)],
        render_kw=_NEW_PASSWORD,
    )
    password_confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(_l("Type the password again.")),
                    EqualTo("password", _l("The two passwords are not the same."))],
        render_kw=_NEW_PASSWORD,
    )


class RecoveryRequestForm(BaseForm):
    identifier = StringField(
        _l("Personal identification number"),
        validators=[DataRequired(_l("Enter your personal identification number.")),
                    Length(max=40, message=_l("The number has the wrong number of digits."))],
        render_kw={"autocomplete": "username", "inputmode": "numeric", "spellcheck": "false"},
    )
    contact = StringField(
        _l("Your verified email or mobile phone"),
        validators=[DataRequired(_l("Enter the email address or phone number verified on your account.")),
                    Length(max=MAX_EMAIL_LENGTH)],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


class VerifyContactForm(BaseForm):
    """A 6-digit code received by email or SMS."""

    code = StringField(
        _l("Code"), validators=[DataRequired(_l("Enter the code from the message.")), Length(max=12)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"},
    )


class RecoveryCodeForm(VerifyContactForm, PasswordSetForm):
    """The recovery code received and the new password."""


class NoticesForm(BaseForm):
    new_device = BooleanField(_l("Tell me when my account is signed in from a new device"))


class PasswordChangeForm(PasswordSetForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(_l("Enter your current password.")),
                                            Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
