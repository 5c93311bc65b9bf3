"""Everything the core decides is an outbox row: Discord event syncs, rows for platforms another
instance serves, the apology after a crash. Core and outbox level (the Discord side: test_discord_event_rows)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot import clubs, instances
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.clubs import SessionSpec
from bot.config import Config
from bot.messages import ChatRef, EventSync, Incoming, MemberAction, UserRef
from bot.outbox import decode
from bot.storage.tables import OutboxRow, Session
from tests.conftest import ROOT, paris
from tests.helpers import plain

OFFICE = "ot-trois-vallees"
GUILD = "1180000000000000000"
EQUIPE_TG, PRESTA_TG = "-1001234567890", "-1001234567891"
EQUIPE_DC, PRESTA_DC = "1180000000000000001", "1180000000000000002"
CAMILLE_TG = "1001"
MARIE_DC = "1170000000000000009"


def both_config(**discord: object) -> Config:
    """Telegram and Discord both configured: the instances of the region share this file."""
    return Config.model_validate(both_raw(**discord))


def both_raw(**discord: object) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "config.example.yml").read_text(encoding="utf-8"))
    raw["database"] = {"url": "sqlite://"}
    for person in raw["people"]:
        if person["id"] == "camille-ant":
            person["identities"] = [f"telegram:{CAMILLE_TG}"]
        if person["id"] == "gite-du-moulin":
            person["identities"] = [f"discord:{MARIE_DC}"]  # on Discord only
    raw["adapters"]["telegram"]["enabled"] = True
    raw["adapters"]["discord"] = {"enabled": True, "guild_ids": [GUILD], **discord}
    raw["faq"]["bases"] = [str(ROOT / "faq")]
    return raw


@pytest.fixture
def tg_only(clock: ManualClock, database_url: str) -> Iterator[App]:
    """The Telegram instance (`klub run --platform telegram`) of a two-instance region."""
    app = bootstrap(both_config(), clock=clock, database_url=database_url, migrate=False, platforms=("telegram",))
    yield app
    app.close()


def camille(app: App, text: str) -> str:
    incoming = Incoming(ChatRef("telegram", EQUIPE_TG), UserRef("telegram", CAMILLE_TG, "Camille"), text)
    return plain(app.core.handle(incoming))


def rows(app: App, kind: str | None = None, platform: str | None = None) -> list[tuple[str, Any]]:
    """(status, decoded message) of each outbox row, oldest first, filtered by meta kind and platform."""
    with app.sessions() as db:
        found = db.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
    out = []
    for row in found:
        message = decode(row)
        if kind is not None and message.meta.get("kind") != kind:
            continue
        if platform is not None and row.platform != platform:
            continue
        out.append((row.status, message))
    return out


def syncs(app: App) -> list[int]:
    """The sessions whose event sync is queued (pending rows), in order."""
    return [
        sync.session_id
        for status, m in rows(app, "event_sync")
        if status == "pending" and (sync := EventSync.from_out(m)) is not None
    ]


def clear(app: App) -> None:
    with app.sessions.begin() as db:
        for row in db.scalars(select(OutboxRow)):
            row.status = "sent"


def session_id(app: App, title: str) -> int:
    with app.sessions() as db:
        found = db.scalar(select(Session.id).where(Session.title == title).order_by(Session.id.desc()))
        assert found is not None
        return found


# -- 1. event changes as rows ---------------------------------------------------------------------------


def test_the_configs_sessions_within_the_horizon_are_queued_at_bootstrap(tg_only: App) -> None:
    # The config's series, materialised at start: December and January are within 60 days, not February.
    with tg_only.sessions() as db:
        within = db.scalars(
            select(Session.id).where(Session.starts_at <= paris("2027-01-19 09:00")).order_by(Session.starts_at)
        ).all()
    assert syncs(tg_only) == list(within) and len(within) == 2
    (_status, message) = rows(tg_only, "event_sync")[0]
    assert message.chat == ChatRef("discord", GUILD)  # a Discord row, written by the Telegram instance


def test_every_change_of_a_session_writes_one_row_with_its_transaction(tg_only: App) -> None:
    clear(tg_only)
    text = camille(tg_only, '/klub titre="Atelier Instagram" date=2026-12-15 heure=14h lieu="Salle B"')
    assert "Atelier Instagram" in text
    number = session_id(tg_only, "Atelier Instagram")
    assert syncs(tg_only) == [number]
    clear(tg_only)
    camille(tg_only, f"/deplacer {number} 2026-12-16 14:00")
    assert syncs(tg_only) == [number]
    clear(tg_only)
    camille(tg_only, f"/modifier-seance {number} places=8")
    assert syncs(tg_only) == []  # the number of seats is not on the event
    camille(tg_only, f"/modifier-seance {number} lieu=Médiathèque")
    assert syncs(tg_only) == [number]
    clear(tg_only)
    camille(tg_only, f"/annuler {number} neige")
    assert syncs(tg_only) == [number]
    clear(tg_only)
    # A series: one row per occurrence within the horizon, none beyond it.
    camille(tg_only, '/klub titre="Café numérique" quand="chaque mardi" heure=10h fin=2027-03-30')
    with tg_only.sessions() as db:
        series = db.scalars(select(Session).where(Session.title == "Café numérique").order_by(Session.starts_at)).all()
    near = [s.id for s in series if s.starts_at <= paris("2027-01-19 09:00")]
    assert len(series) > len(near) > 5
    assert syncs(tg_only) == near


def test_a_refused_or_rolled_back_change_writes_nothing(tg_only: App) -> None:
    clear(tg_only)
    assert "déjà passée" in camille(tg_only, '/klub titre="X" date=2026-01-10 heure=14h')
    with tg_only.sessions() as db:
        clubs.create_one_off(db, OFFICE, SessionSpec("Brouillon"), paris("2026-12-18 10:00"), tg_only.clock.now())
        db.rollback()
    assert syncs(tg_only) == []


def test_staff_sessions_far_sessions_and_discord_off_write_no_row(
    tg_only: App, clock: ManualClock, database_url: str
) -> None:
    clear(tg_only)
    camille(tg_only, '/klub titre="Réunion équipe" date=2026-12-15 heure=9h pour=equipe')
    camille(tg_only, '/klub titre="Salon du tourisme" date=2027-03-15 heure=9h')  # beyond 60 days
    assert syncs(tg_only) == []
    # The same change made by a process of a config without Discord events: no row either.
    for config in (both_config(events=False), both_config(enabled=False)):
        app = bootstrap(config, clock=clock, database_url=database_url, migrate=False, platforms=())
        with app.sessions.begin() as db:
            clubs.create_one_off(db, OFFICE, SessionSpec(f"Essai {id(config)}"), paris("2026-12-18 10:00"), clock.now())
        app.close()
    assert syncs(tg_only) == []


def test_the_command_line_queues_the_row_too(tg_only: App, tmp_path: Any, database_url: str) -> None:
    from bot import cli

    clear(tg_only)
    raw = both_raw()
    raw["database"] = {"url": database_url}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    # The command line runs on the real clock: a date ten days from now is within the horizon.
    day = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%d")
    args = ["--config", str(path), "sessions", "create", "--office", OFFICE, "--title", "Atelier CLI"]
    assert cli.main([*args, "--date", day, "--time", "18:00"]) == 0
    assert syncs(tg_only) == [session_id(tg_only, "Atelier CLI")]


# -- 2. rows for every platform the configuration knows ------------------------------------------------


def test_the_telegram_instance_writes_the_discord_removals_and_notices(tg_only: App) -> None:
    number = session_id(tg_only, "Klub numérique")
    marie = Incoming(ChatRef("discord", MARIE_DC, private=True), UserRef("discord", MARIE_DC, "Marie"), "")
    assert "inscrit" in plain(tg_only.core.handle(Incoming(marie.chat, marie.user, f"/inscrire {number}")))
    clear(tg_only)
    # Marie's seat is released by the revocation: nobody waits, so only the removals are written.
    assert "L'accès de Marie Dupont est retiré" in camille(tg_only, "/retirer gite-du-moulin")
    removals = [MemberAction.from_out(m) for status, m in rows(tg_only, "member_action") if status == "pending"]
    assert removals == [
        MemberAction("discord", EQUIPE_DC, MARIE_DC),
        MemberAction("discord", PRESTA_DC, MARIE_DC),
    ]


def test_a_private_notice_reaches_a_person_linked_on_another_instances_platform(tg_only: App) -> None:
    number = session_id(tg_only, "Klub numérique")
    marie = Incoming(ChatRef("discord", MARIE_DC, private=True), UserRef("discord", MARIE_DC, "Marie"), "")
    tg_only.core.handle(Incoming(marie.chat, marie.user, f"/inscrire {number}"))
    clear(tg_only)
    camille(tg_only, f"/annuler {number} neige")
    dms = [m for status, m in rows(tg_only, platform="discord") if status == "pending" and m.chat.private]
    assert [m.chat for m in dms] == [ChatRef("discord", MARIE_DC, private=True)]
    assert "neige" in plain([dms[0].reply])
    groups = {m.chat.chat_id for status, m in rows(tg_only) if status == "pending" and not m.chat.private}
    assert {PRESTA_TG, PRESTA_DC} <= groups  # both providers' groups are told, Discord's too


# -- 3. the apology after a crash ----------------------------------------------------------------------


def test_the_apology_after_a_crash_is_a_row_written_with_the_inbox_row_handled(
    tg_only: App, clock: ManualClock, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(tg_only.core, "_handle", boom)
    incoming = Incoming(ChatRef("telegram", CAMILLE_TG, private=True), UserRef("telegram", CAMILLE_TG), "/aide")
    assert tg_only.inbox.store("telegram", "u9", "{}")
    clear(tg_only)
    (apology,) = tg_only.core.handle_stored(incoming, inbox_key="u9")
    assert apology.ledger_id is not None and "problème technique" in plain([apology.reply])
    assert [(s, m.chat) for s, m in rows(tg_only) if s != "sent"] == [("claimed", apology.chat)]
    assert tg_only.inbox.unhandled() == 0  # handled (with its apology): not handled again after a restart
    assert tg_only.core.handle_stored(incoming, inbox_key="u9") == []
    # The process dies before sending it: restarted under its name, it sends the apology, once.
    again = bootstrap(both_config(), clock=clock, database_url=database_url, migrate=False,
                      platforms=("telegram",), instance=tg_only.instance)  # fmt: skip
    assert instances.recover(again.sessions, again.instance, clock.now()).released == 1
    assert [m.reply for m in again.outbox.drain("telegram")] == [apology.reply]
    assert again.outbox.drain("telegram") == []
    again.close()
