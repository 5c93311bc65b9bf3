"""Question → tutorial as a form: checked by the FAQ loader, previewed as the chat shows it, saved in the
office's own layer of the base, and used by the running bot at once (the index is reloaded).

Who wrote or changed which tutorial is in the audit log (`faq.tutorial`), shown under the form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from starlette.responses import Response
from starlette.routing import BaseRoute

from bot import audit, drafts
from bot.faq import editor
from bot.roles import Role
from bot.storage.tables import AuditLog, Question
from bot.web.app import Site, Web, route


def office_layer(web: Web) -> Path:
    """The office's own layer: the last folder of `faq.bases` (later folders override earlier ones)."""
    return Path(web.app.config.faq.bases[-1])


def _question(web: Web) -> Question:
    return web.owned(Question, web.request.path_params["number"], "unknown_question")


def _from_entry(q: Question, path: Path | None, web: Web) -> editor.Draft:
    """The form filled from the file already written for this question, else from the question itself."""
    entry = next((e for e in web.app.faq.base.entries if path and Path(e.source).resolve() == path.resolve()), None)
    if entry is not None:
        return editor.Draft(
            id=entry.id,
            theme=entry.theme,
            question=entry.question,
            alternatives=list(entry.alternatives),
            steps=editor.steps_of(entry.answer),
            links=[(link.title, link.url) for link in entry.links],
            tags=list(entry.tags),
        )
    note = editor.steps_of(q.answer_note or "")
    return editor.Draft(id=drafts.slugify(q.text), theme=q.theme or "", question=q.text, steps=note)


def _from_form(web: Web) -> editor.Draft:
    links, bad = editor.parse_links(web.field("links", 4000))
    tags = [w.strip().lower() for w in web.field("tags", 500).replace(";", ",").split(",") if w.strip()]
    draft = editor.Draft(
        id=web.field("id", 80) or drafts.slugify(web.field("question", 300)),
        theme=web.field("theme", 80),
        question=web.field("question", 300),
        alternatives=editor.lines(web.field("alternatives", 3000), 12),
        steps=editor.steps_of(web.field("steps", 6000)),
        links=links,
        tags=tags[:12],
    )
    draft.problems += [f"Ligne de lien sans adresse http(s) : « {line} »" for line in bad]
    return draft


def _history(web: Web, q: Question) -> list[AuditLog]:
    return list(
        web.db.scalars(
            select(AuditLog)
            .where(AuditLog.action == "faq.tutorial", AuditLog.target == f"question:{q.id}")
            .order_by(AuditLog.at.desc(), AuditLog.id.desc())
            .limit(30)
        )
    )


def _render(web: Web, q: Question, draft: editor.Draft, own: Path | None, preview: Markup | None) -> Response:
    context: dict[str, Any] = {
        "q": q,
        "d": draft,
        "own": own.name if own else None,
        "layer": office_layer(web).name,
        "preview": preview,
        "history": _history(web, q),
        "can_act": web.role >= Role.ANT,
    }
    return web.render("tutorial.html", nav="questions", status=400 if draft.problems else 200, **context)


def form_page(web: Web) -> Response:
    q = _question(web)
    own = editor.find(office_layer(web), q.id)
    return _render(web, q, _from_entry(q, own, web), own, None)


def submit(web: Web) -> Response:
    q = _question(web)
    layer = office_layer(web)
    own = editor.find(layer, q.id)
    draft = _from_form(web)
    entry = editor.check(draft, web.app.faq.base, own) if not draft.problems else None
    if entry is None:
        return _render(web, q, draft, own, None)
    preview = Markup(str(web.app.faq.render(entry, web.lang)).replace("\n", "<br>"))  # the chat's HTML subset
    if web.field("do", 20) != "save":
        return _render(web, q, draft, own, preview)
    path, created = editor.save(draft, layer, q.id, own)
    web.app.faq.reload()  # the running bot answers with it from the next message on
    audit.record(
        web.db,
        web.now,
        "faq.tutorial",
        actor=web.person,
        office_id=q.office_id,
        target=f"question:{q.id}",
        detail=f"{'créé' if created else 'modifié'} : {entry.id} ({layer.name}/{path.name})",
    )
    return web.redirect(f"/questions/{q.id}/tutorial", "tutorial")


def list_page(web: Web) -> Response:
    """The tutorials written from the dashboard and the YAML drafts waiting in drafts/."""
    layer = office_layer(web)
    mine = []
    for done, path in editor.written(layer):
        q = web.db.get(Question, done)
        if q is not None and q.office_id in web.scope:
            mine.append((q, path.name))
    folder = Path(web.app.config.faq.bases[0]) / "drafts"
    waiting = []
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
        number = drafts.question_of(path)
        q = web.db.get(Question, number) if number else None
        if q is not None and q.office_id in web.scope:
            waiting.append((q, path.name))
    return web.render("tutorials.html", nav="questions", mine=mine, waiting=waiting, layer=layer.name)


def routes(site: Site) -> list[BaseRoute]:
    ant = Role.ANT
    return [
        route("/tutorials", site.page(list_page)),
        route("/questions/{number:int}/tutorial", site.page(form_page)),
        route("/questions/{number:int}/tutorial", site.page(submit, role=ant), methods=("POST",)),
    ]
