"""Database access: the SQLAlchemy handle, column types shared by every model, Alembic wiring.

Models live in the package of their concern (``idp.accounts.models``, ``idp.oidc.models``...);
:func:`import_models` imports them all so metadata is complete for Alembic and tests.
"""

from __future__ import annotations

import importlib

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
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


db = SQLAlchemy(model_class=Base)
migrate = Migrate()

MODEL_MODULES = (
    "idp.accounts.models",
    "idp.auth.models",
    "idp.oidc.models",
    "idp.keys.models",
    "idp.audit.models",
    "idp.signatures.models",
)


def import_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
