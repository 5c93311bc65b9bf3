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
    fallback: str = ""  # for a private reply: what to post in the chat instead if the platform refuses the DM
    # For the speaker alone: shown to them only where the platform can do so inside the chat (a Discord
    # ephemeral answer), in the chat elsewhere. None until the core decides (from the command table).
    personal: bool | None = None


@dataclass(frozen=True)
class Incoming:
    chat: ChatRef
    user: UserRef
    text: str
    mentions_bot: bool = False
    via_button: bool = False
    message_id: str | None = None
    bot_username: str = ""  # the adapter's own bot name: `/cmd@other_bot` is for another bot
    # What the platform can do for this message: show an answer to the speaker alone in the chat (a
    # Discord interaction), and leave a chat that is not served (Telegram can, a Discord bot cannot).
    hides_personal: bool = False
    can_leave: bool = True


@dataclass(frozen=True)
class OutMessage:
    """A message the core sends without being asked (announcement, reminder, notice)."""

    chat: ChatRef
    reply: Reply
    ledger_id: int | None = None  # reminder deliveries are marked sent in the ledger after sending
    meta: dict[str, str] = field(default_factory=dict)


# -- The gate (invites, join requests, revocation) ---------------------------------------------------


@dataclass(frozen=True)
class JoinLink:
    """A group the speaker may now ask to join. The adapter attaches its platform's invite link, one
    that only opens a join request (Telegram: creates_join_request): the core still decides who gets in."""

    platform: str
    chat_id: str
    label: str  # button label, already translated by the core


@dataclass(frozen=True)
class GateReply(Reply):
    """A Reply with gate material an adapter renders natively; adapters that ignore it show the text."""

    join_links: tuple[JoinLink, ...] = ()
    invite_code: str = ""  # a fresh invite code: the adapter may append its deep link to the text
    invite_link_label: str = ""  # translated prefix for that deep link ("Lien à transmettre :")


MEMBER_ACTION = "member_action"


@dataclass(frozen=True)
class MemberAction:
    """A membership change the core decided and the platform's adapter carries out.

    It travels through the outbox as an OutMessage (empty text, meta["kind"] == MEMBER_ACTION), so it
    gets the same delivery and acknowledgement as any message. "remove" takes the person out of the
    chat in a way that lets them come back if re-invited (Telegram: ban then unban).
    """

    platform: str
    chat_id: str
    user_id: str
    action: str = "remove"

    def to_out(self) -> OutMessage:
        meta = {"kind": MEMBER_ACTION, "action": self.action, "user_id": self.user_id}
        return OutMessage(chat=ChatRef(self.platform, self.chat_id), reply=Reply(""), meta=meta)

    @staticmethod
    def from_out(message: OutMessage) -> MemberAction | None:
        if message.meta.get("kind") != MEMBER_ACTION:
            return None
        return MemberAction(
            message.chat.platform, message.chat.chat_id, message.meta["user_id"], message.meta["action"]
        )


EVENT_SYNC = "event_sync"


@dataclass(frozen=True)
class EventSync:
    """Make the Discord scheduled event of session N match the database: created, moved, changed or
    cancelled as the session now is. The row names the session, not the change: what to do is planned
    when the row is carried out, from the state of that moment (and the server's), so a late row, or
    several rows for one session, do no harm. The chat is the Discord server (guild) of the office.
    """

    guild_id: str
    session_id: int

    def to_out(self) -> OutMessage:
        meta = {"kind": EVENT_SYNC, "session_id": str(self.session_id)}
        return OutMessage(chat=ChatRef("discord", self.guild_id), reply=Reply(""), meta=meta)

    @staticmethod
    def from_out(message: OutMessage) -> EventSync | None:
        if message.meta.get("kind") != EVENT_SYNC:
            return None
        return EventSync(message.chat.chat_id, int(message.meta["session_id"]))
