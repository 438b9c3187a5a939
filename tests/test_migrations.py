"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from idp import create_app
from idp.db import db


def _migrated_app(environ):
    app = create_app(environ)
    with app.app_context():
        upgrade()
    return app


def test_migrations_create_the_schema_the_models_describe(environ):
    app = _migrated_app(environ)
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_upgrade_twice_is_a_no_op_and_keeps_rows(environ):
    app = _migrated_app(environ)
    with app.app_context():
        db.session.execute(sa.text(
            "INSERT INTO registry_entries (scheme, identifier, full_name, birthdate, gender, "
            "imported_at) VALUES ('vn-pin', '001085000001', 'Nguyễn Văn An', '1985-01-02', "
            "'male', CURRENT_TIMESTAMP)"))
        db.session.commit()
        upgrade()
        count = db.session.execute(sa.text("SELECT count(*) FROM registry_entries")).scalar()
        current = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    assert count == 1
    assert current == script.get_current_head()
