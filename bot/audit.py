"""The audit log: who approved, revoked, announced, cancelled, exported, erased — and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.storage.tables import AuditLog, Person


def record(
    db: Session,
    at: datetime,
    action: str,
    *,
    actor: Person | None = None,
    actor_label: str = "",
    office_id: str | None = None,
    target: str = "",
    detail: str = "",
) -> None:
    label = actor_label or (f"{actor.name} ({actor.slug})" if actor is not None else "système")
    db.add(
        AuditLog(
            at=at,
            office_id=office_id,
            actor_id=actor.id if actor is not None else None,
            actor=label,
            action=action,
            target=target,
            detail=detail,
        )
    )
