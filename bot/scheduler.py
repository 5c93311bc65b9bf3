"""APScheduler as the alarm clock in live mode. The database decides what is due; this only wakes us.

Jobs are plain functions: APScheduler's asyncio executor runs them in a worker thread, so writing a
large broadcast never stalls the event loop (Telegram polling, Discord heartbeats). One date job is
armed at the next due time (re-armed after every tick and whenever sessions or registrations change),
plus a safety interval job so that changes made by another instance on the same database are noticed.
No job store: nothing is pickled, everything is rebuilt from the database.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
NEXT_JOB = "klub-next-due"
SAFETY_JOB = "klub-safety"


class LiveScheduler:
    def __init__(self, app: App, *, safety_interval: timedelta = timedelta(minutes=1)) -> None:
        self.app = app
        self.safety_interval = safety_interval
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        app.reminders.on_change(self.rearm)

    def start(self, *, catch_up: bool = True) -> None:
        """`catch_up=False`: the caller runs `run_due` itself (off the event loop, in `klub run`)."""
        self.scheduler.add_job(
            self.run_due,
            "interval",
            seconds=self.safety_interval.total_seconds(),
            id=SAFETY_JOB,
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.start()
        if catch_up:
            self.run_due()  # catch up at once with anything missed while Klub was down

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def run_due(self) -> None:
        try:
            self.app.tick()
        except Exception:
            log.exception("échec pendant l'envoi des rappels dus")
        self.rearm()

    def rearm(self) -> None:
        due = self.app.next_due(self.app.clock.now())
        if due is None:
            if self.scheduler.get_job(NEXT_JOB) is not None:
                self.scheduler.remove_job(NEXT_JOB)
            return
        # misfire_grace_time=None: a wake-up that comes late still runs; lateness is judged by the ledger.
        self.scheduler.add_job(
            self.run_due,
            "date",
            run_date=max(due, self.app.clock.now()),
            id=NEXT_JOB,
            replace_existing=True,
            misfire_grace_time=None,
        )

    def next_wakeup(self) -> object:
        job = self.scheduler.get_job(NEXT_JOB)
        return job.next_run_time if job is not None else None
