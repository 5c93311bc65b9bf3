"""Small helpers to talk to the core the way the console does."""

from __future__ import annotations

from adapters.render import to_plain
from bot.bootstrap import App
from bot.membership import console_chat_id
from bot.messages import ChatRef, Incoming, Reply, UserRef

OFFICE = "ot-trois-vallees"


def say(app: App, who: str, text: str, chat: str = "prive", office: str = OFFICE) -> list[Reply]:
    if chat == "prive":
        ref = ChatRef("console", who, private=True)
    else:
        ref = ChatRef("console", console_chat_id(office, chat))
    return app.core.handle(Incoming(chat=ref, user=UserRef("console", who), text=text))


def plain(replies: list[Reply]) -> str:
    return "\n".join(to_plain(r.text) for r in replies)
