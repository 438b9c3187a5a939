"""Shared fixtures: every database test runs on SQLite, and again on PostgreSQL when
``IDP_TEST_DATABASE_URL`` is set (``.ci/run`` sets it). Each PostgreSQL test gets a schema of
its own, dropped afterwards, so tests (and parallel runs) never see each other's rows.
With the variable set, an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import functools
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from idp.db import db
from tests.factories import make_app
from tests.helpers import Clock

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "")
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])


#: Where a test marked ``one_database`` (every browser test is) runs: PostgreSQL, the production
#: path, when it is configured. Such tests are about a process, a browser or a client library;
#: what differs between the databases is checked by the tests that run on both.
ONE_DATABASE = DATABASES[-1]


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc) -> None:
    # As a parametrize mark, which takes precedence over the fixture's own params.
    marked = metafunc.definition.get_closest_marker
    if "database_url" in metafunc.fixturenames and (marked("one_database") or marked("browser")):
        metafunc.definition.add_marker(pytest.mark.parametrize("database_url", [ONE_DATABASE], indirect=True))


def _pg_url() -> str:
    return PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)


@functools.cache
def _admin() -> sa.Engine:
    """This test process's connection for creating and dropping schemas (a new PostgreSQL
    backend per test would cost more than the statements)."""
    return sa.create_engine(_pg_url(), isolation_level="AUTOCOMMIT", pool_pre_ping=True)


#: The catalogs every PostgreSQL test adds rows to (its tables, columns, indexes, constraints,
#: triggers) and removes them from when its schema is dropped.
_CHURNED_CATALOGS = ("pg_class", "pg_attribute", "pg_attrdef", "pg_depend", "pg_type", "pg_index",
                     "pg_constraint", "pg_trigger", "pg_sequence", "pg_statistic")


def _compact_catalogs() -> None:
    """Give back the space of the catalog rows that dropped test schemas left behind.

    A run of the suite creates and drops about a thousand schemas: a million dead rows in the
    catalogs, which every later CREATE (and a new connection's first queries) wades through
    where autovacuum is off, as on this project's CI machine; run after run the test database
    grew to gigabytes and its DDL slowed by a quarter. Rewriting the catalogs takes a second.
    Runs in the controlling process only, before the tests and after them.
    """
    names = ", ".join(f"pg_catalog.{name}" for name in _CHURNED_CATALOGS)
    try:
        with _admin().connect() as connection:
            connection.exec_driver_sql(f"VACUUM FULL {names}")
    except sa.exc.DBAPIError as exc:  # not a superuser, say: the run goes on, only slower
        warnings.warn(f"could not compact the test database's catalogs: {exc.orig}", stacklevel=1)


def pytest_sessionstart(session) -> None:
    if PG_URL and not hasattr(session.config, "workerinput"):  # not in an xdist worker
        _compact_catalogs()


pytest_sessionfinish = pytest_sessionstart


@pytest.fixture(scope="session", autouse=True)
def _services_reachable() -> None:
    """A configured service that is down is a failure, never a silent skip."""
    if PG_URL:
        engine = sa.create_engine(_pg_url())
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            pytest.exit(f"IDP_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {exc}", 3)
        finally:
            engine.dispose()
    if REDIS_URL:
        import redis

        try:
            redis.Redis.from_url(REDIS_URL).ping()
        except redis.RedisError as exc:
            pytest.exit(f"IDP_TEST_REDIS_URL is set but Redis is unreachable: {exc}", 3)


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'idp.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _admin().connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{_pg_url()}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with _admin().connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def environ(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The IDP_* settings a test server runs with (tests never read the real environment).

    Argon2 runs with cheap parameters (production defaults stay strong). The PostgreSQL
    variant of a test also uses Redis when ``IDP_TEST_REDIS_URL`` is set, under a key prefix
    of its own; the SQLite variant keeps limits in process, so both stores are exercised.
    """
    values = {
        "IDP_ISSUER": "http://127.0.0.1:8000",
        "IDP_DATABASE_URL": database_url,
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_SECRET_KEY": "test-secret-key-" + "x" * 32,
        "IDP_ARGON2_TIME_COST": "1",
        "IDP_ARGON2_MEMORY_COST": "64",
        "IDP_ARGON2_PARALLELISM": "1",
        # Apps a test builds itself never send logout tokens behind its back (a thread polling
        # a database the test is about to drop); real server processes do (tests.helpers.idp_env).
        "IDP_BACKCHANNEL_WORKER": "false",
        "IDP_OUTBOX_WORKER": "false",
        # The relying parties tests run (back-channel logout receivers, jwks_uri and
        # sector_identifier_uri servers, the sample apps) listen on loopback, which idp.outbound
        # refuses by default; tests of that refusal remove this.
        "IDP_OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8 ::1/128",
    }
    if REDIS_URL and database_url.startswith("postgresql"):
        values["IDP_REDIS_URL"] = REDIS_URL
        values["IDP_REDIS_PREFIX"] = f"t_{uuid.uuid4().hex[:12]}:"
    return values


@pytest.fixture
def app(environ: dict[str, str]):
    """The app on an empty database with the schema created from the models."""
    application = make_app(environ)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def clock() -> Iterator[Clock]:
    """The server's clock (idp.clock), moved forward by a test instead of sleeping; back to the
    system clock afterwards."""
    from idp import clock as server_clock

    try:
        yield Clock()
    finally:
        server_clock.reset()


@pytest.fixture
def client(app):
    return app.test_client()

# OpenID Connect fixtures (citizen, relying parties, sign-in) live in their own module.
pytest_plugins = ["tests.oidc_support", "tests.notify_support"]
