"""Reminders: exactly once through the ledger — across restarts, downtime, crashes and two instances."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta

import pytest

from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config
from bot.messages import OutMessage
from bot.storage.tables import Delivery

from .conftest import paris
from .helpers import say

# Session n°1 of the demo series: Thursday 3 December 2026, 18:30 Paris (17:30 UTC).
J7 = paris("2026-11-26 18:30")
J3 = paris("2026-11-30 18:30")
J1 = paris("2026-12-02 18:30")
H2 = paris("2026-12-03 16:30")


def deliver(app: App) -> list[OutMessage]:
    """What an adapter does: take the console's messages and acknowledge each one after sending."""
    sent = app.outbox.drain("console")
    for message in sent:
        app.outbox.ack(message)
    return sent


def run_to(app: App, clock: ManualClock, when: object) -> list[OutMessage]:
    out: list[OutMessage] = []
    while (due := app.next_due(clock.now())) is not None and due <= when:  # type: ignore[operator]
        clock.set(max(due, clock.now()))
        app.tick()
        out += deliver(app)
    clock.set(when)  # type: ignore[arg-type]
    app.tick()
    return out + deliver(app)


def ledger(app: App) -> Counter[str]:
    with app.sessions() as db:
        return Counter(f"{(d.offset_key or '').split('@')[0]}:{d.recipient}:{d.status}" for d in db.query(Delivery))


def test_each_reminder_fires_once_at_its_time(app: App, clock: ManualClock) -> None:
    say(app, "gite-du-moulin", "/inscrire 1")
    say(app, "camping-les-pins", "/inscrire 1")
    deliver(app)
    sent = run_to(app, clock, paris("2026-12-03 19:00"))
    kinds = [(m.chat.chat_id, m.reply.text.split("\n")[0]) for m in sent]
    assert kinds == [
        ("ot-trois-vallees:prestataires", "⏰ Rappel : c'est dans 7 jours !"),
        (
            "ot-trois-vallees:equipe",
            "⚠️ Séance n°1 : 2 inscrit(s) pour 4 minimum. Maintenir ou annuler ? (/annuler 1 trop peu d'inscrits)",
        ),
        ("ot-trois-vallees:prestataires", "⏰ Rappel : c'est demain !"),
        ("gite-du-moulin", "⏰ Votre séance commence dans 2 heures."),
        ("camping-les-pins", "⏰ Votre séance commence dans 2 heures."),
    ]
    assert all(v == 1 for v in ledger(app).values())
    assert run_to(app, clock, paris("2026-12-04 09:00")) == []


def test_no_alert_when_enough_people_registered(app: App, clock: ManualClock) -> None:
    for who in ("gite-du-moulin", "camping-les-pins", "canoe-aventure", "auberge-de-la-source"):
        say(app, who, "/inscrire 1")
    deliver(app)
    sent = run_to(app, clock, paris("2026-12-01 09:00"))
    assert not any("minimum" in m.reply.text for m in sent)
    assert ledger(app)["alert:3d:group:5:skipped"] == 1


def test_restart_rebuilds_the_plan_and_never_repeats(
    app: App, clock: ManualClock, config: Config, database_url: str
) -> None:
    first = run_to(app, clock, J7 + timedelta(minutes=1))
    assert len(first) == 1
    app.close()
    again = bootstrap(config, clock=clock, database_url=database_url, migrate=False)
    again.tick()
    assert deliver(again) == []
    assert len(run_to(again, clock, J1 + timedelta(minutes=1))) == 2  # the J-3 alert and J-1
    again.close()


def test_missed_while_down_is_sent_late_within_grace(config: Config, clock: ManualClock, database_url: str) -> None:
    clock.set(J1 - timedelta(minutes=30))
    app = bootstrap(config, clock=clock, database_url=database_url, migrate=False)
    run_to(app, clock, clock.now())
    app.close()
    clock.set(J1 + timedelta(hours=2))  # Klub was down when J-1 was due; grace is 6 h
    back = bootstrap(config, clock=clock, database_url=database_url, migrate=False)
    back.tick()
    late = deliver(back)
    assert [m.reply.text.split("\n")[0] for m in late] == ["⏰ Rappel : c'est demain !"]
    back.tick()
    assert deliver(back) == []
    back.close()


def test_missed_beyond_grace_is_dropped_and_logged(
    config: Config, clock: ManualClock, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock.set(J7 - timedelta(days=1))
    bootstrap(config, clock=clock, database_url=database_url, migrate=False).close()  # the season exists
    clock.set(J7 + timedelta(hours=7))  # Klub was down when the J-7 reminder was due
    app = bootstrap(config, clock=clock, database_url=database_url, migrate=False)
    with caplog.at_level(logging.WARNING, logger="bot.reminders"):
        app.tick()
    sent = deliver(app)
    # Not the reminder: one notice in the team group saying what was not sent and why.
    assert [m.chat.chat_id for m in sent] == ["ot-trois-vallees:equipe"]
    assert "Rappels non envoyés pour la séance n°" in sent[0].reply.text and "J-7 dans le groupe" in sent[0].reply.text
    assert "7 h de retard (délai accepté : 6 h)" in sent[0].reply.text
    assert "rappel abandonné" in caplog.text
    assert ledger(app)["group:7d:group:6:dropped"] == 1
    # Told once: a restart does not tell the team again.
    app.close()
    again = bootstrap(config, clock=clock, database_url=database_url, migrate=False)
    again.tick()
    assert deliver(again) == []
    again.close()


def test_a_reminder_due_before_its_session_existed_is_no_failure(
    config: Config, clock: ManualClock, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A first start (or a Klub planned on short notice) after the J-7 time: nothing was missed, so
    nothing is dropped, logged or told to the team; the later reminders go out as usual."""
    clock.set(J7 + timedelta(hours=7))
    app = bootstrap(config, clock=clock, database_url=database_url, migrate=False)
    with caplog.at_level(logging.WARNING, logger="bot.reminders"):
        app.tick()
    assert deliver(app) == []
    assert "rappel abandonné" not in caplog.text
    assert ledger(app)["group:7d:group:6:skipped"] == 1
    app.tick()
    assert deliver(app) == []  # planned once, skipped once
    app.close()


def test_claim_without_acknowledgement_is_taken_over_after_the_lease(
    config: Config, clock: ManualClock, database_url: str
) -> None:
    clock.set(J7)
    crashed = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="a")
    crashed.tick()
    assert len(crashed.outbox.claim("console")) == 1  # claimed, never sent: the process died
    crashed.close()
    clock.advance(timedelta(minutes=1))
    other = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="b")
    other.tick()
    assert deliver(other) == []  # the lease still protects it
    clock.advance(timedelta(minutes=15))
    other.reminders.invalidate()
    other.tick()
    assert len(deliver(other)) == 1
    assert ledger(other)["group:7d:group:6:sent"] == 1
    other.close()


def test_moved_session_gets_fresh_reminders_and_cancelled_gets_none(app: App, clock: ManualClock) -> None:
    say(app, "camille-ant", "/deplacer 1 2026-12-10 18:30", chat="equipe")
    say(app, "camille-ant", "/annuler 2 neige", chat="equipe")
    deliver(app)
    sent = run_to(app, clock, paris("2027-01-07 20:00"))
    dates = [m.reply.text for m in sent if m.chat.chat_id.endswith("prestataires")]
    assert sum("10 décembre" in d for d in dates) == 2
    assert not any("7 janvier" in d for d in dates)


def test_two_instances_on_one_database_send_each_reminder_once(
    config: Config, clock: ManualClock, database_url: str
) -> None:
    a = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="a")
    b = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="b")
    for who in ("gite-du-moulin", "camping-les-pins", "canoe-aventure"):
        say(a, who, "/inscrire 1")
        say(b, who, "/inscrire 2")
    deliver(a), deliver(b)
    sent: list[str] = []
    lock = threading.Lock()

    errors: list[BaseException] = []

    def worker(app: App, at: object) -> None:
        try:
            app.reminders.invalidate()
            app.tick()
            with lock:
                sent.extend(f"{m.chat.chat_id}|{m.reply.text}" for m in deliver(app))
        except BaseException as exc:  # surfaced below: a thread's exception must fail the test
            errors.append(exc)

    moments = sorted(
        {d for d in (a.next_due(clock.now()),) if d}
        | {
            paris(x)
            for x in (
                "2026-11-26 18:30",
                "2026-11-30 18:30",
                "2026-12-02 18:30",
                "2026-12-03 16:30",
                "2026-12-31 18:30",
                "2027-01-04 18:30",
                "2027-01-06 18:30",
                "2027-01-07 16:30",
            )
        }
    )
    for moment in moments:
        clock.set(moment)
        threads = [threading.Thread(target=worker, args=(inst, moment)) for inst in (a, b)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert errors == []
    counts = Counter(sent)
    assert len(counts) == 2 * (1 + 1 + 1 + 3)  # two sessions × (J-7, J-3 alert, J-1, 3 × H-2)
    assert set(counts.values()) == {1}
    a.close()
    b.close()


def test_an_adapter_that_gives_up_is_never_retried(config: Config, clock: ManualClock, database_url: str) -> None:
    clock.set(J7)
    app = bootstrap(config, clock=clock, database_url=database_url, migrate=False, instance="a")
    app.tick()
    (message,) = app.outbox.drain("console")
    app.outbox.fail(message, "uncertain")  # e.g. a timeout after the request left: it may have arrived
    clock.advance(timedelta(minutes=30))
    app.reminders.invalidate()
    app.tick()
    assert app.outbox.drain("console") == []
    assert ledger(app)["group:7d:group:6:uncertain"] == 1
    app.close()


def test_day_offsets_are_local_days_and_hour_offsets_are_absolute() -> None:
    from zoneinfo import ZoneInfo

    from bot.reminders import due_at

    paris_zone = ZoneInfo("Europe/Paris")
    spring = paris("2027-04-01 18:30")  # summer time; J-7 falls in winter time
    assert due_at(spring, timedelta(days=7), paris_zone) == paris("2027-03-25 18:30")
    autumn = paris("2026-10-29 18:30")  # winter time; J-7 falls in summer time
    assert due_at(autumn, timedelta(days=7), paris_zone) == paris("2026-10-22 18:30")
    # Hours are real hours, even across the night of the change.
    assert due_at(paris("2027-03-28 12:00"), timedelta(hours=12), paris_zone) == paris("2027-03-27 23:00")
    # A mixed offset: the days on the wall clock, then the hours.
    assert due_at(spring, timedelta(days=7, hours=2), paris_zone) == paris("2027-03-25 16:30")


@pytest.mark.parametrize(
    ("offset", "fr", "en"),
    [
        (timedelta(minutes=30), "dans 30 minutes", "in 30 minutes"),
        (timedelta(minutes=2), "dans 2 minutes", "in 2 minutes"),
        (timedelta(minutes=90), "dans 1 h 30", "in 1 h 30"),
        (timedelta(hours=2), "dans 2 heures", "in 2 hours"),
        (timedelta(hours=1), "dans 1 heure", "in 1 hour"),
        (timedelta(days=1), "demain", "tomorrow"),
        (timedelta(days=7), "dans 7 jours", "in 7 days"),
    ],
)
def test_reminder_delays_read_as_people_say_them(offset: timedelta, fr: str, en: str) -> None:
    from bot.timefmt import fmt_delay

    assert (fmt_delay(offset), fmt_delay(offset, "en")) == (fr, en)
