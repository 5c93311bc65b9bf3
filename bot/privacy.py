"""GDPR: give a person their data, and erase it (their questions stay, anonymised)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session as Db

from bot import audit
from bot.storage.tables import (
    AuditLog,
    ConversationState,
    DiagnosticAction,
    DiagnosticAnswer,
    DiagnosticCampaign,
    DiagnosticRun,
    FaqFeedback,
    GateAttempt,
    Identity,
    Invite,
    LoginToken,
    Person,
    Question,
    QuestionEvent,
    Registration,
    Session,
    Vote,
)


def export(db: Db, person: Person) -> dict[str, Any]:
    def iso(when: datetime | None) -> str | None:
        return when.isoformat() if when else None

    regs = db.scalars(select(Registration).where(Registration.person_id == person.id))
    return {
        "personne": {
            "identifiant": person.slug,
            "nom": person.name,
            "établissement": person.business,
            "catégorie": person.category,
            "office": person.office_id,
            "rôle": person.role,
            "langue": person.language,
            "actif": person.active,
            "créé le": iso(person.created_at),
        },
        "comptes": [
            {
                "plateforme": i.platform,
                "identifiant": i.platform_user_id,
                "nom affiché": i.display_name,
                "relié le": iso(i.linked_at),
                "vu le": iso(i.last_seen_at),
            }
            for i in person.identities
        ],
        "inscriptions": [
            {
                "séance": r.session_id,
                "titre": (s.title if (s := db.get(Session, r.session_id)) else ""),
                "statut": r.status,
                "le": iso(r.updated_at),
            }
            for r in regs
        ],
        "questions": [
            {
                "n°": q.id,
                "texte": q.text,
                "anonyme": q.anonymous,
                "source": q.source,
                "statut": q.status,
                "posée le": iso(q.created_at),
                "note de réponse": q.answer_note,
            }
            for q in db.scalars(select(Question).where(Question.person_id == person.id).order_by(Question.id))
        ],
        "votes": [v.question_id for v in db.scalars(select(Vote).where(Vote.person_id == person.id))],
        "diagnostics": [
            {
                "campagne": run.campaign,
                "commencé le": iso(run.started_at),
                "terminé le": iso(run.completed_at),
                "scores": json.loads(run.scores) if run.scores else {},
                "réponses": {
                    a.question_id: a.answer_id
                    for a in db.scalars(select(DiagnosticAnswer).where(DiagnosticAnswer.run_id == run.id))
                },
            }
            for run in db.scalars(
                select(DiagnosticRun).where(DiagnosticRun.person_id == person.id).order_by(DiagnosticRun.id)
            )
        ],
        "plan d'actions": [
            {"question": a.question_id, "statut": a.status, "faite le": iso(a.done_at)}
            for a in db.scalars(select(DiagnosticAction).where(DiagnosticAction.person_id == person.id))
        ],
        "avis sur les tutoriels": [
            {"tutoriel": f.entry_id, "question": f.query, "utile": f.useful, "le": iso(f.at)}
            for f in db.scalars(select(FaqFeedback).where(FaqFeedback.person_id == person.id))
        ],
    }


def export_json(db: Db, person: Person) -> str:
    return json.dumps(export(db, person), ensure_ascii=False, indent=2)


def forget(db: Db, person: Person, now: datetime, actor_label: str) -> int:
    """Blank every personal field; detach the person from questions (kept, anonymised). Returns questions kept."""
    kept = 0
    for q in db.scalars(select(Question).where(Question.person_id == person.id)):
        q.person_id, q.anonymous = None, True
        kept += 1
    for fb in db.scalars(select(FaqFeedback).where(FaqFeedback.person_id == person.id)):
        fb.person_id = None
    db.execute(delete(QuestionEvent).where(QuestionEvent.actor_id == person.id))
    db.execute(delete(Vote).where(Vote.person_id == person.id))
    db.execute(delete(Registration).where(Registration.person_id == person.id))
    db.execute(delete(Invite).where(Invite.person_id == person.id))
    db.execute(delete(LoginToken).where(LoginToken.person_id == person.id))
    db.execute(delete(ConversationState).where(ConversationState.person_id == person.id))
    run_ids = select(DiagnosticRun.id).where(DiagnosticRun.person_id == person.id)
    db.execute(delete(DiagnosticAnswer).where(DiagnosticAnswer.run_id.in_(run_ids)))
    db.execute(delete(DiagnosticRun).where(DiagnosticRun.person_id == person.id))
    db.execute(delete(DiagnosticAction).where(DiagnosticAction.person_id == person.id))
    db.execute(update(DiagnosticCampaign).where(DiagnosticCampaign.sent_by == person.id).values(sent_by=None))
    for ident in list(person.identities):
        db.execute(
            delete(GateAttempt).where(
                GateAttempt.platform == ident.platform, GateAttempt.platform_user_id == ident.platform_user_id
            )
        )
    db.execute(delete(Identity).where(Identity.person_id == person.id))
    db.execute(update(AuditLog).where(AuditLog.actor_id == person.id).values(actor="(personne effacée)"))
    person.name, person.business, person.category, person.language = "(effacé)", "", "", None
    # The roster key stays (it is the office's own label, from its config): a restart must not re-create
    # from the config someone who asked to be forgotten.
    person.active, person.erased_at = False, now
    audit.record(
        db, now, "person.erase", actor_label=actor_label, office_id=person.office_id, target=f"person:{person.id}"
    )
    db.flush()
    db.expire(person, ["identities"])
    return kept
