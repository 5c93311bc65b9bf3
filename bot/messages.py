"""Neutral message types exchanged between the core and the platform adapters.

Reply text is a tiny HTML subset (<b>, <i>, <code>, <a href>) with every piece of user text escaped
by the core; each adapter renders it for its platform (Telegram HTML, Discord Markdown, plain console).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UserRef:
    platform: str
    user_id: str  # platform ids are 64-bit: always carried as strings
    display_name: str = ""
    language: str | None = None


@dataclass(frozen=True)
class ChatRef:
    platform: str
    chat_id: str
    private: bool = False
    title: str = ""


@dataclass(frozen=True)
class Button:
    """A button is a shortcut for a command: pressing it is the same as typing `command`."""

    label: str
    command: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    private: bool = False  # deliver in private to the speaker rather than in the chat
    leave_chat: bool = False  # the adapter leaves the chat after sending (chat not configured)


@dataclass(frozen=True)
class Incoming:
    chat: ChatRef
    user: UserRef
    text: str
    mentions_bot: bool = False
    via_button: bool = False
    message_id: str | None = None


@dataclass(frozen=True)
class OutMessage:
    """A message the core sends without being asked (announcement, reminder, notice)."""

    chat: ChatRef
    reply: Reply
    ledger_id: int | None = None  # reminder deliveries are marked sent in the ledger after sending
    meta: dict[str, str] = field(default_factory=dict)
