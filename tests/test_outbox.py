"""The durable outbox and inbox in one process: rows with the transaction, claims, takeover, recovery."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from alembic import command as alembic_command
from sqlalchemy import event, select

from adapters.outbox_pump import DeliveryUncertain, OutboxPump
from adapters.reconnect import Backoff
from bot import instances, tokens
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config
from bot.inbox import Inbox
from bot.messages import Button, ChatRef, GateReply, Incoming, JoinLink, MemberAction, OutMessage, Reply, UserRef
from bot.outbox import Outbox, decode, encode, new_row
from bot.storage import db as storage
from bot.storage.tables import InboxRow, OutboxRow

from .conftest import paris

DEAD_AFTER = timedelta(seconds=20)


def message(n: int, platform: str = "telegram") -> OutMessage:
    return OutMessage(ChatRef(platform, str(1000 + n), private=True), Reply(f"Message {n}"))


def statuses(app: App) -> dict[int, str]:
    with app.sessions() as db:
        return {row.id: row.status for row in db.scalars(select(OutboxRow))}


def two(config: Config, clock: ManualClock, database_url: str) -> tuple[App, App]:
    a = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="a", platforms=["telegram"])
    b = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="b", platforms=["telegram"])
    return a, b


def test_a_row_exists_exactly_when_its_transaction_commits(app: App) -> None:
    with app.sessions() as db:
        with app.outbox.transaction(db):
            app.outbox.put(message(1))
        db.rollback()  # the change that caused it did not happen: nobody is told
    with app.sessions() as db, app.outbox.transaction(db):
        app.outbox.put(message(2))
        db.commit()
    assert [m.reply.text for m in app.outbox.drain("telegram")] == ["Message 2"]


def test_gate_replies_and_buttons_survive_the_row() -> None:
    reply = GateReply(
        "Bienvenue <b>Marie</b>",
        buttons=((Button("Oui", "/oui 1"), Button("Non", "/non 1")),),
        join_links=(JoinLink("telegram", "-100", "Rejoindre"),),
        invite_code="ABC123",
        invite_link_label="Lien :",
    )
    out = OutMessage(ChatRef("telegram", "42", private=True), reply, meta={"kind": "gate"})
    row = new_row(out, paris("2026-11-20 09:00"))
    row.id = 7
    assert decode(row) == OutMessage(out.chat, reply, ledger_id=7, meta={"kind": "gate"})
    assert encode(out) == row.payload


def test_instances_share_the_rows_without_overlap(config: Config, clock: ManualClock, database_url: str) -> None:
    a, b = two(config, clock, database_url)
    for n in range(10):
        a.outbox.put(message(n))
    first = a.outbox.claim("telegram", 4)
    second = b.outbox.claim("telegram", 4)
    rest = a.outbox.claim("telegram", 4)
    ids = [m.ledger_id for m in first + second + rest]
    assert len(ids) == len(set(ids)) == 10
    assert b.outbox.claim("telegram", 4) == []
    a.close()
    b.close()


def test_a_dead_instances_claims_are_taken_over_and_its_send_in_flight_is_never_repeated(
    config: Config, clock: ManualClock, database_url: str
) -> None:
    a, b = two(config, clock, database_url)
    for n in range(3):
        a.outbox.put(message(n))
    instances.beat(a.sessions, "a", ["telegram"], clock.now())
    instances.beat(b.sessions, "b", ["telegram"], clock.now())
    held = a.outbox.claim("telegram")
    assert a.outbox.mark_sending(held[0])  # then a dies, mid-call
    clock.advance(timedelta(seconds=10))
    instances.beat(b.sessions, "b", ["telegram"], clock.now())
    assert not instances.reap(b.sessions, "b", clock.now(), DEAD_AFTER)  # a is only late, not dead
    assert b.outbox.claim("telegram") == []
    clock.advance(timedelta(seconds=15))
    instances.beat(b.sessions, "b", ["telegram"], clock.now())
    found = instances.reap(b.sessions, "b", clock.now(), DEAD_AFTER)
    assert (found.uncertain, found.released) == (1, 2)
    taken = b.outbox.claim("telegram")
    assert sorted(m.ledger_id or 0 for m in taken) == sorted(m.ledger_id or 0 for m in held[1:])
    for m in taken:
        assert b.outbox.mark_sending(m)
        b.outbox.ack(m)
    assert not a.outbox.mark_sending(held[1])  # a's old claim is no longer a's: it would not send
    assert sorted(statuses(b).values()) == ["sent", "sent", "uncertain"]
    a.close()
    b.close()


def test_a_restarted_instance_resumes_its_own_rows_at_once(
    config: Config, clock: ManualClock, database_url: str
) -> None:
    a = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="a")
    for n in range(3):
        a.outbox.put(message(n))
    held = a.outbox.claim("telegram")
    a.outbox.mark_sending(held[0])
    a.close()
    again = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="a")
    found = instances.recover(again.sessions, "a", clock.now())  # no wait for a lease or a heartbeat
    assert (found.uncertain, found.released) == (1, 2)
    assert [m.reply.text for m in again.outbox.claim("telegram")] == ["Message 1", "Message 2"]
    again.close()


def test_a_reminder_past_its_grace_is_dropped_when_recovery_reaches_it(app: App, clock: ManualClock) -> None:
    now = clock.now()
    with app.sessions.begin() as db:
        db.add(new_row(message(1), now, expires_at=now + timedelta(hours=6)))
        db.add(new_row(message(2), now, expires_at=now + timedelta(minutes=30)))
    clock.advance(timedelta(hours=1))
    assert [m.reply.text for m in app.outbox.claim("telegram")] == ["Message 1"]
    assert sorted(statuses(app).values()) == ["claimed", "dropped"]


def test_a_stored_update_is_handled_once(app: App) -> None:
    assert app.inbox.store("console", "u1", "{}")
    assert not app.inbox.store("console", "u1", "{}")  # sent again by the platform: not a second time
    incoming = Incoming(
        ChatRef("console", "gite-du-moulin", private=True), UserRef("console", "gite-du-moulin"), "/aide"
    )
    first = app.core.handle_stored(incoming, inbox_key="u1")
    assert first and all(m.ledger_id is not None for m in first)  # the replies are rows, claimed by us
    assert app.core.handle_stored(incoming, inbox_key="u1") == []
    assert app.inbox.unhandled() == 0


def test_stored_updates_of_a_crashed_instance_are_taken_again(
    config: Config, clock: ManualClock, database_url: str
) -> None:
    a, b = two(config, clock, database_url)
    a.inbox.store("telegram", "7", '{"n": 7}')
    a.inbox.store("telegram", "8", '{"n": 8}')
    a.inbox.finish("telegram", "7")
    assert b.inbox.take("telegram") == []  # a holds them while it lives
    instances.beat(a.sessions, "a", ["telegram"], clock.now())
    clock.advance(DEAD_AFTER + timedelta(seconds=1))
    assert instances.reap(b.sessions, "b", clock.now(), DEAD_AFTER).inbox == 1
    assert b.inbox.take("telegram") == [("8", '{"n": 8}')]
    a.close()
    b.close()


async def test_the_pump_commits_once_per_message_and_never_has_two_rows_sending(app: App) -> None:
    for n in range(7):
        app.outbox.put(message(n))
    at_call: list[dict[int, str]] = []
    told: list[tuple[str, str]] = []

    async def send(out: OutMessage) -> None:
        at_call.append(statuses(app))
        if out.reply.text == "Message 3":
            raise DeliveryUncertain("délai de lecture dépassé")

    async def execute(action: MemberAction) -> None:
        raise AssertionError(action)

    def on_sent(out: OutMessage) -> None:
        told.append((out.reply.text, statuses(app)[out.ledger_id or 0]))  # told once it is committed

    app.outbox.on_sent(on_sent)
    app.outbox.on_failed(lambda out, how: told.append((out.reply.text, statuses(app)[out.ledger_id or 0])))
    commits: list[int] = []
    event.listen(app.engine, "commit", lambda conn: commits.append(1))
    pump = OutboxPump(app, "telegram", send, execute)
    pump.batch = 3
    assert await pump.flush() == (6, 1)
    ids = sorted(statuses(app))
    for i, seen in enumerate(at_call):
        # At each call: the rows before it recorded, this one alone 'sending', the rest not started.
        done = ["uncertain" if k == 3 else "sent" for k in range(i)]
        assert [seen[x] for x in ids[:i]] == done
        assert seen[ids[i]] == "sending"
        assert set(seen[x] for x in ids[i + 1 :]) <= {"claimed", "pending"}
    assert sorted(statuses(app).values()) == ["sent"] * 6 + ["uncertain"]
    assert told == [(f"Message {n}", "uncertain" if n == 3 else "sent") for n in range(7)]
    # One commit per message (its 'sending' carries the previous outcome) and one per claim (3, 3, 1, none).
    assert len(commits) == 7 + 4


# -- answer tokens (bot.tokens): removed once final, handled or expired; the rest of the row kept --------


def answer(n: int, token: str) -> OutMessage:
    return OutMessage(ChatRef("discord", str(1000 + n), private=True), Reply(f"Réponse {n}"), meta={"token": token})


def payloads(app: App) -> dict[str, str]:
    """Each row's payload, by 'outbox:<id>' and 'inbox:<key>'."""
    with app.sessions() as db:
        out = {f"outbox:{r.id}": r.payload for r in db.scalars(select(OutboxRow))}
        return out | {f"inbox:{r.key}": r.payload for r in db.scalars(select(InboxRow))}


def test_an_answer_loses_its_token_with_its_outcome_and_keeps_the_rest(app: App) -> None:
    for n, token in enumerate(("t-sent", "t-failed", "t-uncertain", "t-waiting")):
        app.outbox.put(answer(n, token))
    sent, failed, uncertain, waiting = app.outbox.claim("discord")
    app.outbox.ack(sent)
    app.outbox.fail(failed, "failed")
    app.outbox.fail(uncertain, "uncertain")
    held = payloads(app)
    assert [t for t in ("t-sent", "t-failed", "t-uncertain", "t-waiting") if t in str(held)] == ["t-waiting"]
    with app.sessions() as db:
        row = db.get(OutboxRow, sent.ledger_id)
        assert row is not None and row.status == "sent"
        assert decode(row) == OutMessage(sent.chat, sent.reply, ledger_id=sent.ledger_id, meta={})
    assert app.outbox.mark_sending(waiting)  # still usable: claimed, not final
    assert waiting.meta["token"] == "t-waiting"


def test_a_row_found_sending_after_a_crash_loses_its_token(
    config: Config, clock: ManualClock, database_url: str
) -> None:
    a = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="a")
    a.outbox.put(answer(1, "t-in-flight"))
    a.outbox.put(answer(2, "t-released"))
    first, _ = a.outbox.claim("discord")
    a.outbox.mark_sending(first)  # then a dies, mid-call
    found = instances.recover(a.sessions, "a", clock.now())
    assert (found.uncertain, found.released) == (1, 1)
    held = str(payloads(a))
    assert "t-in-flight" not in held and "t-released" in held  # never sent again / still to send
    a.close()


def test_a_handled_update_loses_its_token_and_the_sweep_takes_the_expired_ones(app: App, clock: ManualClock) -> None:
    app.inbox.store("discord", "i:1", json.dumps({"kind": "interaction", "token": "t-handled", "n": 1}))
    app.inbox.store("discord", "i:2", json.dumps({"kind": "interaction", "token": "t-pending", "n": 2}))
    app.inbox.store("discord", "m:3", json.dumps({"kind": "message", "n": 3}))
    app.inbox.finish("discord", "i:1")
    assert json.loads(payloads(app)["inbox:i:1"]) == {"kind": "interaction", "n": 1}
    app.outbox.put(answer(4, "t-answer"))
    before = payloads(app)
    clock.advance(tokens.LIFETIME)  # the token may still be good: nobody touches it
    app.tick()
    assert payloads(app) == before
    clock.advance(tokens.MARGIN)  # the lifetime and its margin, not more: still kept
    app.tick()
    assert payloads(app) == before
    clock.advance(tokens.EVERY)  # the next sweep: now older than that
    app.tick()
    after = payloads(app)
    assert "t-pending" not in str(after) and "t-answer" not in str(after)
    assert json.loads(after["inbox:i:2"]) == {"kind": "interaction", "n": 2}
    assert after["inbox:m:3"] == before["inbox:m:3"]
    assert app.inbox.take("discord") == []  # ours still (claimed at store): the row is kept, pending
    assert app.inbox.unhandled("discord") == 2 and app.outbox.pending("discord") == 1


def test_rows_closed_by_an_earlier_version_lose_their_tokens_at_the_upgrade(app: App, database_url: str) -> None:
    """Rows closed while tokens stayed in them (before 0005): the upgrade takes those tokens, once, so that no
    process start has to read both tables whole; a row still open keeps its token for its answer."""
    cfg = storage.alembic_config(database_url)
    alembic_command.downgrade(cfg, "0003")
    now = app.clock.now()
    with app.sessions.begin() as db:
        old = OutMessage(ChatRef("discord", "1", private=True), Reply("Déjà envoyée"), meta={"token": "t-old-sent"})
        db.add(new_row(old, now, status="sent", sent_at=now))
        db.add(new_row(answer(2, "t-open"), now))
        for key, status, token in (("i:9", "done", "t-old-done"), ("i:10", "pending", "t-waiting")):
            payload = json.dumps({"token": token, "kind": "interaction", "text": 'un "token": piégé'})
            db.add(InboxRow(platform="discord", key=key, payload=payload, status=status, received_at=now))
    assert storage.upgrade(database_url) == "upgraded"
    held = payloads(app)
    assert "t-old-sent" not in str(held) and "t-old-done" not in str(held)
    assert "t-open" in str(held) and "t-waiting" in str(held)
    assert json.loads(held["inbox:i:9"]) == {"kind": "interaction", "text": 'un "token": piégé'}
    assert "Déjà envoyée" in str(held)


def test_the_sweep_reads_open_rows_through_an_index_not_the_whole_tables(tmp_path: Path) -> None:
    """The sweep runs every minute on tables that keep every row ever handled: its filter must be served by
    the indexes on (state, age). SQLite's plan says so (PostgreSQL chooses by table size)."""
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    storage.upgrade(url)
    engine = storage.make_engine(url)
    captured: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _keep(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().startswith("SELECT") and "payload LIKE" in statement:
            captured.append(statement)

    sessions = storage.session_factory(engine)
    clock = ManualClock(paris("2026-11-20 09:00"))
    inbox, outbox = Inbox(sessions, clock, "a"), Outbox(sessions, clock, "a")
    before = clock.now()
    assert inbox.scrub_tokens(before) == 0 and outbox.scrub_tokens(before) == 0
    assert len(captured) == 2
    with engine.connect() as conn:
        for statement, index in zip(captured, ("ix_inbox_status_received", "ix_outbox_status_created"), strict=True):
            # Any parameter value will do: the plan depends on the shape of the query.
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, tuple(["x"] * statement.count("?"))
            ).all()
            assert any(index in str(row) for row in plan), plan
    engine.dispose()


class _Down(Exception):
    """The platform cannot be reached (what an adapter's `unreachable` recognises)."""


async def test_rows_wait_pending_while_the_platform_cannot_be_reached_then_go_once(app: App) -> None:
    for n in range(5):
        app.outbox.put(message(n))
    down = True
    calls: list[str] = []

    async def send(out: OutMessage) -> None:
        calls.append(out.reply.text)
        if down:
            raise _Down

    async def execute(action: MemberAction) -> None:
        raise AssertionError("no member action here")

    told: list[str] = []
    app.outbox.on_failed(lambda out, how: told.append(how))
    pump = OutboxPump(app, "telegram", send, execute, unreachable=lambda e: "coupé" if isinstance(e, _Down) else None)
    pump.batch = 3
    pump.backoff = Backoff(0.01, 0.02)
    assert await pump.flush() == (0, 0)
    assert calls == ["Message 0"]  # the first failure stops the batch: the others are not tried
    assert set(statuses(app).values()) == {"pending"} and told == [] and pump.waiting

    down = False
    pump.start()  # waits out its backoff, then tries again by itself

    async def all_sent() -> None:
        while set(statuses(app).values()) != {"sent"}:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(all_sent(), 10)
    await pump.stop()
    assert calls == ["Message 0"] + [f"Message {n}" for n in range(5)] and told == []
    assert not pump.waiting


async def test_a_suspended_pump_sends_nothing_until_resumed(app: App) -> None:
    app.outbox.put(message(1))
    sent: list[str] = []

    async def send(out: OutMessage) -> None:
        sent.append(out.reply.text)

    async def execute(action: MemberAction) -> None:
        raise AssertionError("no member action here")

    pump = OutboxPump(app, "telegram", send, execute)
    pump.suspend()  # a token the platform refuses: the rows wait for a good one
    pump.start()
    for _ in range(20):  # woken again and again (new rows, polls): it never claims
        pump.wake()
        await asyncio.sleep(0)
    assert sent == [] and set(statuses(app).values()) == {"pending"} and pump.waiting
    pump.resume()

    async def delivered() -> None:
        while sent != ["Message 1"]:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(delivered(), 10)
    await pump.stop()


async def test_an_answer_waiting_for_an_unreachable_platform_keeps_its_token(app: App) -> None:
    # « later » is not an outcome: the answer will still go through the interaction's webhook once the
    # platform is back within the token's 15 minutes, so its token must stay.
    app.outbox.put(answer(1, "t-waiting"))

    async def send(out: OutMessage) -> None:
        raise _Down

    async def execute(action: MemberAction) -> None:
        raise AssertionError("no member action here")

    pump = OutboxPump(app, "discord", send, execute, unreachable=lambda e: "coupé" if isinstance(e, _Down) else None)
    assert await pump.flush() == (0, 0)
    assert set(statuses(app).values()) == {"pending"}
    assert "t-waiting" in str(payloads(app))
