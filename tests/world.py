"""A small hostile world for the security tests: two offices of one territory, every role, seeded
objects in each office (sessions, a staff-only session, public, anonymous and private questions),
and the tools to judge a reply: was it a refusal, did the database change, did anything leak.

Markers (PRIVMARK, STAFFMARK, PLATEAUMARK…) are words planted in private or other-office data: a
marker found in a text that reaches the wrong chat is a leak.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from unittest import mock

from sqlalchemy import Table, select

from adapters.render import to_plain
from bot import clubs, membership, questions
from bot import core as core_module
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config
from bot.membership import console_chat_id, link_identity
from bot.messages import ChatRef, Incoming, OutMessage, Reply, UserRef
from bot.roles import Role
from bot.storage.tables import Base, Person, Question, Session

from .helpers import empty_postgres

A = "ot-trois-vallees"
B = "ot-haut-plateau"
PRIVMARK = "PRIVMARK"  # a provider's private question (FAQ miss): never in a group, never to other providers
STAFFMARK = "STAFFMARK"  # a staff-only session: never in the providers' group
PLATEAUMARK = "PLATEAUMARK"  # office B's session and question: never in office A's chats
ANON_ASKER = "Marie Dupont"  # asks anonymously: never named in the providers' group


@dataclass(frozen=True)
class Speaker:
    slug: str
    role: Role
    office: str | None  # None: a guest


SPEAKERS = (
    Speaker("inconnu", Role.GUEST, None),
    Speaker("camping-les-pins", Role.PROVIDER, A),
    Speaker("julien-accueil", Role.STAFF, A),
    Speaker("camille-ant", Role.ANT, A),
    Speaker("coord-pays", Role.ADMIN, A),  # the territory's coordinator
    Speaker("ferme-du-plateau", Role.PROVIDER, B),
    Speaker("nadia-ant", Role.ANT, B),
)


@dataclass(frozen=True)
class Chat:
    name: str
    office: str | None  # None: private
    kind: str  # prive | equipe | prestataires

    @property
    def private(self) -> bool:
        return self.office is None


CHATS = (
    Chat("prive", None, "prive"),
    Chat("A-equipe", A, "equipe"),
    Chat("A-prestataires", A, "prestataires"),
    Chat("B-equipe", B, "equipe"),
    Chat("B-prestataires", B, "prestataires"),
)

# Keys of answers that refuse (a catalog key matching this is a « no, and nothing changed »).
REFUSAL = re.compile(
    r"^input\.|usage|bad_|unknown|forbidden|not_member|other_office|_only|in_past|too_|\.empty|blank|"
    r"not_yours|closed|already|need_|no_such|missing|is_cancelled|own_vote|merge_self|none_planned|"
    r"impossible|nonexistent|ambiguous|no_occurrence|revoke_self|revoke_higher|invite_higher|invite_needs|"
    r"nothing_pending|pending_expired|code_|rate_limited|other_account|feedback_unknown|report_no_session|"
    r"report_empty|unconfigured|started|not_registered|disabled|quotes|option|erased|bad_days|"
    r"miss_no_office|internal_error"
)
VOLATILE = {("identities", "last_seen_at"), ("identities", "display_name")}


@dataclass
class Ids:
    session: int  # office A's next Klub
    staff_session: int  # office A, audience equipe
    other_session: int  # office B
    public_q: int  # office A, asked for the Klub
    anon_q: int  # office A, anonymous
    private_q: int  # office A, a FAQ miss typed in private
    other_q: int  # office B
    faq_entry: str


class World:
    """The app plus the seeded ids; `reset()` starts again from the same state."""

    def __init__(self, config: Config, database_url: str, now: datetime) -> None:
        self.config = config
        self.url = database_url
        self.now = now
        self.app: App = self._build()
        self.ids = self._seed()
        self._copy: sqlite3.Connection | None = None
        self._rows: list[tuple[Table, list[dict[str, object]]]] = []
        if self.app.engine.dialect.name == "postgresql":
            # PostgreSQL: the seeded rows are kept and written back in one transaction.
            with self.app.engine.connect() as conn:
                self._rows = [
                    (t, [dict(r) for r in conn.execute(select(t)).mappings()]) for t in Base.metadata.sorted_tables
                ]
        if self.app.engine.dialect.name == "sqlite":
            # SQLite: the seeded state is copied once and copied back in milliseconds (backup API).
            self._copy = sqlite3.connect(":memory:")
            raw = self.app.engine.raw_connection()
            try:
                raw.driver_connection.backup(self._copy)  # type: ignore[union-attr]
            finally:
                raw.close()

    def _build(self) -> App:
        return bootstrap(self.config, clock=ManualClock(self.now), database_url=self.url, migrate=False)

    def reset(self) -> None:
        """Back to the seeded state, keeping the app (its FAQ index is costly to rebuild)."""
        self.app.outbox.drain("console")
        self.app.reminders.invalidate()
        if self._copy is not None:
            raw = self.app.engine.raw_connection()
            try:
                self._copy.backup(raw.driver_connection)  # type: ignore[arg-type]
            finally:
                raw.close()
            return
        if self._rows:
            self._restore_rows()
            return
        engine = self.app.engine
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                empty_postgres(conn)
            else:
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(table.delete())
        now = self.app.clock.now()
        with self.app.sessions.begin() as db:
            membership.sync_config(db, self.config, now)
            clubs.sync_config_series(db, self.config, now)
            clubs.ensure_sessions(db, now)
        self.app.reminders.invalidate()
        self.app.outbox.drain("console")
        self.ids = self._seed()

    def _restore_rows(self) -> None:
        # Serial ids go on from where the seeded state left them.
        last = {t.name: max(r["id"] for r in rows) for t, rows in self._rows if rows and "id" in t.c}
        with self.app.engine.begin() as conn:
            empty_postgres(conn, last)
            for table, rows in self._rows:
                if rows:
                    conn.execute(table.insert(), rows)

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
        self.app.close()

    def _seed(self) -> Ids:
        app = self.app
        now = app.clock.now()
        with app.sessions.begin() as db:
            coord = Person(
                slug="coord-pays",
                name="Claire Coordination",
                business="Pays des Trois Vallées",
                office_id=A,
                role="admin",
                active=True,
                created_at=now,
            )
            db.add(coord)
            db.flush()
            link_identity(db, coord, "console", "coord-pays", now)
            spec = clubs.SessionSpec(title=f"Réunion {STAFFMARK}", audience="equipe")
            staff = clubs.create_one_off(db, A, spec, datetime(2026, 12, 8, 9, 0, tzinfo=now.tzinfo), now)
            other = clubs.create_one_off(
                db,
                B,
                clubs.SessionSpec(title=f"Atelier {PLATEAUMARK}"),
                datetime(2026, 12, 9, 14, 0, tzinfo=now.tzinfo),
                now,
            )
            session = clubs.next_session(db, A, now)
            assert session is not None
            ids = {"staff_session": staff.id, "other_session": other.id, "session": session.id}
        say(app, "camping-les-pins", "/question Comment parler de la taxe de séjour ?")
        say(app, "gite-du-moulin", "/question anonyme Que faire d'un avis injurieux sur Tripadvisor ?")
        say(app, "ferme-du-plateau", f"/question {PLATEAUMARK} comment vendre des paniers ?", chat="B-prestataires")
        say(app, "camping-les-pins", f"/inscrire {ids['session']}")
        with app.sessions.begin() as db:
            marie = db.scalar(select(Person).where(Person.slug == "gite-du-moulin"))
            private = questions.create(
                db, A, marie, f"{PRIVMARK} recette de la tarte tatin", "faq_miss", now, chat_kind="prive"
            )
            rows = {q.text: q.id for q in db.scalars(select(Question))}
            assert db.get(Session, ids["session"]) is not None
        app.outbox.drain("console")
        entry = app.faq.base.entries[0].id
        return Ids(
            session=ids["session"],
            staff_session=ids["staff_session"],
            other_session=ids["other_session"],
            public_q=rows["Comment parler de la taxe de séjour ?"],
            anon_q=rows["Que faire d'un avis injurieux sur Tripadvisor ?"],
            private_q=private.id,
            other_q=rows[f"{PLATEAUMARK} comment vendre des paniers ?"],
            faq_entry=entry,
        )


def chat_ref(chat: str, who: str) -> ChatRef:
    for c in CHATS:
        if c.name == chat:
            if c.private:
                return ChatRef("console", who, private=True)
            return ChatRef("console", console_chat_id(c.office or "", c.kind))
    if chat == "prive":
        return ChatRef("console", who, private=True)
    raise KeyError(chat)


def say(app: App, who: str, line: str, chat: str = "prive") -> list[Reply]:
    return app.core.handle(Incoming(chat=chat_ref(chat, who), user=UserRef("console", who), text=line))


@dataclass
class Outcome:
    replies: list[Reply]
    keys: list[str]  # catalog keys the core used for its answers
    sent: list[OutMessage]  # what went to the outbox

    @property
    def refused(self) -> bool:
        return any(REFUSAL.search(k) for k in self.keys)

    @property
    def crashed(self) -> bool:
        return "core.internal_error" in self.keys

    def texts(self) -> Iterator[tuple[bool, str]]:
        """(reaches only the speaker, plain text) for every reply."""
        for r in self.replies:
            yield r.private, to_plain(r.text)


@contextmanager
def recording() -> Iterator[list[str]]:
    """Record every catalog key the core translates (ctx.t / ctx.say and the apology)."""
    keys: list[str] = []
    real = core_module.t

    def spy(lang: str, key: str, **kwargs: object) -> object:
        keys.append(key)
        return real(lang, key, **kwargs)

    with mock.patch.object(core_module, "t", spy):
        yield keys


def play(app: App, who: str, line: str, chat: str) -> Outcome:
    with recording() as keys:
        replies = say(app, who, line, chat)
    return Outcome(replies, list(keys), app.outbox.drain("console"))


_DIGEST_SQL: dict[str, list[tuple[str, str]]] = {}  # dialect -> (table, SELECT) compiled once


def _digest_queries(app: App) -> list[tuple[str, str]]:
    dialect = app.engine.dialect
    found = _DIGEST_SQL.get(dialect.name)
    if found is None:
        found = []
        for table in Base.metadata.sorted_tables:
            if table.name == "gate_attempts":
                continue  # failed codes are counted on purpose: that is the rate limit
            cols = [c for c in table.columns if (table.name, c.name) not in VOLATILE]
            pk = list(table.primary_key.columns)
            if dialect.name == "postgresql":
                # Each table as one text, all of them in a single round trip (see `digest`).
                names = ", ".join(f'"{c.name}"' for c in cols)
                order = ", ".join(f'x."{c.name}"' for c in pk)
                rows = f'(SELECT {names} FROM "{table.name}") AS x'
                found.append((table.name, f"(SELECT string_agg(x::text, '|' ORDER BY {order}) FROM {rows})"))
            else:
                found.append((table.name, str(select(*cols).order_by(*pk).compile(dialect=dialect))))
        _DIGEST_SQL[dialect.name] = found
    return found


def digest(app: App) -> str:
    """Every row of every table, hashed (volatile bookkeeping columns aside): equal digests, same state.
    The SELECTs are compiled once and read the driver's values (on PostgreSQL, the rows' text, in one
    query): this runs after every cell of the matrix and every line of the hostile corpus."""
    h = hashlib.sha256()
    queries = _digest_queries(app)
    with app.engine.connect() as conn:
        if app.engine.dialect.name == "postgresql":
            row = conn.exec_driver_sql("SELECT " + ", ".join(q for _, q in queries)).one()
            for (name, _), rows in zip(queries, row, strict=True):
                h.update(repr((name, rows)).encode("utf-8", "backslashreplace"))
            return h.hexdigest()
        for name, query in queries:
            for found in conn.exec_driver_sql(query):
                h.update(repr((name, tuple(found))).encode("utf-8", "backslashreplace"))
    return h.hexdigest()
