"""Alembic environment: runs on the connection alprd.sinks.schema passes in (or a URL offline)."""
from __future__ import annotations

from alembic import context

from alprd.sinks.schema import VERSION_TABLE, metadata

config = context.config


def _configure(**kw) -> None:
    context.configure(target_metadata=metadata, version_table=VERSION_TABLE, compare_type=True, **kw)


if context.is_offline_mode():  # `--sql`: emit a script instead of running it
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        connection = engine.connect()
    # batch mode lets later revisions ALTER tables on SQLite (copy-and-move under the hood)
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
