"""Configuration from IDP_* variables: defaults, validation, and a start that fails clearly."""

from __future__ import annotations

import re
import stat
import subprocess
import types
from pathlib import Path

import httpx
import pytest

from idp import config, create_app
from idp.config import SETTINGS, ConfigError, load_settings, secret_key
from tests.helpers import IDP, free_port, idp_env, run_idp, wait_for

CONFIGURATION_REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_defaults_give_a_loopback_issuer_and_an_sqlite_file_under_instance(tmp_path):
    settings = load_settings({"IDP_INSTANCE_DIR": str(tmp_path / "instance")})
    assert settings.issuer == "http://127.0.0.1:8000"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'idp.sqlite3'}"
    assert settings.redis_url is None
    assert settings.languages == ("vi", "en")
    assert settings.secure_cookies is False


@pytest.mark.parametrize(("variable", "value"), [
    ("IDP_ISSUER", "not a url"),
    ("IDP_ISSUER", "http://id.example.gov"),  # http only on loopback
    ("IDP_ISSUER", "https://id.example.gov/?tenant=1"),  # RFC 8414 §2: no query
    ("IDP_DATABASE_URL", "mysql://root@localhost/idp"),
    ("IDP_REDIS_URL", "http://127.0.0.1:6379"),
    ("IDP_ACCESS_TOKEN_TTL", "ten"),
    ("IDP_ACCESS_TOKEN_TTL", "-5"),
    ("IDP_LANGUAGES", "fr"),
    ("IDP_SIGNING_ALG", "none"),
    ("IDP_SECURE_COOKIES", "maybe"),
])
def test_an_invalid_value_is_refused_naming_the_variable(variable, value):
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_postgresql_url_is_given_the_psycopg3_driver():
    settings = load_settings({"IDP_DATABASE_URL": "postgresql://postgres@127.0.0.1/test"})
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1/test"


def test_secret_key_is_generated_once_into_the_instance_folder_private(tmp_path):
    settings = load_settings({"IDP_INSTANCE_DIR": str(tmp_path)})
    first = secret_key(settings)
    assert secret_key(settings) == first
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 48


def test_a_short_secret_key_is_refused():
    with pytest.raises(ConfigError, match="IDP_SECRET_KEY"):
        secret_key(load_settings({"IDP_SECRET_KEY": "short"}))


def test_an_unreachable_database_stops_create_app_naming_the_variable(tmp_path):
    environ = {"IDP_INSTANCE_DIR": str(tmp_path),
               "IDP_DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"}
    with pytest.raises(ConfigError) as caught:
        create_app(environ)
    assert caught.value.variable == "IDP_DATABASE_URL"


def test_configuration_reference_documents_every_setting_with_its_default():
    text = CONFIGURATION_REFERENCE.read_text(encoding="utf-8")
    for setting in SETTINGS:
        row = re.search(rf"^\| `{setting.name}` \|(.+)$", text, re.MULTILINE)
        assert row, f"{setting.name} is missing from docs/configuration.md"
        if setting.default:
            assert f"`{setting.default}`" in row.group(1), setting.name


# -- the real command, as an operator starts it ------------------------------------------------


def test_start_with_a_malformed_issuer_exits_nonzero_with_one_line(tmp_path):
    result = run_idp(["serve", "--port", str(free_port())],
                     {"IDP_ISSUER": "ftp://id", "IDP_INSTANCE_DIR": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "IDP_ISSUER" in lines[0]


def test_start_with_an_unreachable_database_exits_nonzero_with_one_line(tmp_path):
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    result = run_idp(["serve", "--port", str(free_port())],
                     {"IDP_DATABASE_URL": url, "IDP_INSTANCE_DIR": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "IDP_DATABASE_URL" in lines[0] and "cannot connect" in lines[0]


def test_idp_serve_answers_healthz_after_db_upgrade(environ):
    upgrade = run_idp(["db", "upgrade"], environ)
    assert upgrade.returncode == 0, upgrade.stderr
    port = free_port()
    server = subprocess.Popen(
        [IDP, "serve", "--port", str(port), "--workers", "1"],
        env=idp_env(environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process=server)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["checks"]["database"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_settings_are_one_frozen_typed_object_on_the_app(environ):
    """Read once at start into one frozen dataclass: every field declared with its variable,
    typed, and the values of that type; ``app.config["IDP"]`` is the same object."""
    import dataclasses
    import typing

    from idp.config import Settings, current_settings

    app = create_app(environ)
    settings = current_settings(app)
    assert settings is app.config["IDP"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.issuer = "https://elsewhere.example"  # type: ignore[misc]
    hints = typing.get_type_hints(Settings)
    assert [s.attr for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]
    for setting in SETTINGS:
        value, hint = getattr(settings, setting.attr), hints[setting.attr]
        allowed = tuple(typing.get_origin(t) or t for t in (typing.get_args(hint)
                        if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)))
        assert isinstance(value, allowed), (setting.name, value, hint)
    assert isinstance(settings.secure_cookies, bool)
    with app.app_context():
        assert current_settings() is settings


def test_one_list_of_signing_algorithms():
    from idp.algorithms import SIGNING_ALGS
    from idp.keys.service import GENERATORS, ID_TOKEN_ALGS
    from idp.oidc.clients.authentication import ALGORITHMS

    assert tuple(GENERATORS) == tuple(ALGORITHMS) == SIGNING_ALGS
    assert set(ID_TOKEN_ALGS) <= set(SIGNING_ALGS)
    for alg in SIGNING_ALGS:
        assert config.setting("IDP_ACCESS_TOKEN_ALG").parse(alg) == alg
    with pytest.raises(ValueError, match=" ".join(SIGNING_ALGS)):
        config.setting("IDP_SIGNING_ALG").parse("HS256")
