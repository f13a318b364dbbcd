"""Alembic environment: forewarn's models, the naming convention, procrastinate's tables left alone."""

from __future__ import annotations

import importlib
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from forewarn.core.db import Base

#: Every module that defines ORM models (imported so autogenerate sees them).
MODEL_MODULES = [
    "forewarn.accounts.models",
    "forewarn.ledger.models",
    "forewarn.clearinghouse.advisories.models",
    "forewarn.clearinghouse.inventory.models",
    "forewarn.clearinghouse.matching.models",
    "forewarn.clearinghouse.distribution.models",
    "forewarn.clearinghouse.feed.models",
    "forewarn.earlyaccess.review.models",
    "forewarn.earlyaccess.review.assessments.models",
    "forewarn.earlyaccess.gateway.models",
    "forewarn.earlyaccess.benchmark.models",
    "forewarn.earlyaccess.partners.models",
    "forewarn.grants.models",
    "forewarn.workforce.models",
]
for _name in MODEL_MODULES:
    importlib.import_module(_name)

config = context.config
target_metadata = Base.metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # procrastinate's schema is applied by the first migration and owned by procrastinate.
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def run_migrations_online() -> None:
    url = config.attributes.get("sqlalchemy_url") or config.get_main_option("sqlalchemy.url")
    if url is None:
        from forewarn.core.bootstrap import database_url
        from forewarn.core.db import sqlalchemy_url
        from forewarn.core.settings import Settings

        url = sqlalchemy_url(database_url(Settings()))
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
