"""What Discord should look like, decided from the database: no discord import here.

Two things an office's Discord server mirrors, each as plain data the adapter carries out:

- access: the roles that open the closed channels. The gate decides which channels a linked person may
  enter (`gate.join_groups`: équipe for staff and above, prestataires for every linked member); each
  configured channel names the role that opens it. A revocation arrives as a `MemberAction` naming a
  channel, mapped to its role by `channel_role`.
- sessions: one native scheduled event per upcoming occurrence (Discord has no recurring events for
  bots). `plan` compares the sessions with the server's events and returns what to create, update or
  cancel; the adapter makes the calls and stores the event id with `record_event`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import or_, select

from bot import gate, ics, membership
from bot.i18n import pick_language, t
from bot.messages import Incoming, Reply
from bot.storage.tables import Group, Office, Person, Session

if TYPE_CHECKING:
    from sqlalchemy.orm import Session as Db

    from bot.app import App
    from bot.config import Config

PLATFORM = "discord"
EVENT_AUDIENCE = "prestataires"  # scheduled events are visible to the whole server: never staff-only sessions
_TAG = re.compile(r"<[^<>]*>")


# -- access -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscordRole:
    guild_id: str
    role_id: str
    channel_id: str
    kind: str  # equipe | prestataires


def _role_of(group: Group) -> DiscordRole | None:
    if not group.guild_id or not group.role_id:
        return None
    return DiscordRole(group.guild_id, group.role_id, group.chat_id, group.kind)


def member_roles(app: App, user_id: str) -> list[DiscordRole]:
    """The roles this Discord account should hold now: those of the channels the gate opens to its
    person (none unless it is linked to an active person). Used when a linked member (re)joins."""
    now = app.clock.now()
    with app.sessions.begin() as db:
        person = membership.resolve(db, PLATFORM, user_id, now).person
        if person is None:
            return []
        roles = [_role_of(g) for g in gate.join_groups(db, person, PLATFORM)]
        return [r for r in roles if r is not None]


def channel_role(app: App, channel_id: str) -> DiscordRole | None:
    """The role that opens a configured channel (what a revocation takes away)."""
    with app.sessions() as db:
        group = membership.find_group(db, PLATFORM, channel_id)
        return _role_of(group) if group is not None else None


def guild_ids(app: App) -> list[str]:
    """The servers Klub serves: the configured ones and those of the configured channels."""
    ids = list(app.config.adapters.discord.guild_ids)
    with app.sessions() as db:
        for gid in db.scalars(select(Group.guild_id).where(Group.platform == PLATFORM).order_by(Group.id)):
            if gid and gid not in ids:
                ids.append(gid)
    return ids


def _guild_language(app: App, guild_id: str) -> str:
    with app.sessions() as db:
        group = db.scalar(select(Group).where(Group.platform == PLATFORM, Group.guild_id == guild_id))
        office = db.get(Office, group.office_id) if group is not None else None
        return pick_language(office.language if office else None, app.config.language)


def welcome(app: App, guild_id: str, name: str) -> Reply:
    """The greeting for someone who joined the server without access yet: how to get it."""
    lang = _guild_language(app, guild_id)
    return Reply(t(lang, "discord.welcome", name=name))


def welcome_pointer(db: Db, config: Config, incoming: Incoming, lang: str) -> Reply | None:
    """In a server's welcome channel (adapters.discord.welcome_channels), which is not a Klub group,
    only /verifier works: anything else gets a short pointer to it and to whom to ask for a code."""
    chat = incoming.chat
    if chat.platform != PLATFORM or chat.private:
        return None
    guild_id = next((g for g, c in config.adapters.discord.welcome_channels.items() if c == chat.chat_id), None)
    if guild_id is None:
        return None
    group = db.scalar(select(Group).where(Group.platform == PLATFORM, Group.guild_id == guild_id).order_by(Group.id))
    names: list[str] = []
    if group is not None:
        ants = db.scalars(
            select(Person)
            .where(Person.office_id == group.office_id, Person.role == "ant", Person.active.is_(True))
            .order_by(Person.name)
        )
        names = [p.name for p in ants if p.erased_at is None]
    if names:
        return Reply(t(lang, "discord.welcome_pointer", who=", ".join(names)), personal=True)
    return Reply(t(lang, "discord.welcome_pointer_anyone"), personal=True)


def access_failed(app: App, user_id: str, language: str | None) -> Reply:
    """The account is linked but Discord refused the roles (not on the server yet, role above the bot's)."""
    return Reply(t(_person_language(app, user_id, language), "discord.access_failed"))


def _person_language(app: App, user_id: str, fallback: str | None) -> str:
    now = app.clock.now()
    with app.sessions() as db:
        member = membership.resolve(db, PLATFORM, user_id, now)
        person = member.person
        office = db.get(Office, person.office_id) if person is not None else None
        return pick_language(
            person.language if person else None, fallback, office.language if office else None, app.config.language
        )


# -- scheduled events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    name: str
    description: str
    location: str
    start: datetime  # aware, UTC
    end: datetime


@dataclass(frozen=True)
class Mirror:
    """A session as the server should show it."""

    session_id: int
    guild_id: str
    event_id: str | None  # what we stored last time
    active: bool  # False: cancelled, its event must be cancelled too
    spec: EventSpec


EventStatus = Literal["scheduled", "active", "completed", "cancelled"]


@dataclass(frozen=True)
class RemoteEvent:
    """A scheduled event as the server shows it now."""

    event_id: str
    status: EventStatus
    spec: EventSpec


@dataclass(frozen=True)
class EventOp:
    action: Literal["create", "update", "cancel", "adopt"]  # adopt: an event we made but failed to record
    session_id: int
    guild_id: str
    spec: EventSpec
    event_id: str | None = None


def _office_guilds(app: App) -> dict[str, str]:
    """office id -> the Discord server of its channels (the first one when there are several)."""
    out: dict[str, str] = {}
    with app.sessions() as db:
        rows = db.scalars(select(Group).where(Group.platform == PLATFORM).order_by(Group.id))
        for group in rows:
            if group.guild_id and group.office_id not in out:
                out[group.office_id] = group.guild_id
    return out


def mirrors(app: App, now: datetime, horizon: timedelta) -> list[Mirror]:
    """Upcoming providers' sessions within the horizon, plus any later one that already has an event."""
    guilds = _office_guilds(app)
    if not guilds:
        return []
    out: list[Mirror] = []
    with app.sessions() as db:
        query = (
            select(Session)
            .where(
                Session.office_id.in_(list(guilds)),
                Session.audience == EVENT_AUDIENCE,
                Session.starts_at > now,
                Session.status.in_(("scheduled", "moved", "cancelled")),
                or_(Session.starts_at <= now + horizon, Session.discord_event_id.is_not(None)),
            )
            .order_by(Session.starts_at, Session.id)
        )
        for session in db.scalars(query):
            active = session.status != "cancelled"
            if not active and session.discord_event_id is None:
                continue  # never mirrored: nothing to cancel
            office = db.get(Office, session.office_id)
            lang = pick_language(office.language if office else None, app.config.language)
            out.append(
                Mirror(
                    session_id=session.id,
                    guild_id=guilds[session.office_id],
                    event_id=session.discord_event_id,
                    active=active,
                    spec=_spec(session, lang),
                )
            )
    return out


def _spec(session: Session, lang: str) -> EventSpec:
    place = " — ".join(p for p in (session.location.strip(), session.video_url.strip()) if p)
    description = t(lang, "discord.event_description", number=session.id)
    return EventSpec(
        name=session.title.strip()[:100],
        description=_visible(description)[:1000],
        location=(place or _visible(t(lang, "discord.event_no_location")))[:100],
        start=session.starts_at,
        end=ics.end_of(session),
    )


def _visible(text: str) -> str:
    # Catalog strings are the core's HTML subset; an event's fields are plain text.
    return html.unescape(_TAG.sub("", text))


def plan(wanted: list[Mirror], remote: Mapping[str, Mapping[str, RemoteEvent]]) -> list[EventOp]:
    """What to do so that each server's events match the sessions. A server missing from `remote`
    (not reachable) is left alone: no decision without knowing its current state."""
    ops: list[EventOp] = []
    referenced = {m.event_id for m in wanted if m.event_id}
    adopted: set[str] = set()
    for m in wanted:
        events = remote.get(m.guild_id)
        if events is None:
            continue
        current = events.get(m.event_id) if m.event_id else None
        if not m.active:
            if current is not None and current.status == "scheduled":
                ops.append(EventOp("cancel", m.session_id, m.guild_id, m.spec, current.event_id))
            continue
        if current is None or current.status in ("completed", "cancelled"):
            orphan = next(
                (
                    e
                    for e in events.values()
                    if e.event_id not in referenced
                    and e.event_id not in adopted
                    and e.status == "scheduled"
                    and (e.spec.name, e.spec.start) == (m.spec.name, m.spec.start)
                ),
                None,
            )
            if orphan is not None:
                adopted.add(orphan.event_id)
                ops.append(EventOp("adopt", m.session_id, m.guild_id, m.spec, orphan.event_id))
                if orphan.spec != m.spec:
                    ops.append(EventOp("update", m.session_id, m.guild_id, m.spec, orphan.event_id))
            else:
                ops.append(EventOp("create", m.session_id, m.guild_id, m.spec))
        elif current.status == "scheduled" and current.spec != m.spec:
            ops.append(EventOp("update", m.session_id, m.guild_id, m.spec, current.event_id))
    return ops


def record_event(app: App, session_id: int, event_id: str | None) -> None:
    with app.sessions.begin() as db:
        session = db.get(Session, session_id)
        if session is not None:
            session.discord_event_id = event_id
