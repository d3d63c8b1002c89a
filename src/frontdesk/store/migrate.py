"""Schema migrations (Alembic), run by `frontdesk migrate` and at start-up of `make run`."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config

from .db import sync_url


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("frontdesk.store").joinpath("migrations"))
    )
    # Alembic's config is an .ini parser: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
