"""Unsolicited messages: to an office's groups, or to one person in private, through the outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot import membership
from bot.messages import ChatRef, OutMessage, Reply
from bot.storage.tables import Group, Person

if TYPE_CHECKING:
    from bot.app import App


def group_chat(group: Group) -> ChatRef:
    return ChatRef(group.platform, group.chat_id, title=group.title)


def person_chat(app: App, person: Person) -> ChatRef | None:
    """The private chat where the person was last seen, among the platforms Klub reaches (configured or
    served here: another instance may be the one that delivers it)."""
    if person.erased_at is not None or not person.active:
        return None  # revoked or erased: nothing private reaches them any more
    idents = [i for i in person.identities if i.platform in app.reach]
    if not idents:
        return None
    best = max(idents, key=lambda i: (i.last_seen_at or i.linked_at, i.id))
    return ChatRef(best.platform, best.platform_user_id, private=True)


def to_groups(app: App, db: Session, office_id: str, kind: str, reply: Reply) -> int:
    groups = membership.office_groups(db, office_id, kind, app.reach)
    for group in groups:
        app.outbox.put(OutMessage(group_chat(group), reply))
    return len(groups)


def to_person(app: App, person: Person, reply: Reply) -> bool:
    chat = person_chat(app, person)
    if chat is None:
        return False
    app.outbox.put(OutMessage(chat, reply))
    return True
