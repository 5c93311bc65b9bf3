"""Small helpers: talk to the core the way the console does; empty a PostgreSQL test database quickly."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection

from adapters.render import to_plain
from bot.bootstrap import App
from bot.membership import console_chat_id
from bot.messages import ChatRef, Incoming, Reply, UserRef
from bot.storage.tables import Base

OFFICE = "ot-trois-vallees"


def say(app: App, who: str, text: str, chat: str = "prive", office: str = OFFICE) -> list[Reply]:
    if chat == "prive":
        ref = ChatRef("console", who, private=True)
    else:
        ref = ChatRef("console", console_chat_id(office, chat))
    return app.core.handle(Incoming(chat=ref, user=UserRef("console", who), text=text))


def plain(replies: list[Reply]) -> str:
    return "\n".join(to_plain(r.text) for r in replies)


_SEQUENCES: dict[str, str] = {}  # table -> its id sequence (PostgreSQL), looked up once per process


def empty_postgres(conn: Connection, last_ids: Mapping[str, int] | None = None) -> None:
    """Every table emptied, children first, its id sequence set back to `last_ids[table]` (else to start
    at 1): what `TRUNCATE … RESTART IDENTITY` does, in one round trip and without its cost (TRUNCATE
    makes new files for every table, ≈ 0.1 s here, and the suite does this before every test)."""
    tables = Base.metadata.sorted_tables
    if not _SEQUENCES:
        for table in tables:
            if "id" in table.c:
                found = conn.exec_driver_sql(f"SELECT pg_get_serial_sequence('{table.name}', 'id')").scalar()
                if found:
                    _SEQUENCES[table.name] = str(found)
    ids = last_ids or {}
    script = [f"DELETE FROM {table.name}" for table in reversed(tables)]
    for name, sequence in _SEQUENCES.items():
        last = ids.get(name)
        script.append(f"SELECT setval('{sequence}', {last or 1}, {'true' if last else 'false'})")
    conn.exec_driver_sql("; ".join(script))
