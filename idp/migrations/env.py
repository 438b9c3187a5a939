"""Alembic environment for idp, run through Flask-Migrate (``idp db upgrade``).

Logging is left as the application configured it, and SQLite gets batch mode so that later
migrations can alter columns there as on PostgreSQL.
"""

from alembic import context
from flask import current_app

from idp.db import db

config = context.config


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=db.metadata,
        compare_type=True,
        render_as_batch=True,
        user_module_prefix="idp.db.types.",
        **kwargs,
    )


def _skip_empty(context_, revision, directives) -> None:
    """`idp db migrate` writes nothing when the models did not change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []


if context.is_offline_mode():
    _configure(url=current_app.config["SQLALCHEMY_DATABASE_URI"], literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with db.engine.connect() as connection:
        _configure(connection=connection, process_revision_directives=_skip_empty)
        with context.begin_transaction():
            context.run_migrations()
