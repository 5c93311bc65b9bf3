"""Wire the services together. Tests call this with a ManualClock and their own database URL."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import clubs, membership
from bot.clock import Clock, SystemClock
from bot.commands import Command, CommandTable
from bot.config import Config, ConfigError
from bot.core import Core, Ctx
from bot.diagnostic import Questionnaire, QuestionnaireError, load_questionnaire
from bot.diagnostic.reminder import CampaignReminders
from bot.dialogs import FlowHandler
from bot.faqchat import Faq
from bot.messages import Reply
from bot.outbox import Outbox
from bot.reminders import Reminders
from bot.storage import db as storage

FreeText = Callable[[Ctx, str], list[Reply]]


class Ticker(Protocol):
    """Something that acts when time passes (reminders). The scheduler or the console drives it."""

    def next_due(self, now: datetime) -> datetime | None: ...

    def tick(self, now: datetime) -> object: ...


@dataclass
class App:
    config: Config
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    outbox: Outbox
    platforms: set[str]  # platforms with a running adapter: where the outbox can deliver
    instance: str  # this process's name in the reminder ledger
    core: Core = field(init=False)
    reminders: Reminders = field(init=False)
    free_text_handler: FreeText | None = None
    agenda_preview: Callable[[Ctx, Any], list[str]] | None = None
    faq: Faq = field(init=False)
    questionnaire: Questionnaire = field(init=False)
    flows: dict[str, FlowHandler] = field(default_factory=dict)  # guided dialogues, by name
    tickers: list[Ticker] = field(default_factory=list)

    def free_text(self, ctx: Ctx, text: str) -> list[Reply]:
        if self.free_text_handler is None:
            return []
        return self.free_text_handler(ctx, text)

    def next_due(self, now: datetime) -> datetime | None:
        dues = [d for d in (tk.next_due(now) for tk in self.tickers) if d is not None]
        return min(dues) if dues else None

    def tick(self) -> None:
        now = self.clock.now()
        for ticker in self.tickers:
            ticker.tick(now)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work for what time triggers: what it sends leaves only once the database committed."""
        with self.outbox.transaction(), self.sessions.begin() as db:
            yield db


def all_commands() -> list[Command]:
    # Imported here so that bot.core stays free of feature modules.
    from bot.handlers import base, clubs, diagnostic, dialog, faq, gate, questions, web

    return [
        *base.COMMANDS,
        *faq.COMMANDS,
        *questions.COMMANDS,
        *clubs.COMMANDS,
        *gate.COMMANDS,
        *web.COMMANDS,
        *diagnostic.COMMANDS,
        *dialog.COMMANDS,
    ]


def bootstrap(
    config: Config,
    *,
    clock: Clock | None = None,
    database_url: str | None = None,
    platforms: Iterable[str] = ("console",),
    migrate: bool = True,
    instance: str | None = None,
) -> App:
    url = database_url or config.database.url
    if migrate:
        storage.upgrade(url)
    engine = storage.make_engine(url)
    app = App(
        config=config,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=storage.session_factory(engine),
        outbox=Outbox(),
        platforms=set(platforms),
        instance=instance or f"klub-{secrets.token_hex(4)}",
    )
    app.core = Core(app, CommandTable(all_commands()))
    app.faq = Faq(config)
    try:
        app.questionnaire = load_questionnaire(config.diagnostic.files)
    except QuestionnaireError as exc:
        engine.dispose()
        raise ConfigError(str(exc)) from exc
    from bot import dialogs
    from bot.handlers import diagnostic as diagnostic_handlers
    from bot.handlers import faq as faq_handlers
    from bot.handlers import klub_guide
    from bot.handlers import questions as question_handlers

    app.flows = {diagnostic_handlers.FLOW: diagnostic_handlers.on_text, klub_guide.FLOW: klub_guide.on_text}
    app.free_text_handler = dialogs.router(app.flows, faq_handlers.free_text)
    app.agenda_preview = question_handlers.agenda_preview
    now = app.clock.now()
    try:
        with app.sessions.begin() as db:
            membership.sync_config(db, config, now)
            clubs.sync_config_series(db, config, now)
            clubs.ensure_sessions(db, now)
    except Exception:
        engine.dispose()  # a config refused at start must not leave connections open
        raise
    app.reminders = Reminders(app)
    app.tickers.append(app.reminders)
    app.tickers.append(clubs.Horizon(app))
    app.tickers.append(
        CampaignReminders(app.transaction, lambda db, cid, now: diagnostic_handlers.send_reminder(app, db, cid, now))
    )
    return app
