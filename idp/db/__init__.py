"""Database access: the SQLAlchemy handle, column types shared by every model, Alembic wiring.

Models live in the package of their concern (``idp.citizens.models``, ``idp.oidc.models``...);
:func:`import_models` imports them all so metadata is complete for Alembic and tests.
"""

from __future__ import annotations

import importlib
import sqlite3
import weakref

import flask_sqlalchemy.session
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


#: Set in a session's ``info`` while its request runs in autocommit (on PostgreSQL:
#: :func:`idp.db.autocommit.statements_commit_alone`), until its transaction ends.
AUTOCOMMIT_REQUESTED = "idp.autocommit"
_AUTOCOMMIT_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


class Session(flask_sqlalchemy.session.Session):
    """``db.session``: while its request runs in autocommit, the connection it takes (when
    a statement needs one) is an autocommit one, from the same pool. Asking for autocommit
    takes no connection: a request whose statements all run on the thread's own connection
    (:mod:`idp.db.direct`) never checks one out of the pool."""

    def get_bind(self, *args, **kwargs):
        bind = super().get_bind(*args, **kwargs)
        if self.info.get(AUTOCOMMIT_REQUESTED) and isinstance(bind, Engine):
            autocommit = _AUTOCOMMIT_ENGINES.get(bind)
            if autocommit is None:  # one per engine: the session keys its connections by it
                autocommit = _AUTOCOMMIT_ENGINES.setdefault(
                    bind, bind.execution_options(isolation_level="AUTOCOMMIT"))
            return autocommit
        return bind


@event.listens_for(Session, "after_transaction_end")
def _autocommit_ends(session: Session, transaction) -> None:
    """The request's transaction is over: the next one is a transaction again, as a
    connection handed back to the pool and taken anew would be."""
    if transaction.parent is None:
        session.info.pop(AUTOCOMMIT_REQUESTED, None)


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
migrate = Migrate()

MODEL_MODULES = (
    "idp.citizens.models",
    "idp.auth.models",
    "idp.auth.app_models",
    "idp.oidc.models",
    "idp.keys.models",
    "idp.audit.models",
    "idp.signatures.models",
    "idp.notify.models",
    "idp.orgs.models",
)


def sqlite_file(engine: Engine) -> bool:
    """SQLite on a file that connections and processes share, not an in-memory database (which
    lives in the one connection SQLAlchemy's pool keeps): what may be opened again beside the
    pool (:mod:`idp.db.direct`)."""
    url = engine.url
    return (engine.dialect.name == "sqlite" and url.database not in (None, "", ":memory:")
            and url.query.get("mode") != "memory")


def import_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite (a single host, development and small deployments): write-ahead logging, so
    readers never wait for the writer, and ``synchronous=NORMAL``, which in WAL mode still
    never corrupts the database and loses nothing on a process crash (only the last commits on
    a power cut). With the default rollback journal every commit is two fsyncs, and the
    audit chain's per-event commit made that the whole cost of a token request."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
