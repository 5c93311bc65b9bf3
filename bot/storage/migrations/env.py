"""Alembic environment: runs migrations on the URL set by bot.storage.db.alembic_config."""

from __future__ import annotations

from alembic import context

from bot.storage.db import make_engine
from bot.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table rebuilds for ALTER
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
