"""Wire the services together. Tests call this with a ManualClock and their own database URL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from bot import clubs, membership, tokens
from bot.app import App as App  # re-exported: callers know it as bot.bootstrap.App
from bot.clock import Clock, SystemClock
from bot.commands import Command, CommandTable
from bot.config import Config, ConfigError
from bot.core import Core
from bot.diagnostic import QuestionnaireError, load_questionnaire
from bot.diagnostic.reminder import CampaignReminders
from bot.faqchat import Faq
from bot.inbox import Inbox
from bot.klubs import events, seeding
from bot.klubs.changes import Leftovers
from bot.outbox import Outbox
from bot.reminders import Reminders
from bot.storage import db as storage


def configured_platforms(config: Config) -> set[str]:
    """The chat platforms the configuration declares (adapters.<platform>.enabled). `klub run
    --platform` may serve only some of them in one process; the others are served by other instances
    on the same database. The console is local to its process: never a destination for the others."""
    return {name for name in ("telegram", "discord") if getattr(config.adapters, name).enabled}


def all_commands() -> list[Command]:
    # Imported here so that bot.core stays free of feature modules.
    from bot.handlers import base, clubs, diagnostic, dialog, faq, gate, planning, questions, web

    return [
        *base.COMMANDS,
        *faq.COMMANDS,
        *questions.COMMANDS,
        *clubs.COMMANDS,
        *planning.COMMANDS,
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
    clock = clock or SystemClock()
    sessions = storage.session_factory(engine)
    events.configure(sessions, config)  # the domain writes Discord event rows only when events are on
    delivery = config.delivery
    # A stable name lets a restarted instance resume its own rows at once, without waiting for its old
    # heartbeat to go stale; without one, the others take over after delivery.dead_after.
    name = instance or delivery.instance or os.environ.get("KLUB_INSTANCE") or f"klub-{secrets.token_hex(4)}"
    outbox = Outbox(
        sessions,
        clock,
        name,
        lease=timedelta(seconds=delivery.lease),
        dead_after=timedelta(seconds=delivery.dead_after),
    )
    app = App(
        config=config,
        clock=clock,
        engine=engine,
        sessions=sessions,
        outbox=outbox,
        inbox=Inbox(sessions, clock, name),
        platforms=set(platforms),
        instance=name,
        reach=configured_platforms(config) | set(platforms),
    )
    app.core = Core(app, CommandTable(all_commands()))
    app.faq = Faq(config)
    try:
        app.faq.base  # noqa: B018 - load now: a broken tutorial base stops the start, not the first question
        app.questionnaire = load_questionnaire(config.diagnostic.files)
    except QuestionnaireError as exc:
        engine.dispose()
        raise ConfigError(str(exc)) from exc
    except Exception:
        engine.dispose()
        raise
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
            seeding.sync_config_series(db, config, now)
            clubs.ensure_sessions(db, now)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise storage.describe(url, exc) from exc
    except Exception:
        engine.dispose()  # a config refused at start must not leave connections open
        raise
    app.reminders = Reminders(app)
    app.tickers.append(app.reminders)
    app.tickers.append(seeding.Horizon(app))
    app.tickers.append(Leftovers(app.sessions))
    app.tickers.append(tokens.TokenSweep(app.inbox, app.outbox))
    app.tickers.append(
        CampaignReminders(app.transaction, lambda db, cid, now: diagnostic_handlers.send_reminder(app, db, cid, now))
    )
    return app
