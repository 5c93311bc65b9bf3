"""The live alarm clock: armed at the next due reminder, re-armed on change; no waiting for real time."""

from __future__ import annotations

from bot.bootstrap import App
from bot.scheduler import NEXT_JOB, LiveScheduler

from .conftest import paris
from .helpers import say


async def test_armed_at_the_next_due_reminder_and_rearmed_on_change(app: App) -> None:
    live = LiveScheduler(app)
    live.start()
    try:
        assert live.next_wakeup() == paris("2026-11-26 18:30")  # J-7 of Thursday 3 December, 18:30
        say(app, "camille-ant", "/annuler 1 neige", chat="equipe")
        # The next one is now J-7 of the January session.
        assert live.next_wakeup() == paris("2026-12-31 18:30")
        job = live.scheduler.get_job(NEXT_JOB)
        assert job is not None and job.misfire_grace_time is None
    finally:
        live.shutdown()


async def test_run_due_sends_what_is_due(app: App) -> None:
    live = LiveScheduler(app)
    app.clock.set(paris("2026-11-26 18:31"))  # type: ignore[attr-defined]
    live.start()
    try:
        sent = app.outbox.drain("console")
        assert len(sent) == 1 and "dans 7 jours" in sent[0].reply.text
        assert live.next_wakeup() == paris("2026-11-30 18:30")
    finally:
        live.shutdown()
