"""Shared fixtures: a database (SQLite, or PostgreSQL when KLUB_TEST_DATABASE_URL is set), a manual clock, an app.

The suite runs in parallel (pytest-xdist): each worker has its own temporary directory (so its own SQLite
files) and, on PostgreSQL, its own database `<name>_<worker>` created next to the one given, through it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import make_url, text

from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.storage import db as storage

from .helpers import empty_postgres

ROOT = Path(__file__).resolve().parent.parent
GIVEN_PG_URL = os.environ.get("KLUB_TEST_DATABASE_URL", "")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1… under xdist; empty in a plain run


def _worker_url(url: str, worker: str) -> str:
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


PG_URL = _worker_url(GIVEN_PG_URL, WORKER)  # the database this process's tests use
PARIS = ZoneInfo("Europe/Paris")


def paris(text_: str) -> datetime:
    return datetime.strptime(text_, "%Y-%m-%d %H:%M").replace(tzinfo=PARIS)


def _recreate_worker_database(drop_only: bool = False) -> None:
    """Through the given database (an admin connection outside any transaction), make this worker's
    database anew: whatever a previous, interrupted run left there is gone."""
    name = make_url(PG_URL).database
    engine = storage.make_engine(GIVEN_PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run; each test then gets a pristine copy (SQLite) or truncated tables (PostgreSQL)."""
    if PG_URL:
        # When CI asks for PostgreSQL, an unreachable server is a failure, never a skip.
        if PG_URL != GIVEN_PG_URL:
            _recreate_worker_database()
        else:
            engine = storage.make_engine(PG_URL)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        storage.upgrade(PG_URL)
        yield PG_URL
        if PG_URL != GIVEN_PG_URL:
            _recreate_worker_database(drop_only=True)
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    storage.upgrade(f"sqlite:///{path}")
    yield str(path)


@pytest.fixture
def database_url(_template: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        engine = storage.make_engine(PG_URL)
        with engine.begin() as conn:
            empty_postgres(conn)
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
