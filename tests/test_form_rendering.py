"""Form inputs rendered from memory (idp.web.forms.BaseForm.Meta.render_field): an empty input
is remembered by everything its markup depends on, so it must be exactly what WTForms renders,
for every input of every form, and nothing a citizen typed may ever be remembered."""

from __future__ import annotations

import pytest
from wtforms.widgets import Input

from idp.auth.forms import LoginForm
from idp.web import forms
from idp.web.forms import BaseForm
from tests.factories import AN, load_registry, make_citizen, sign_in


def _form_classes():
    found, todo = [], list(BaseForm.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _wtforms_markup(field, **render_kw):
    """WTForms' own rendering, without the memory (DefaultMeta.render_field's merge)."""
    return str(field.widget(field, **{**(field.render_kw or {}), **render_kw}))


def test_every_empty_input_of_every_form_renders_as_wtforms_renders_it(app):
    with app.test_request_context("/"):
        classes = _form_classes()
        assert len(classes) >= 10  # the views' modules were imported by create_app
        checked = 0
        for cls in classes:
            form = cls(meta={"csrf": False})
            for field in form:
                if not isinstance(field.widget, Input) or field._value() != "":
                    continue
                for render_kw in ({}, {"aria-describedby": f"{field.id}-hint", "aria-invalid": "false"}):
                    expected = _wtforms_markup(field, **render_kw)
                    assert str(field(**render_kw)) == expected, (cls.__name__, field.name)
                    assert str(field(**render_kw)) == expected, (cls.__name__, field.name)  # remembered
                    checked += 1
        assert checked >= 20 and forms._RENDERED


@pytest.mark.parametrize("typed", ["001085888274", "<b>an@example.vn</b>"])
def test_what_a_citizen_typed_is_rendered_from_the_form_and_never_remembered(app, typed):
    posted = {"username": typed, "password": "secret pass"}
    with app.test_request_context("/login", method="POST", data=posted):
        filled = LoginForm(meta={"csrf": False})
        assert str(filled.username()) == _wtforms_markup(filled.username)
        assert 'value="secret pass"' not in str(filled.password())  # PasswordInput hides it
    with app.test_request_context("/login"):
        empty = LoginForm(meta={"csrf": False})
        assert 'value=""' in str(empty.username())
    assert not any(typed in str(markup) for markup in forms._RENDERED.values())
    assert not any(typed in repr(key) for key in forms._RENDERED)


def test_the_sign_in_page_shows_the_typed_username_back_and_an_empty_one_afterwards(app):
    load_registry(app)
    make_citizen(app, AN)
    client = app.test_client()
    client.get("/login")
    failed = sign_in(client, username="001085000009", password="wrong password")
    assert failed.status_code == 422 and 'value="001085000009"' in failed.get_data(as_text=True)
    again = app.test_client().get("/login").get_data(as_text=True)
    assert 'name="username"' in again and "001085000009" not in again
