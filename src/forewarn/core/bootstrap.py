"""Bring the platform up from settings: database URL (embedded or external), migrations, keys."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from forewarn.core.db import Database, sqlalchemy_url
from forewarn.core.jobs import Runtime
from forewarn.core.keys import load_keys
from forewarn.core.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def database_url(settings: Settings) -> str:
    """The external database when ``FOREWARN_DATABASE_URL`` is set, else the embedded server's."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from forewarn.core import embedded

    return embedded.start(settings.data_dir, settings.database_name)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["sqlalchemy_url"] = sqlalchemy_url(url)
    return cfg


def migrate(url: str) -> None:
    """Apply every migration up to head (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def open_runtime(settings: Settings, *, apply_migrations: bool = True) -> Runtime:
    url = database_url(settings)
    if apply_migrations:
        migrate(url)
    keys = load_keys(
        settings.data_dir,
        signing_b64=settings.signing_key.get_secret_value() if settings.signing_key else None,
        data_b64=settings.data_key.get_secret_value() if settings.data_key else None,
    )
    return Runtime(settings=settings, db=Database(url), keys=keys)
