"""Storage: migrations match the models, datetimes stay aware, 64-bit platform ids survive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from bot.storage import db as storage
from bot.storage.tables import Base, Identity, Person


def test_migrations_produce_exactly_the_models(database_url: str) -> None:
    engine = storage.make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_is_idempotent(database_url: str) -> None:
    assert storage.upgrade(database_url) == "upgraded"
    assert storage.current_revision(database_url) is not None


def test_datetimes_are_stored_utc_and_read_back_aware(database_url: str) -> None:
    engine = storage.make_engine(database_url)
    factory = storage.session_factory(engine)
    paris_summer = datetime(2026, 7, 1, 18, 30, tzinfo=timezone(timedelta(hours=2)))
    with factory.begin() as db:
        db.execute(select(1))
        from bot.storage.tables import Office

        db.add(Office(id="ot-x", name="X"))
        db.flush()
        db.add(Person(slug="p", name="P", office_id="ot-x", created_at=paris_summer))
    with factory() as db:
        person = db.scalars(select(Person).where(Person.slug == "p")).one()
        assert person.created_at == paris_summer
        assert person.created_at.tzinfo is not None and person.created_at.utcoffset() == timedelta(0)
    with factory.begin() as db, pytest.raises(StatementError, match="naive"):
        db.add(Person(slug="q", name="Q", office_id="ot-x", created_at=datetime(2026, 1, 1)))  # naive
        db.flush()
    engine.dispose()


def test_platform_ids_beyond_32_bits(database_url: str) -> None:
    engine = storage.make_engine(database_url)
    factory = storage.session_factory(engine)
    big = str(2**62 + 12345)
    now = datetime.now(UTC)
    with factory.begin() as db:
        from bot.storage.tables import Office

        db.add(Office(id="ot-y", name="Y"))
        db.flush()
        person = Person(slug="big", name="Big", office_id="ot-y", created_at=now)
        db.add(person)
        db.flush()
        db.add(Identity(person_id=person.id, platform="discord", platform_user_id=big, linked_at=now))
    with factory() as db:
        assert db.scalars(select(Identity.platform_user_id)).one() == big
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    engine = storage.make_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
