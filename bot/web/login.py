"""Login through a one-time link, and logout.

Opening the link only shows a « Se connecter » button; the link is used by the POST. Chat platforms
fetch links to draw previews, and a GET that consumed the token would burn it before the person clicks.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from bot import audit
from bot.storage.tables import Office, Person
from bot.web import auth
from bot.web.app import Refused, Site, Web, route

_PROBLEM_STATUS = {"unknown": 404, "expired": 410, "used": 410, "refused": 403}


def _refuse(problem: str) -> Refused:
    return Refused(_PROBLEM_STATUS[problem], f"link_{problem}")


def confirm(web: Web) -> Response:
    token = web.request.path_params["token"]
    found = auth.check_link(web.db, token, web.now)
    if isinstance(found, str):
        raise _refuse(found)
    person = web.db.get(Person, found.person_id)
    office = web.db.get(Office, person.office_id) if person else None
    minutes = max(1, int((found.expires_at - web.now).total_seconds() // 60))
    return web.render("login.html", token=token, office=office.name if office else "", minutes=minutes)


def enter(web: Web) -> Response:
    token = web.request.path_params["token"]
    person = auth.redeem(web.db, token, web.now)
    if isinstance(person, str):
        raise _refuse(person)
    web.login(person)
    audit.record(web.db, web.now, "web.login", actor=person, office_id=person.office_id)
    return web.redirect("/", "welcome")


def how_to(web: Web) -> Response:
    """Where the logout lands, and what anyone opening the site without a link reads."""
    return web.render("how_to.html")


def leave(web: Web) -> Response:
    if web.person is not None:
        audit.record(web.db, web.now, "web.logout", actor=web.person, office_id=web.person.office_id)
    web.logout()
    return web.redirect("/login", "logout")


def leave_everywhere(web: Web) -> Response:
    """« Se déconnecter partout »: a phone left logged in somewhere is logged out too."""
    person = web.person
    assert person is not None  # the page needs a login
    audit.record(web.db, web.now, "web.logout_all", actor=person, office_id=person.office_id)
    web.logout(everywhere=True)
    return web.redirect("/login", "logout_all")


def routes(site: Site) -> list[BaseRoute]:
    return [
        route("/login", site.page(how_to, login=False)),
        route("/login/{token}", site.page(confirm, login=False)),
        route("/login/{token}", site.page(enter, login=False), methods=("POST",)),
        route("/logout", site.page(leave, login=False), methods=("POST",)),
        route("/logout/all", site.page(leave_everywhere), methods=("POST",)),
    ]
