"""Shared fixtures: a database (SQLite, or PostgreSQL when KLUB_TEST_DATABASE_URL is set), a manual clock, an app."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.storage import db as storage
from bot.storage.tables import Base

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("KLUB_TEST_DATABASE_URL", "")
PARIS = ZoneInfo("Europe/Paris")


def paris(text_: str) -> datetime:
    return datetime.strptime(text_, "%Y-%m-%d %H:%M").replace(tzinfo=PARIS)


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per run; each test then gets a pristine copy (SQLite) or truncated tables (PostgreSQL)."""
    if PG_URL:
        # When CI asks for PostgreSQL, an unreachable server is a failure, never a skip.
        engine = storage.make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        storage.upgrade(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    storage.upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(_template: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        engine = storage.make_engine(PG_URL)
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        yield PG_URL
        return
    path = tmp_path / "klub.db"
    shutil.copyfile(_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def config() -> Config:
    return load_config(ROOT / "config.example.yml", env={})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(paris("2026-11-20 09:00"))


@pytest.fixture
def app(config: Config, clock: ManualClock, database_url: str) -> Iterator[App]:
    application = bootstrap(config, clock=clock, database_url=database_url, migrate=False)
    yield application
    application.close()
