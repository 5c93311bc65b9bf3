"""The whole domain of DESIGN.md as SQLAlchemy 2 typed tables. Every datetime is stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out — also on SQLite, which keeps no offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused by storage")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Autoincrement ids are BIGINT on PostgreSQL and INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Territory(Base):
    __tablename__ = "territories"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Office(Base):
    __tablename__ = "offices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    territory_id: Mapped[str | None] = mapped_column(ForeignKey("territories.id"))
    language: Mapped[str | None] = mapped_column(String(8))
    ics_token: Mapped[str | None] = mapped_column(String(64), unique=True)


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    business: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="provider")
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False once access is revoked
    created_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]  # GDPR erasure: personal fields blanked, row kept for history

    identities: Mapped[list[Identity]] = relationship(back_populates="person", cascade="all, delete-orphan")


class Identity(Base):
    """One platform account of a person (a person may have several: Telegram and Discord)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(64))  # 64-bit ids kept as text
    display_name: Mapped[str] = mapped_column(String(200), default="")
    linked_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship(back_populates="identities")


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # equipe | prestataires
    title: Mapped[str] = mapped_column(String(200), default="")
    guild_id: Mapped[str | None] = mapped_column(String(64))
    role_id: Mapped[str | None] = mapped_column(String(64))


class Invite(Base):
    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(128), unique=True)  # only a hash of the code is kept
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(96))  # "telegram:123"
    # An account that redeemed the code for an entry already linked on its platform: it waits for an
    # ANT's /confirmer before the old account is unlinked.
    pending_by: Mapped[str | None] = mapped_column(String(96))
    pending_at: Mapped[datetime | None]


class GateAttempt(Base):
    """Failed invite-code attempts, for per-account rate limiting."""

    __tablename__ = "gate_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    __table_args__ = (Index("ix_gate_attempts_who", "platform", "platform_user_id", "at"),)


class SessionSeries(Base):
    __tablename__ = "session_series"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slug: Mapped[str | None] = mapped_column(String(64), unique=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="klub")
    rrule: Mapped[str] = mapped_column(Text)  # RFC 5545 RRULE, expanded in the office's local time
    start_local: Mapped[str] = mapped_column(String(16))  # "2026-10-01T18:30", wall-clock time of the office
    duration_minutes: Mapped[int] = mapped_column(Integer, default=120)
    location: Mapped[str] = mapped_column(String(300), default="")
    video_url: Mapped[str] = mapped_column(String(500), default="")
    capacity: Mapped[int | None] = mapped_column(Integer)
    min_attendance: Mapped[int | None] = mapped_column(Integer)
    audience: Mapped[str] = mapped_column(String(16), default="prestataires")  # the group it is for
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Session(Base):
    """One occurrence: of a series (occurrence_key = its original local date) or a one-off."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("series_id", "occurrence_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id"), index=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("session_series.id", ondelete="SET NULL"))
    occurrence_key: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="klub")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=120)
    location: Mapped[str] = mapped_column(String(300), default="")
    video_url: Mapped[str] = mapped_column(String(500), default="")
    capacity: Mapped[int | None] = mapped_column(Integer)
    min_attendance: Mapped[int | None] = mapped_column(Integer)
    audience: Mapped[str] = mapped_column(String(16), default="prestataires")  # prestataires | equipe
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled|moved|cancelled|held
    cancel_reason: Mapped[str | None] = mapped_column(String(300))
    announced_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(Integer, default=0)  # iCalendar SEQUENCE: bumped on every change
    discord_event_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("session_id", "person_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # yes | no | waitlist
    attended: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Question(Base):
    __tablename__ = "questions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"), index=True)
    source: Mapped[str] = mapped_column(String(24))  # advance | faq_miss | low_confidence | not_useful
    status: Mapped[str] = mapped_column(String(24), default="open")
    text: Mapped[str] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(String(16), default="")
    chat_kind: Mapped[str] = mapped_column(String(16), default="")  # prive | equipe | prestataires
    matched_entry: Mapped[str | None] = mapped_column(String(128))
    match_score: Mapped[float | None] = mapped_column(Float)
    answer_note: Mapped[str | None] = mapped_column(Text)
    dismiss_reason: Mapped[str | None] = mapped_column(String(300))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="SET NULL"))
    theme: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime]


class QuestionEvent(Base):
    """The history of a question: created, edited, voted, answered, merged…"""

    __tablename__ = "question_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class Vote(Base):
    __tablename__ = "votes"
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime]


class FaqFeedback(Base):
    __tablename__ = "faq_feedback"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    office_id: Mapped[str | None] = mapped_column(ForeignKey("offices.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    entry_id: Mapped[str] = mapped_column(String(128))
    query: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    useful: Mapped[bool | None] = mapped_column(Boolean)  # None until the person answers
    at: Mapped[datetime]


class OutboxRow(Base):
    """One outbound message or member action, written in the transaction that decided it.

    pending -> claimed (by an instance, with a lease) -> sending (own commit, just before the platform
    call) -> sent | failed | uncertain; reminders may also end dropped (too late) or skipped. A row found
    'sending' after its sender died may have reached the platform: it becomes uncertain, never retried.
    Reminders carry (session_id, offset_key, recipient), unique: the outbox is also the reminder ledger.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("session_id", "offset_key", "recipient"),
        Index("ix_outbox_platform_status", "platform", "status"),
        Index("ix_outbox_status_created", "status", "created_at"),  # the token sweep: open rows by age
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON: the reply and its meta
    status: Mapped[str] = mapped_column(String(16), default="pending")
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]  # reminders: past this (due + grace) it is dropped, not sent
    sent_at: Mapped[datetime | None]
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    offset_key: Mapped[str | None] = mapped_column(String(32))  # "group:7d@…", "private:2h@…", "alert:3d@…"
    recipient: Mapped[str | None] = mapped_column(String(96))  # "group:12" or "person:34"
    due_at: Mapped[datetime | None]


Delivery = OutboxRow  # the reminder ledger is the outbox


class InboxRow(Base):
    """An incoming platform update, stored before the platform is told it was received."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("platform", "key"),
        Index("ix_inbox_platform_status", "platform", "status"),
        Index("ix_inbox_status_received", "status", "received_at"),  # the token sweep: pending rows by age
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))  # the platform's update id
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


class InstanceRow(Base):
    """A running `klub run`: its heartbeat tells the others whether its claims are still held."""

    __tablename__ = "instances"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    platforms: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    office_id: Mapped[str | None] = mapped_column(String(64), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(200), default="")  # readable label, kept after erasure
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class ConversationState(Base):
    """A guided dialogue in progress (e.g. /klub), keyed by person and chat; survives restarts."""

    __tablename__ = "conversation_state"
    __table_args__ = (UniqueConstraint("person_id", "platform", "chat_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    updated_at: Mapped[datetime]


class WebSession(Base):
    """A signed-in dashboard session. The cookie holds a random key whose hash is here: logging out (or out
    everywhere) ends the row, and a copy of the cookie stops working at once."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class LoginToken(Base):
    """One-time login links for the office dashboard."""

    __tablename__ = "login_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


# -- Le diagnostic numérique --------------------------------------------------------------------------


class DiagnosticRun(Base):
    """One provider's questionnaire for one campaign (year): answers so far, scores once completed."""

    __tablename__ = "diagnostic_runs"
    __table_args__ = (Index("ix_diagnostic_runs_office_campaign", "office_id", "campaign"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id"))
    campaign: Mapped[int] = mapped_column(Integer)  # the year of the campaign
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    scores: Mapped[str] = mapped_column(Text, default="")  # JSON {axis: 0..100}, written on completion


class DiagnosticAnswer(Base):
    __tablename__ = "diagnostic_answers"
    __table_args__ = (UniqueConstraint("run_id", "question_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("diagnostic_runs.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[str] = mapped_column(String(40))
    answer_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime]


class DiagnosticAction(Base):
    """A line of a provider's action plan; one per question, kept from one campaign to the next."""

    __tablename__ = "diagnostic_actions"
    __table_args__ = (UniqueConstraint("person_id", "question_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[str] = mapped_column(String(40))
    axis: Mapped[str] = mapped_column(String(40))
    weight: Mapped[int] = mapped_column(Integer, default=0)  # points missing: the plan's order
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    done_how: Mapped[str] = mapped_column(String(16), default="")  # ticked | diagnostic
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class DiagnosticCampaign(Base):
    """The ANT sent the questionnaire to the office's providers (or one category); a reminder follows."""

    __tablename__ = "diagnostic_campaigns"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id"), index=True)
    campaign: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(64), default="")  # "" = every provider
    sent_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime]
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    remind_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
