"""Engine, sessions and schema upgrades (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    # "postgresql://" would pick psycopg2, which we do not ship: use psycopg 3.
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class StorageError(Exception):
    """The database cannot be used; ``str(exc)`` is one French line naming it (password hidden)."""


def redact(url: str) -> str:
    """Database URLs may carry a password: never print it."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _sqlite_file(url: str) -> Path | None:
    """The file behind a sqlite URL, None for an in-memory database."""
    try:
        database = make_url(url).database
    except ArgumentError:
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def check_url(url: str) -> None:
    """Refuse, with one line, a URL Klub cannot open, before SQLAlchemy or Alembic get a chance to trace back."""
    shown = redact(url)
    scheme = url.partition(":")[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgresql+psycopg"):
        raise StorageError(
            f"base de données {shown} : type non pris en charge (attendu sqlite:///fichier.db ou postgresql+psycopg://…)"
        )
    try:
        make_url(url)
    except ArgumentError:
        raise StorageError(f"base de données {shown} : URL illisible (attendu sqlite:///fichier.db)") from None
    path = _sqlite_file(url) if scheme == "sqlite" else None
    if path is None:
        return
    if path.is_dir():
        raise StorageError(f"base de données {path} : c'est un dossier, attendu un fichier")
    if not path.parent.is_dir():
        raise StorageError(f"base de données {path} : le dossier {path.parent} n'existe pas")
    if path.exists():
        with path.open("rb") as file:
            head = file.read(16)
        if head and head != b"SQLite format 3\x00":
            raise StorageError(f"base de données {path} : ce fichier n'est pas une base SQLite")
        if not os.access(path, os.W_OK):
            raise StorageError(f"base de données {path} : fichier en lecture seule (Klub doit pouvoir y écrire)")
    elif not os.access(path.parent, os.W_OK):
        raise StorageError(f"base de données {path} : impossible de créer le fichier dans {path.parent} (droits)")


def describe(url: str, exc: BaseException) -> StorageError:
    """A database failure as one line: what the driver said, first line only, password hidden."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    text = reason[0] if reason else type(exc).__name__
    if "connection" in text.lower() and ("refused" in text.lower() or "failed" in text.lower()):
        text = f"serveur injoignable ({text})"
    elif "readonly" in text.lower() or "read-only" in text.lower():
        text = "base en lecture seule"
    elif "not a database" in text.lower():
        text = "ce fichier n'est pas une base SQLite"
    return StorageError(f"base de données {redact(url)} : {redact(text)}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    check_url(url)
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, and much faster per commit
            cur.close()

        return engine
    # A server that never answers must not hang the start: give up after 10 s with a clear line.
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10}, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str) -> str:
    """Create or upgrade the schema to the newest migration; returns 'created' or 'upgraded'."""
    from alembic import command

    engine = make_engine(url)
    try:
        fresh = not inspect(engine).has_table("alembic_version")
        command.upgrade(alembic_config(url), "head")
    except SQLAlchemyError as exc:
        raise describe(url, exc) from exc
    finally:
        engine.dispose()
    return "created" if fresh else "upgraded"


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise describe(url, exc) from exc
    finally:
        engine.dispose()
