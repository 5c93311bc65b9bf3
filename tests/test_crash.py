"""`klub run` killed with SIGKILL in the middle of a broadcast, measured from outside.

The real process runs against the fake Bot API server with 200 private reminders due; 100 private
questions arrive in the middle of the broadcast. It is killed (kill -9) while a reminder is in flight
(the 60th or later, once Telegram considers every question received), then restarted (one instance)
or left to the other instance (two, on PostgreSQL). Every recipient gets the reminder exactly once,
every question is answered exactly once, and at most one row — the one in flight at the kill — is
uncertain and never sent again (its recipient may have got it, or not: the call may not have left).
Small heartbeat/poll settings keep this to seconds; the only waits are on the subprocesses, the fake
server and the database they write, each bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from sqlalchemy import func, select

from bot.bootstrap import bootstrap
from bot.config import load_config
from bot.storage import db as storage
from bot.storage.tables import InboxRow, OutboxRow, Person, Registration, Session

from .conftest import PG_URL, ROOT
from .fake_telegram import TOKEN, Call, FakeTelegram

RECIPIENTS = 200
QUESTIONS = 100
QUESTIONS_AT = 30  # reminders sent when the questions arrive
KILL_AT = 60  # reminders sent when the process is killed
REMINDER_CHATS = {str(10_000 + i) for i in range(RECIPIENTS)}
QUESTION_CHATS = {str(20_000 + i) for i in range(QUESTIONS)}
WAIT = 60.0  # bound on every wait for the real processes


def write_config(tmp_path: Path, database_url: str, api: str) -> Path:
    people = [
        {"id": f"presta-{i}", "name": f"Presta {i}", "office": "ot-crash", "identities": [f"telegram:{10_000 + i}"]}
        for i in range(RECIPIENTS)
    ]
    raw: dict[str, Any] = {
        "language": "fr",
        "database": {"url": database_url},
        "offices": [
            {
                "id": "ot-crash",
                "name": "OT Crash",
                "reminders": {"group": [], "private": ["2h"], "low_attendance": None, "grace": "6h"},
            }
        ],
        "people": people,
        "faq": {"bases": [str(ROOT / "faq")]},
        "adapters": {"console": {"enabled": False}, "telegram": {"enabled": True, "api_base_url": api}},
        "delivery": {"heartbeat": 0.2, "dead_after": 1.0, "poll": 0.2, "lease": 30, "batch": 10},
    }
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def seed(config_path: Path, database_url: str) -> None:
    """A session starting in 2 hours (its 2-hour private reminder is due now), everyone registered."""
    config = load_config(config_path, env={})
    app = bootstrap(config, database_url=database_url, platforms=("telegram",), migrate=False)
    now = datetime.now(UTC)
    with app.sessions.begin() as db:
        session = Session(
            office_id="ot-crash",
            title="Klub numérique",
            starts_at=now + timedelta(hours=2) - timedelta(minutes=1),
            created_at=now,
            updated_at=now,
        )
        db.add(session)
        db.flush()
        for person in db.scalars(select(Person).where(Person.office_id == "ot-crash")):
            db.add(
                Registration(session_id=session.id, person_id=person.id, status="yes", created_at=now, updated_at=now)
            )
    app.close()


class Klub:
    """One `klub run` subprocess."""

    started: ClassVar[list[Klub]] = []  # killed at the end of each test, whatever happened

    def __init__(self, config_path: Path, instance: str) -> None:
        self.config_path = config_path
        self.instance = instance
        self.proc: asyncio.subprocess.Process | None = None
        Klub.started.append(self)

    secrets: ClassVar[dict[str, str]] = {"TELEGRAM_BOT_TOKEN": TOKEN}  # the platform's token, for the fake

    async def start(self) -> None:
        env = {**os.environ, **self.secrets, "KLUB_INSTANCE": self.instance}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(self.config_path),
            "run",
            "--log-level",
            "WARNING",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    async def terminate(self) -> tuple[int, str]:
        """SIGTERM: a clean stop, within the bound."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.proc.communicate(), WAIT)
        return int(self.proc.returncode or 0), err.decode("utf-8", "replace")

    async def reap(self) -> tuple[int, str]:
        """Wait for the process to end (killed or stopped by a trigger), within the bound."""
        assert self.proc is not None
        _, err = await asyncio.wait_for(self.proc.communicate(), WAIT)
        return int(self.proc.returncode or 0), err.decode("utf-8", "replace")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def setup(tmp_path: Path, database_url: str, fake: FakeTelegram) -> Iterator[Path]:
    config_path = write_config(tmp_path, database_url, f"{fake.url}/bot")
    seed(config_path, database_url)
    yield config_path
    # A failed test must not leave a bot running against the shared test database.
    for klub in Klub.started:
        if klub.proc is not None and klub.proc.returncode is None:
            klub.proc.kill()
    Klub.started.clear()


async def queue_questions(fake: FakeTelegram) -> None:
    for chat in sorted(QUESTION_CHATS):
        await fake.push(fake.message(int(chat), int(chat), "/aide"))


def script(fake: FakeTelegram, kill: Callable[[], None]) -> dict[str, int]:
    """Questions arrive at the 30th reminder; the process is killed while a reminder is in flight, from
    the 60th on, once Telegram has been told (getUpdates offset) that every question was received."""
    at_kill: dict[str, int] = {}
    first_question = fake.next_update_id()
    last_question = first_question + QUESTIONS - 1

    def ask() -> None:
        asyncio.get_running_loop().create_task(queue_questions(fake))

    def crash() -> None:
        got = fake.deliveries()
        at_kill["answers"] = sum(got[c] for c in QUESTION_CHATS)
        at_kill["confirmed"] = max(0, fake.confirmed - first_question + 1)  # questions Telegram thinks we have
        kill()

    def reminder(call: Call) -> bool:
        return call.chat() in REMINDER_CHATS

    def ready(call: Call) -> bool:
        sent = sum(n for chat, n in fake.deliveries().items() if chat in REMINDER_CHATS)
        return reminder(call) and sent >= KILL_AT and fake.confirmed >= last_question

    fake.when("sendMessage", ask, count=QUESTIONS_AT, predicate=reminder)
    fake.when("sendMessage", crash, predicate=ready)
    return at_kill


async def wait_everything(
    fake: FakeTelegram, database_url: str, chats: set[str] = REMINDER_CHATS | QUESTION_CHATS
) -> None:
    """Until every chat is served, but for the row in flight at a kill: it is uncertain, never repeated,
    and its call may never have left (the process died between 'sending' and the request). Woken by the
    fake's calls, and every half second to read the statuses the fake cannot see; bounded by WAIT."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        got = fake.deliveries()
        missing = {c for c in chats if got[c] < 1}
        if not missing or missing <= uncertain_chats(database_url):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"{len(missing)} jamais servis")
        with contextlib.suppress(TimeoutError):
            await fake.wait_for("sendMessage", count=len(fake.made("sendMessage")) + 1, timeout=0.5)


def uncertain_chats(database_url: str) -> set[str]:
    engine = storage.make_engine(database_url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(select(OutboxRow.chat_id).where(OutboxRow.status == "uncertain")))
    finally:
        engine.dispose()


def outbox_statuses(database_url: str) -> dict[str, int]:
    engine = storage.make_engine(database_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all())
    finally:
        engine.dispose()


def check_exactly_once(
    fake: FakeTelegram, database_url: str, chats: set[str] = REMINDER_CHATS | QUESTION_CHATS
) -> dict[str, int]:
    got = fake.deliveries()
    assert {c: n for c, n in got.items() if n != 1} == {}, "someone got a message twice"
    # Only the row in flight at the kill may have reached nobody (uncertain: never sent again).
    assert set(got) >= chats - uncertain_chats(database_url), "someone got nothing"
    statuses = outbox_statuses(database_url)
    engine = storage.make_engine(database_url)
    try:
        with engine.connect() as conn:
            unhandled = conn.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status != "done"))
            sharing = dict(
                conn.execute(
                    select(OutboxRow.claimed_by, func.count())
                    .where(OutboxRow.status == "sent")
                    .group_by(OutboxRow.claimed_by)
                ).all()
            )
    finally:
        engine.dispose()
    assert statuses.get("uncertain", 0) <= 1  # the row in flight at the kill, never sent again
    assert statuses.get("sent", 0) + statuses.get("uncertain", 0) == len(chats)
    assert set(statuses) <= {"sent", "uncertain"}
    assert unhandled == 0
    return sharing


async def test_sigkill_mid_broadcast_then_restart_delivers_everything_once(
    fake: FakeTelegram, setup: Path, database_url: str
) -> None:
    first = Klub(setup, "klub-a")
    at_kill = script(fake, first.kill)
    await first.start()
    await first.reap()
    # Questions Telegram was told we received, and not yet answered: only the inbox still has them.
    assert at_kill["confirmed"] > at_kill["answers"]

    second = Klub(setup, "klub-a")  # restarted under its name: resumes its own rows at once
    await second.start()
    await wait_everything(fake, database_url)
    code, err = await second.terminate()
    assert code == 0, err
    check_exactly_once(fake, database_url)


async def test_sigterm_mid_broadcast_finishes_the_message_in_flight_and_gives_back_the_rest(
    fake: FakeTelegram, setup: Path, database_url: str
) -> None:
    first = Klub(setup, "klub-a")
    fake.when("sendMessage", first.stop, count=40, predicate=lambda c: c.chat() in REMINDER_CHATS)
    await first.start()
    code, err = await first.reap()
    assert code == 0, err
    statuses = outbox_statuses(database_url)
    # The 40th (in flight at SIGTERM) was finished and recorded; nothing uncertain; the rest waits, unclaimed.
    assert set(statuses) == {"sent", "pending"} and statuses["sent"] == sum(fake.deliveries().values()) >= 40
    second = Klub(setup, "klub-b")  # any instance picks up what the stopped one gave back
    await second.start()
    await wait_everything(fake, database_url, REMINDER_CHATS)
    code, err = await second.terminate()
    assert code == 0, err
    check_exactly_once(fake, database_url, REMINDER_CHATS)


@pytest.mark.skipif(not PG_URL, reason="two instances share work through PostgreSQL (KLUB_TEST_DATABASE_URL)")
async def test_two_instances_on_postgresql_one_killed(fake: FakeTelegram, setup: Path, database_url: str) -> None:
    a, b = Klub(setup, "klub-a"), Klub(setup, "klub-b")
    script(fake, a.kill)
    await a.start()
    await b.start()
    await a.reap()
    # b notices a's silent heartbeat (1 s in this config) and takes over a's claims and stored updates.
    try:
        await wait_everything(fake, database_url)
    except TimeoutError:
        got = fake.deliveries()
        missing = sorted(c for c in REMINDER_CHATS | QUESTION_CHATS if got[c] < 1)
        _, err = await b.terminate()
        rows = outbox_statuses(database_url)
        pytest.fail(f"{len(missing)} never served ({missing[:5]}…), rows {rows}; b: {err[-3000:]}")
    code, err = await b.terminate()
    assert code == 0, err
    sharing = check_exactly_once(fake, database_url)
    assert sharing.get("klub-b", 0) > 0
