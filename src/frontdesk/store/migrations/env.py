"""Alembic environment: run migrations for the URL `frontdesk.store.migrate` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from frontdesk.store.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("frontdesk.store.migrate sets sqlalchemy.url")
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
