"""The wired services, as the domain sees them: what `bootstrap` builds and hands around.

Its own module, apart from `bot.bootstrap`, so that the modules the App is made of can name it without
importing the module that imports them all: only `bootstrap` wires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from bot.clock import Clock
    from bot.config import Config
    from bot.core import Core, Ctx
    from bot.diagnostic import Questionnaire
    from bot.dialogs import FlowHandler
    from bot.faqchat import Faq
    from bot.inbox import Inbox
    from bot.messages import Reply
    from bot.outbox import Outbox
    from bot.reminders import Reminders

FreeText = Callable[["Ctx", str], "list[Reply]"]


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
    inbox: Inbox
    platforms: set[str]  # platforms with a running adapter in this process: where it delivers
    instance: str  # this process's name on the outbox, inbox and heartbeat rows
    # Platforms rows are written for: those the configuration declares (whichever instance serves
    # them: a Telegram-only instance still writes the Discord removals) plus those served here.
    reach: set[str] = field(default_factory=set)
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
        # The rows it puts are written in this transaction; senders are woken once it committed.
        with self.sessions() as db, self.outbox.transaction(db), db.begin():
            yield db
