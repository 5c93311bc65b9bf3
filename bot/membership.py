"""Roster, identities and groups: who is who, and which chat belongs to which office."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.roles import Role
from bot.storage.tables import Group, Identity, Office, Person, Territory

CONSOLE = "console"
GROUP_KINDS = ("equipe", "prestataires")


def console_chat_id(office_id: str, kind: str) -> str:
    return f"{office_id}:{kind}"


@dataclass(frozen=True)
class Member:
    """The resolved speaker: roster entry (if any) and effective role."""

    person: Person | None
    role: Role
    since: datetime | None = None  # when the speaking account was linked to the roster entry


def sync_config(db: Session, config: Config, now: datetime) -> None:
    """Bring offices, groups and the demo roster of the config into the database (idempotent).

    Offices and groups follow the config. People are seeded once: the database stays the source of
    truth for what changes at run time (a revoked or erased person is not revived by a restart).
    """
    for terr in config.territories:
        row = db.get(Territory, terr.id)
        if row is None:
            db.add(Territory(id=terr.id, name=terr.name))
        else:
            row.name = terr.name
    db.flush()
    for oc in config.offices:
        office = db.get(Office, oc.id)
        if office is None:
            office = Office(id=oc.id, name=oc.name)
            db.add(office)
        office.name, office.timezone, office.territory_id, office.language = (
            oc.name,
            oc.timezone,
            oc.territory,
            oc.language,
        )
    db.flush()
    wanted: list[tuple[str, str, str, str, str, str | None, str | None]] = []
    for oc in config.offices:
        for g in oc.groups:
            wanted.append((oc.id, g.platform, g.chat_id, g.kind, g.title, g.guild_id, g.role_id))
        if config.adapters.console.enabled:
            for kind in GROUP_KINDS:
                wanted.append((oc.id, CONSOLE, console_chat_id(oc.id, kind), kind, f"{oc.name} – {kind}", None, None))
    for office_id, platform, chat_id, kind, title, guild_id, role_id in wanted:
        group = db.scalar(select(Group).where(Group.platform == platform, Group.chat_id == chat_id))
        if group is None:
            group = Group(platform=platform, chat_id=chat_id)
            db.add(group)
        group.office_id, group.kind, group.title = office_id, kind, title
        group.guild_id, group.role_id = guild_id, role_id
    db.flush()
    for pc in config.people:
        person = db.scalar(select(Person).where(Person.slug == pc.id))
        if person is not None:
            continue  # seeded once: later changes (language, role, revocation) live in the database
        person = Person(
            slug=pc.id,
            created_at=now,
            active=True,
            role=pc.role,
            name=pc.name,
            business=pc.business,
            category=pc.category,
            office_id=pc.office,
            language=pc.language,
        )
        db.add(person)
        db.flush()
        idents = list(pc.identities)
        if config.adapters.console.enabled:
            idents.append(f"{CONSOLE}:{pc.id}")
        for ident in idents:
            platform, _, uid = ident.partition(":")
            link_identity(db, person, platform, uid, now)
    db.flush()


def link_identity(db: Session, person: Person, platform: str, user_id: str, now: datetime) -> Identity:
    ident = db.scalar(
        select(Identity).where(Identity.platform == platform, Identity.platform_user_id == user_id)
    )
    if ident is None:
        ident = Identity(person_id=person.id, platform=platform, platform_user_id=user_id, linked_at=now)
        db.add(ident)
    elif ident.person_id != person.id:
        ident.person_id, ident.linked_at = person.id, now
    return ident


def find_group(db: Session, platform: str, chat_id: str) -> Group | None:
    return db.scalar(select(Group).where(Group.platform == platform, Group.chat_id == chat_id))


def resolve(db: Session, platform: str, user_id: str, now: datetime, display_name: str = "") -> Member:
    ident = db.scalar(
        select(Identity).where(Identity.platform == platform, Identity.platform_user_id == user_id)
    )
    if ident is None:
        return Member(None, Role.GUEST)
    ident.last_seen_at = now
    if display_name and ident.display_name != display_name:
        ident.display_name = display_name
    person = ident.person
    if not person.active or person.erased_at is not None:
        return Member(person, Role.GUEST, ident.linked_at)
    return Member(person, Role.parse(person.role), ident.linked_at)


def offices_in_reach(db: Session, person: Person, role: Role) -> set[str]:
    """The person's office; for a coordinator (admin), every office of their territory."""
    if role >= Role.ADMIN:
        office = db.get(Office, person.office_id)
        if office is not None and office.territory_id:
            return set(db.scalars(select(Office.id).where(Office.territory_id == office.territory_id)))
    return {person.office_id}


def person_by_slug(db: Session, slug: str) -> Person | None:
    return db.scalar(select(Person).where(Person.slug == slug))


def private_chats(db: Session, person: Person) -> list[tuple[str, str]]:
    """Where to reach a person in private: their most recently used identity (one message, not one per platform)."""
    idents = sorted(
        person.identities,
        key=lambda i: (i.last_seen_at or i.linked_at, i.id),
        reverse=True,
    )
    return [(idents[0].platform, idents[0].platform_user_id)] if idents else []


def office_groups(db: Session, office_id: str, kind: str, platforms: set[str] | None = None) -> list[Group]:
    rows = db.scalars(select(Group).where(Group.office_id == office_id, Group.kind == kind).order_by(Group.id))
    return [g for g in rows if platforms is None or g.platform in platforms]


def office_people(db: Session, office_id: str, role: str) -> list[Person]:
    """Active, not erased roster entries of an office with that role."""
    rows = db.scalars(
        select(Person)
        .where(Person.office_id == office_id, Person.role == role, Person.active.is_(True), Person.erased_at.is_(None))
        .order_by(Person.id)
    )
    return list(rows)
