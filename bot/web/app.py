"""The office dashboard as a Starlette app: routing, the per-request context, sessions, CSRF, error pages.

Pages are plain functions `(Web) -> Response`, run in a worker thread (the storage layer is synchronous,
and the adapters share the event loop). `Site.page` wraps each one with the checks every page needs, so a
page cannot forget them: the session cookie, CSRF on every POST, login and the minimum role. A refusal
rolls the transaction back: nothing is changed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session as Db
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import clubs, questions
from bot.app import App
from bot.bidi import strip_bidi
from bot.i18n import Safe, pick_language, t
from bot.roles import Role
from bot.storage.tables import Office, Person, Question, Session
from bot.timefmt import fmt_day, fmt_when, to_local
from bot.web import auth

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_BODY = 256 * 1024  # forms only: no uploads
MAX_ID = 2**63 - 1  # larger numbers in a URL are simply unknown, not a database overflow
Owned = TypeVar("Owned", Question, Session)
SECURITY_HEADERS = [
    # The login link carries a secret in its path: never send it on as a Referer.
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
]

_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean(text: str) -> str:
    """Typed text without control characters (NUL is refused by PostgreSQL) or lone surrogates."""
    return _CONTROLS.sub("", text)


def number(word: str) -> int | None:
    """A positive id typed in a URL or a form: ASCII digits only (« ² » passes str.isdigit()), 64-bit at most."""
    text = word.strip()
    if not text or len(text) > 19 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


PageFn = Callable[["Web"], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


class Refused(Exception):
    """A request we do not carry out, shown as a clear page (`web.error.<name>.title|text`)."""

    def __init__(self, status: int, name: str, **kwargs: object) -> None:
        super().__init__(name)
        self.status = status
        self.name = name
        self.kwargs = kwargs


@dataclass
class Web:
    """One request: who is asking, what they may see, and helpers for the pages."""

    site: Site
    request: Request
    form: FormData | None
    db: Db
    now: datetime
    session: dict[str, Any]
    session_changed: bool = False
    person: Person | None = None
    role: Role = Role.GUEST
    scope: tuple[str, ...] = ()  # the offices this person may see
    lang: str = "fr"
    _zones: dict[str, ZoneInfo] = field(default_factory=dict)

    @property
    def app(self) -> App:
        return self.site.app

    def t(self, key: str, **kwargs: object) -> Markup:
        # Catalog strings are trusted and t() escapes every argument: safe to mark as Markup.
        return Markup(t(self.lang, key, **kwargs))

    def text(self, key: str, **kwargs: object) -> str:
        """Plain text (for SVG, file names): the caller escapes it once, where it is used."""
        return str(t(self.lang, key, **{k: Safe(str(v)) for k, v in kwargs.items()}))

    # -- who and where ------------------------------------------------------------------------------

    def login(self, person: Person) -> None:
        """A fresh session (new CSRF token too): nothing from before the login carries over."""
        self.session = auth.new_session(self.now, person.id, auth.start_session(self.db, person, self.now))
        self.session_changed = True
        self._identify()

    def logout(self, everywhere: bool = False) -> None:
        """End this session on the server (a copy of the cookie stops working), or all of the person's."""
        if everywhere and self.person is not None:
            auth.end_all_sessions(self.db, self.person.id, self.now)
        auth.end_session(self.db, self.session.get("s"), self.now)
        self.session = auth.new_session(self.now)
        self.session_changed = True
        self.person, self.role, self.scope = None, Role.GUEST, ()

    def _identify(self) -> None:
        pid = self.session.get("p")
        person = self.db.get(Person, pid) if isinstance(pid, int) and 0 < pid <= MAX_ID else None
        if person is not None and not auth.session_open(self.db, self.session.get("s"), person.id, self.now):
            # Ended by a logout (here or elsewhere) or expired: an anonymous session from now on.
            self.session = auth.new_session(self.now)
            self.session_changed = True
            person = None
        role = auth.web_role(person)
        if person is None or role == Role.GUEST:
            self.person, self.role, self.scope = None, Role.GUEST, ()
            return
        self.person, self.role = person, role
        self.scope = tuple(sorted(questions.offices_of(self.db, person)))
        office = self.db.get(Office, person.office_id)
        self.lang = pick_language(person.language, office.language if office else None, self.app.config.language)

    def offices(self) -> list[Office]:
        return list(self.db.scalars(select(Office).where(Office.id.in_(self.scope)).order_by(Office.name)))

    def office_name(self, office_id: str) -> str:
        office = self.db.get(Office, office_id)
        return office.name if office else office_id

    def owned(self, table: type[Owned], number: int, unknown: str) -> Owned:
        """The question or session numbered in the URL: 404 if there is none, 403 if another office's."""
        row = self.db.get(table, number) if 0 < number <= MAX_ID else None
        if row is None:
            raise Refused(404, unknown, number=number)
        self.check_office(row.office_id)
        return row

    def check_office(self, office_id: str) -> str:
        if office_id not in self.scope:
            raise Refused(403, "other_office")
        return office_id

    def chosen_offices(self) -> tuple[str, ...]:
        """`?office=` narrows a coordinator's view to one office; another office's id is refused."""
        wanted = self.request.query_params.get("office", "")
        return (self.check_office(wanted),) if wanted else self.scope

    def zone(self, office_id: str) -> ZoneInfo:
        if office_id not in self._zones:
            self._zones[office_id] = clubs.zone_of(self.db, office_id)
        return self._zones[office_id]

    # -- formatting, forms, responses ---------------------------------------------------------------

    def when(self, moment: datetime, office_id: str) -> str:
        return fmt_when(moment, self.zone(office_id), self.lang)

    def day(self, moment: datetime, office_id: str) -> str:
        return fmt_day(moment, self.zone(office_id), self.lang)

    def stamp(self, moment: datetime, office_id: str) -> str:
        return to_local(moment, self.zone(office_id)).strftime("%d/%m/%Y %H:%M")

    def field(self, name: str, limit: int = 2000) -> str:
        value = self.form.get(name, "") if self.form is not None else ""
        return clean(value).strip()[:limit] if isinstance(value, str) else ""

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [clean(v) for v in self.form.getlist(name) if isinstance(v, str)]

    def param(self, name: str, limit: int = 200) -> str:
        """A query-string value, cleaned like a form field."""
        return clean(self.request.query_params.get(name, "")).strip()[:limit]

    def redirect(self, path: str, flash: str | None = None) -> RedirectResponse:
        if flash:
            path += ("&" if "?" in path else "?") + urlencode({"ok": flash})
        return RedirectResponse(path, status_code=303)

    def base_context(self) -> dict[str, Any]:
        flash = self.request.query_params.get("ok", "")
        return {
            "t": self.t,
            "web": self,
            "me": self.person,
            "csrf": self.session.get("c", ""),
            "path": self.request.url.path,
            "multi": len(self.scope) > 1,
            "flash": self.t(f"web.flash.{flash}") if flash in FLASHES else None,
            "lang": self.lang,
        }

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.site.env.get_template(template).render({**self.base_context(), **context})
        return HTMLResponse(html, status_code=status)


FLASHES = frozenset(
    {"status", "dismissed", "merged", "attendance", "calendar", "calendar_off", "logout", "logout_all", "welcome"}
    | {"note"}
)
# The live agenda, the compte rendu, bulk actions and the tutorial form (bot/web/live.py and neighbours).
FLASHES |= {"live_answer", "live_postpone", "live_dismiss", "live_merge", "report", "bulk", "tutorial"}


class Site:
    """What every request shares: the App, the template environment, the cookie signer."""

    def __init__(self, app: App, secret: bytes | None = None) -> None:
        self.app = app
        if secret is None:
            secret, persistent = auth.secret_from(app.config.web)
            if not persistent:
                log.warning(
                    "variable %s absente : secret de session aléatoire, les connexions au tableau de bord "
                    "ne survivront pas à un redémarrage",
                    app.config.web.secret_env,
                )
        self.signer = auth.Signer(secret)
        self.secure = app.config.web.base_url.lower().startswith("https://")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_displayed,
        )

    def page(self, fn: PageFn, *, login: bool = True, role: Role = Role.STAFF) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            form: FormData | None = None
            if request.method == "POST":
                try:
                    form = await request.form(max_files=0, max_fields=500)
                except Exception:  # malformed or oversized multipart: refuse, change nothing
                    return self.plain_error(request, Refused(400, "bad_form"))
            return await run_in_threadpool(self._run, fn, request, form, login, role)

        return endpoint

    def _run(self, fn: PageFn, request: Request, form: FormData | None, login: bool, role: Role) -> Response:
        db = self.app.sessions()
        try:
            now = self.app.clock.now()
            raw = request.cookies.get(auth.COOKIE, "")
            data = self.signer.loads(raw) if raw else None
            fresh = not auth.session_valid(data, now)
            session = auth.new_session(now) if fresh or data is None else data
            web = Web(self, request, form, db, now, session, session_changed=fresh, lang=self.app.config.language)
            web._identify()
            try:
                if form is not None and not auth.csrf_ok(session, web.field("csrf", 200)):
                    raise Refused(403, "csrf")
                if login and web.person is None:
                    raise Refused(401, "login_needed")
                if login and web.role < role:
                    raise Refused(403, "role", role=web.t(f"role.{role.key}"))
                response = fn(web)
                db.commit()
            except Refused as exc:
                db.rollback()
                response = self.error_page(web, exc)
            except Exception:
                # A bug, not the visitor's fault: logged, nothing changed, and the page keeps its menu.
                log.exception("erreur du tableau de bord sur %s", redact(request.url.path))
                db.rollback()
                response = self.error_page(web, Refused(500, "internal"))
            if web.session_changed:
                response.set_cookie(
                    auth.COOKIE,
                    self.signer.dumps(web.session),
                    max_age=int(auth.SESSION_TTL.total_seconds()),
                    httponly=True,
                    samesite="lax",
                    secure=self.secure,
                    path="/",
                )
            # Office data, login pages and CSRF tokens stay out of every cache (shared or the browser's).
            response.headers["cache-control"] = "no-store"
            return response
        except Exception:
            db.rollback()
            raise
        finally:
            db.close()

    def error_page(self, web: Web, exc: Refused) -> HTMLResponse:
        return web.render(
            "error.html",
            status=exc.status,
            title=web.t(f"web.error.{exc.name}.title"),
            text=web.t(f"web.error.{exc.name}.text", **exc.kwargs),
            error=exc.name,
        )

    def plain_error(self, request: Request, exc: Refused) -> HTMLResponse:
        """An error page outside any session (unknown URL, crash): French, no office data."""
        lang = self.app.config.language

        def tr(key: str, **kwargs: object) -> Markup:
            return Markup(t(lang, key, **kwargs))

        html = self.env.get_template("error.html").render(
            t=tr,
            web=None,
            me=None,
            csrf="",
            path=request.url.path,
            multi=False,
            flash=None,
            lang=lang,
            title=tr(f"web.error.{exc.name}.title"),
            text=tr(f"web.error.{exc.name}.text", **exc.kwargs),
            error=exc.name,
        )
        return HTMLResponse(html, status_code=exc.status)


def _displayed(value: Any) -> Any:
    """Every {{ … }} of every template: user text loses its bidi controls before it is escaped."""
    return strip_bidi(value) if isinstance(value, str) else value


class SecurityHeaders:
    """Headers every response gets, static files and error pages included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_app(app: App, *, secret: bytes | None = None) -> Starlette:
    """The dashboard for `app`. `secret` signs the session cookie (default: the env var, else random)."""
    from bot.web import bulk, diagnostic, klubs, live, login, overview, question_log, tutorials

    site = Site(app, secret)
    routes: list[BaseRoute] = []
    for module in (login, overview, live, bulk, tutorials, question_log, klubs, diagnostic):
        routes.extend(module.routes(site))
    routes.append(Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return site.plain_error(request, Refused(status, "not_found" if status == 404 else "bad_request"))

    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("erreur du tableau de bord sur %s", redact(request.url.path), exc_info=exc)
        return site.plain_error(request, Refused(500, "internal"))

    starlette = Starlette(
        routes=routes,
        exception_handlers={HTTPException: not_found, Exception: crashed},
        max_body_size=MAX_BODY,
    )
    starlette.add_middleware(SecurityHeaders)
    return starlette


def redact(path: str) -> str:
    """Login and calendar paths hold secrets: they never reach a log."""
    for prefix in ("/login/", "/ics/"):
        if path.startswith(prefix):
            return prefix + "…"
    return path


def route(path: str, endpoint: Endpoint, methods: Iterable[str] = ("GET",)) -> Route:
    return Route(path, endpoint, methods=list(methods))
