"""The gate: invite codes, linking a platform account to the roster, join decisions, revocation.

Platform-independent: Telegram's `/start CODE` deep link and Discord's `/verifier CODE` end up
here. Adapters only carry out what is decided here: they approve or decline a join request as told,
attach an invite link to a `JoinLink`, and execute `MemberAction`s taken from the outbox.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit, membership
from bot.i18n import pick_language, t
from bot.klubs import changes
from bot.messages import ChatRef, JoinLink, MemberAction, OutMessage, Reply
from bot.roles import Role
from bot.storage.tables import GateAttempt, Group, Identity, Invite, Office, Person
from bot.storage.tables import Session as KlubSession

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

# No 0/O, 1/I/L: codes get read aloud and retyped. 31^12 ≈ 2^59 possibilities, against 5 tries an hour.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
DEFAULT_DAYS = 7
MAX_DAYS = 30
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(hours=1)
# Platforms whose groups are opened once an account is linked: Telegram answers with an invite link
# (the join request is decided by the core), Discord grants the channel's role. The console has none.
JOIN_BY_LINK = frozenset({"telegram", "discord"})
CLI_ACTOR = "ligne de commande"
_NOT_CODE = re.compile(r"[\s-]+")


# -- codes --------------------------------------------------------------------------------------------


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """What people type: lower case, spaces and dashes (`abcd-efgh-jkmn`) are all accepted."""
    return _NOT_CODE.sub("", text).upper()


def well_formed(normal: str) -> bool:
    """A normalised code has the length and the alphabet of the codes Klub makes."""
    return len(normal) == CODE_LENGTH and all(c in ALPHABET for c in normal)


def format_code(code: str) -> str:
    """For reading and retyping: ABCD-EFGH-JKMN."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def hash_code(code: str) -> str:
    # Only the hash is stored: a leaked database does not hand out working invitations.
    return hashlib.sha256(normalise_code(code).encode("ascii", "replace")).hexdigest()


# -- who may be where ---------------------------------------------------------------------------------


def may_join(role: Role, kind: str) -> bool:
    """équipe: office staff and above; prestataires: trained providers and above."""
    if kind == "equipe":
        return role >= Role.STAFF
    if kind == "prestataires":
        return role >= Role.PROVIDER
    return False


def join_groups(db: Session, person: Person, platform: str) -> list[Group]:
    """The groups a newly linked account should be offered, on its platform, providers' group first."""
    if platform not in JOIN_BY_LINK or not person.active:
        return []
    role = Role.parse(person.role)
    groups = [
        g
        for kind in ("prestataires", "equipe")
        for g in membership.office_groups(db, person.office_id, kind, {platform})
        if may_join(role, kind)
    ]
    return groups


def join_links(db: Session, person: Person, platform: str, lang: str) -> tuple[JoinLink, ...]:
    return tuple(
        JoinLink(g.platform, g.chat_id, t(lang, "gate.join_button", group=group_title(g, lang)))
        for g in join_groups(db, person, platform)
    )


def group_title(group: Group, lang: str) -> str:
    return group.title or t(lang, f"gate.kind.{group.kind}")


# -- invites ------------------------------------------------------------------------------------------


class GateError(Exception):
    """A refused gate operation, with the catalog key (and arguments) of its explanation."""

    def __init__(self, key: str, **kwargs: object) -> None:
        super().__init__(key)
        self.key = key
        self.kwargs = kwargs


@dataclass(frozen=True)
class NewInvite:
    code: str  # shown once, never stored
    invite: Invite


def create_invite(
    db: Session,
    *,
    person: Person,
    now: datetime,
    created_by: Person | None = None,
    actor_label: str = "",
    days: int = DEFAULT_DAYS,
    as_role: Role | None = None,
) -> NewInvite:
    """`as_role`: the inviter's role in chat (None: the command line, run by the operator). Only the ANT
    and above invite, and never for a role above their own: an invitation must not raise anyone's rights."""
    if person.erased_at is not None:
        raise GateError("gate.erased_person", slug=person.slug)
    if as_role is not None and as_role < Role.ANT:
        raise GateError("gate.invite_needs_ant")
    if as_role is not None and Role.parse(person.role) > as_role:
        raise GateError("gate.invite_higher")
    if not 1 <= days <= MAX_DAYS:
        raise GateError("gate.bad_days", max=MAX_DAYS)
    code = new_code()
    invite = Invite(
        code_hash=hash_code(code),
        office_id=person.office_id,
        person_id=person.id,
        created_by_id=created_by.id if created_by is not None else None,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.add(invite)
    db.flush()
    audit.record(
        db,
        now,
        "invite.create",
        actor=created_by,
        actor_label=actor_label,
        office_id=person.office_id,
        target=person.slug,
        detail=f"invitation n°{invite.id}, valable {days} j",
    )
    return NewInvite(code, invite)


# -- redeeming a code ---------------------------------------------------------------------------------

Outcome = Literal["linked", "rate_limited", "malformed", "unknown", "expired", "used", "other_account", "pending"]


@dataclass(frozen=True)
class Redemption:
    outcome: Outcome
    person: Person | None = None  # linked: the roster entry; other_account: the one already linked
    retry_at: datetime | None = None  # rate_limited: when a new attempt is allowed
    reactivated: bool = False  # a revoked person came back through a fresh invite


def locked_until(db: Session, platform: str, user_id: str, now: datetime) -> datetime | None:
    """When an account that failed too often may try again (None: it may try now)."""
    recent = list(
        db.scalars(
            select(GateAttempt.at)
            .where(
                GateAttempt.platform == platform,
                GateAttempt.platform_user_id == user_id,
                GateAttempt.at > now - FAILURE_WINDOW,
            )
            .order_by(GateAttempt.at)
        )
    )
    if len(recent) < MAX_FAILURES:
        return None
    return recent[len(recent) - MAX_FAILURES] + FAILURE_WINDOW


def redeem(db: Session, platform: str, user_id: str, code: str, now: datetime) -> Redemption:
    """Link the account to the invite's roster entry. Anything but success changes nothing except
    the failure count (which is what rate-limits guessing)."""
    retry_at = locked_until(db, platform, user_id, now)
    if retry_at is not None:
        return Redemption("rate_limited", retry_at=retry_at)
    who = f"{platform}:{user_id}"
    normal = normalise_code(code)
    if not well_formed(normal):
        # A typo in the shape (too short, a letter that codes never hold) cannot be a guess at a real
        # code: it is explained, and does not count toward the lock-out.
        return Redemption("malformed")
    invite = db.scalar(select(Invite).where(Invite.code_hash == hash_code(normal)))
    person = db.get(Person, invite.person_id) if invite is not None else None
    if invite is None or person is None or person.erased_at is not None:
        return _failed(db, platform, user_id, now, "unknown")
    if invite.used_at is not None:
        if invite.used_by == who and person.active:
            return Redemption("linked", person)  # the same account opening its link twice: harmless
        return _failed(db, platform, user_id, now, "used")
    if invite.expires_at <= now:
        return _failed(db, platform, user_id, now, "expired")
    if invite.pending_by is not None:
        if invite.pending_by == who:
            return Redemption("pending", person)
        return _failed(db, platform, user_id, now, "used")
    ident = db.scalar(select(Identity).where(Identity.platform == platform, Identity.platform_user_id == user_id))
    if ident is not None and ident.person_id != person.id:
        other = ident.person
        if other.active and other.erased_at is None:
            # Never silently move an account from one member to another: one account, one person.
            return Redemption("other_account", other)
    if _replaced(person, platform, user_id):
        # The entry already has an account on this platform: an ANT must confirm the change, or an
        # invitation would let anyone take over a member's place.
        invite.pending_by, invite.pending_at = who, now
        audit.record(
            db,
            now,
            "identity.pending",
            office_id=person.office_id,
            target=person.slug,
            detail=f"{who} attend une confirmation (invitation n°{invite.id})",
        )
        return Redemption("pending", person)
    membership.link_identity(db, person, platform, user_id, now)
    invite.used_at, invite.used_by = now, who
    reactivated = not person.active
    person.active = True
    audit.record(
        db,
        now,
        "invite.redeem",
        actor=person,
        office_id=person.office_id,
        target=person.slug,
        detail=f"{who} relié (invitation n°{invite.id})" + (", accès rétabli" if reactivated else ""),
    )
    return Redemption("linked", person, reactivated=reactivated)


def pending_invite(db: Session, person: Person) -> Invite | None:
    return db.scalar(
        select(Invite)
        .where(Invite.person_id == person.id, Invite.pending_by.is_not(None), Invite.used_at.is_(None))
        .order_by(Invite.pending_at.desc(), Invite.id.desc())
        .limit(1)
    )


def _replaced(person: Person, platform: str, user_id: str) -> list[Identity]:
    return [i for i in person.identities if i.platform == platform and i.platform_user_id != user_id]


@dataclass(frozen=True)
class Confirmation:
    person: Person
    account: str  # "telegram:123", the newly linked account
    unlinked: tuple[str, ...]  # the platform user ids of the accounts it replaces
    removals: tuple[MemberAction, ...]  # the old accounts out of the office's groups


def confirm(
    db: Session, *, invite_id: int, offices: set[str], now: datetime, actor: Person, platforms: set[str]
) -> Confirmation:
    """An ANT confirms that the account waiting on invitation `invite_id` replaces the entry's account
    on that platform: the old one is unlinked and taken out of the groups, the new one linked."""
    invite = db.get(Invite, invite_id)
    if invite is None or invite.office_id not in offices or invite.pending_by is None or invite.used_at is not None:
        raise GateError("gate.nothing_pending", number=invite_id)
    if invite.expires_at <= now:
        raise GateError("gate.pending_expired", number=invite_id)
    person = db.get(Person, invite.person_id)
    if person is None or person.erased_at is not None:
        raise GateError("gate.nothing_pending", number=invite_id)
    platform, _, user_id = invite.pending_by.partition(":")
    ident = db.scalar(select(Identity).where(Identity.platform == platform, Identity.platform_user_id == user_id))
    if ident is not None and ident.person_id != person.id and ident.person.active:
        raise GateError("gate.nothing_pending", number=invite_id)  # linked to someone else meanwhile
    old = _replaced(person, platform, user_id)
    removals = tuple(
        MemberAction(g.platform, g.chat_id, i.platform_user_id)
        for g in membership.office_groups(db, person.office_id, "equipe", platforms)
        + membership.office_groups(db, person.office_id, "prestataires", platforms)
        if g.platform == platform and g.platform != membership.CONSOLE
        for i in old
    )
    unlinked = tuple(i.platform_user_id for i in old)
    for i in old:
        person.identities.remove(i)
        db.delete(i)
    db.flush()
    membership.link_identity(db, person, platform, user_id, now)
    invite.used_at, invite.used_by = now, invite.pending_by
    person.active = True
    audit.record(
        db,
        now,
        "identity.replace",
        actor=actor,
        office_id=person.office_id,
        target=person.slug,
        detail=f"{invite.pending_by} relié, remplace {', '.join(f'{platform}:{u}' for u in unlinked)}"
        f" (invitation n°{invite.id})",
    )
    return Confirmation(person, invite.pending_by, unlinked, removals)


def _failed(db: Session, platform: str, user_id: str, now: datetime, outcome: Outcome) -> Redemption:
    db.add(GateAttempt(platform=platform, platform_user_id=user_id, at=now))
    log.info("code d'invitation refusé (%s) pour %s:%s", outcome, platform, user_id)
    return Redemption(outcome)


# -- join requests ------------------------------------------------------------------------------------

Reason = Literal["unknown", "revoked", "other_office", "role"]


@dataclass(frozen=True)
class JoinDecision:
    approve: bool
    private_message: Reply | None = None  # for the requester (declined: why, and what to do)
    staff_notices: tuple[OutMessage, ...] = ()  # already put in the outbox
    reason: Reason | None = None


def decide_join(
    app: App,
    platform: str,
    chat_id: str,
    user_id: str,
    *,
    display_name: str = "",
    language: str | None = None,
) -> JoinDecision:
    """Someone asked to join a group: linked people with the right role get in, others are told why
    in private while the équipe group and the audit log hear about it."""
    now = app.clock.now()
    with app.sessions.begin() as db:
        group = membership.find_group(db, platform, chat_id)
        if group is None:
            return JoinDecision(False)  # not one of ours: nothing to tell anyone
        office = db.get(Office, group.office_id)
        member = membership.resolve(db, platform, user_id, now, display_name)
        person = member.person
        reason: Reason | None = None
        if person is None:
            reason = "unknown"
        elif not person.active or person.erased_at is not None:
            reason = "revoked"
        elif person.office_id != group.office_id and member.role < Role.ADMIN:
            reason = "other_office"
        elif not may_join(member.role, group.kind):
            reason = "role"
        who = f"{platform}:{user_id}"
        target = person.slug if person is not None else who
        office_lang = office.language if office is not None else None
        if reason is None:
            audit.record(
                db, now, "join.approve", office_id=group.office_id, target=target, detail=f"{who} → {group.title}"
            )
            return JoinDecision(True)
        audit.record(
            db,
            now,
            "join.decline",
            office_id=group.office_id,
            target=target,
            detail=f"{who} → {group.title} : {reason}",
        )
        lang = pick_language(person.language if person else None, language, office_lang, app.config.language)
        private = Reply(t(lang, f"gate.join_declined.{reason}", group=group_title(group, lang)))
        staff_lang = pick_language(office_lang, app.config.language)
        label = display_name or (person.name if person is not None else "")
        notice = Reply(
            t(
                staff_lang,
                "gate.staff_declined",
                who=label or user_id,
                account=who,
                group=group_title(group, staff_lang),
                reason=t(staff_lang, f"gate.reason.{reason}"),
            )
        )
        notices = tuple(
            OutMessage(chat=ChatRef(g.platform, g.chat_id, title=g.title), reply=notice, meta={"kind": "gate"})
            for g in _staff_groups(db, app, group.office_id, platform)
        )
        for message in notices:
            app.outbox.put(message, db)  # with the decision and its audit line, in one transaction
    return JoinDecision(False, private, notices, reason)


def _staff_groups(db: Session, app: App, office_id: str, platform: str) -> list[Group]:
    groups = membership.office_groups(db, office_id, "equipe", app.reach)
    same = [g for g in groups if g.platform == platform]
    return same or groups


# -- revocation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    person: Person
    removals: tuple[MemberAction, ...]  # to put in the outbox (after commit, ideally)
    was_active: bool
    promoted: tuple[tuple[KlubSession, Person], ...] = ()  # seats handed to the waitlist: tell them

    @property
    def chats(self) -> int:
        return len({(a.platform, a.chat_id) for a in self.removals})


def revoke(
    db: Session,
    *,
    person: Person,
    now: datetime,
    platforms: set[str],
    actor: Person | None = None,
    actor_label: str = "",
) -> Revocation:
    """Access ends now: the person is inactive, their unused invites die, and every group of the
    office on every given platform gets a removal. Idempotent: revoking again re-sends the removals."""
    was_active = person.active
    person.active = False
    pending = db.scalars(
        select(Invite).where(Invite.person_id == person.id, Invite.used_at.is_(None), Invite.expires_at > now)
    )
    for invite in pending:
        invite.expires_at = now
    # Their seats on sessions to come go to the waitlists, as if they had unregistered.
    promoted = tuple(changes.withdraw_person(db, person, now))
    removals: list[MemberAction] = []
    groups = db.scalars(select(Group).where(Group.office_id == person.office_id).order_by(Group.id))
    for group in groups:
        if group.platform == membership.CONSOLE or group.platform not in platforms:
            continue
        for ident in person.identities:
            if ident.platform == group.platform:
                removals.append(MemberAction(group.platform, group.chat_id, ident.platform_user_id))
    audit.record(
        db,
        now,
        "person.revoke",
        actor=actor,
        actor_label=actor_label,
        office_id=person.office_id,
        target=person.slug,
        detail=f"{len(removals)} retrait(s) de groupe demandé(s)",
    )
    return Revocation(person, tuple(removals), was_active, promoted)
