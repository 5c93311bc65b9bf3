"""`/klub` without arguments, in private: the ANT is asked step by step, then the one-line form is run.

Every step is checked with the same parsers as the one-line form (dates, times, recurrences), and the
session is finally created by that very form, so both ways accept and refuse exactly the same things.
The state lives in the database (bot.dialogs): a restart in the middle loses nothing.
"""

from __future__ import annotations

import shlex
import unicodedata
from typing import Any

from bot import clubs, dialogs
from bot.clubs import ClubError
from bot.core import Ctx
from bot.i18n import Safe
from bot.messages import Button, Reply
from bot.timefmt import TimeInputError, parse_date, parse_local, parse_time

FLOW = "klub"
KINDS = ("klub", "atelier", "conference")
STEPS = ("type", "titre", "quand", "mois", "heure", "lieu", "places", "confirmer")
_CANCEL = {"annuler", "abandonner", "stop", "cancel", "quit"}
_NONE = {"aucun", "aucune", "non", "none", "-", "sans", "sans limite", "illimite", "no"}
MAX_TITLE = 200
MAX_PLACES = 10000


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def start(ctx: Ctx) -> list[Reply]:
    if not ctx.private:  # in a group the dialogue would catch the group's chatter: the one-line form
        return [Reply(Safe(ctx.t("klub.create_usage") + "\n" + ctx.t("guide.private_only")))]
    dialogs.save(ctx, FLOW, {"step": "type", "opts": {}})
    return _prompt(ctx, "type", {}, intro=True)


def _prompt(ctx: Ctx, step: str, opts: dict[str, str], *, intro: bool = False) -> list[Reply]:
    lines = [ctx.t("guide.intro")] if intro else []
    rows: tuple[tuple[Button, ...], ...] = ()
    if step == "type":
        rows = tuple((Button(ctx.t(f"klub.kind_{k}"), f"/etape {k}"),) for k in KINDS)
    elif step == "titre":
        rows = (
            (
                Button(
                    ctx.t(f"klub.kind_{opts.get('type', 'klub')}"),
                    f"/etape {ctx.t('klub.kind_' + opts.get('type', 'klub'))}",
                ),
            ),
        )
    elif step == "mois":
        rows = (
            (
                Button(ctx.t("guide.months_season"), "/etape octobre-avril"),
                Button(ctx.t("guide.months_all"), "/etape toute l'année"),
            ),
        )
    elif step == "lieu":
        rows = ((Button(ctx.t("guide.no_place"), "/etape aucun"),),)
    elif step == "places":
        rows = ((Button(ctx.t("guide.no_limit"), "/etape sans limite"),),)
    elif step == "confirmer":
        lines.append(ctx.t("guide.recap", command=command_of(opts)))
        rows = (
            (
                Button(ctx.t("guide.button_create"), "/etape oui"),
                Button(ctx.t("guide.button_cancel"), "/etape annuler"),
            ),
        )
    lines.append(ctx.t(f"guide.ask_{step}"))
    if step != "confirmer":
        rows += ((Button(ctx.t("guide.button_cancel"), "/etape annuler"),),)
    return [Reply(Safe("\n".join(lines)), buttons=rows)]


def command_of(opts: dict[str, str]) -> str:
    """The one-line form the answers amount to: shown in the recap, then run as is."""
    order = ("titre", "type", "date", "quand", "mois", "heure", "lieu", "lien", "places")
    return "/klub " + " ".join(f"{k}={shlex.quote(opts[k])}" for k in order if opts.get(k))


def _next(step: str, opts: dict[str, str]) -> str:
    following = STEPS[STEPS.index(step) + 1]
    if following == "mois" and "quand" not in opts:
        return "heure"  # a single date has no months to choose
    return following


def _take(ctx: Ctx, step: str, value: str, opts: dict[str, str]) -> None:
    """Check one answer with the one-line form's rules and keep it; ClubError or TimeInputError otherwise."""
    plain = _plain(value)
    if step == "type":
        by_name = {_plain(ctx.t(f"klub.kind_{k}")): k for k in KINDS} | {k: k for k in KINDS}
        by_name |= {str(i): k for i, k in enumerate(KINDS, 1)} | {"conférence": "conference"}
        if plain not in by_name:
            raise ClubError("guide.bad_type")
        opts["type"] = by_name[plain]
    elif step == "titre":
        if not value.strip() or len(value) > MAX_TITLE:
            raise ClubError("guide.bad_title", limit=MAX_TITLE)
        opts["titre"] = value.strip()
    elif step == "quand":
        try:
            parse_date(value)
            opts["date"] = value.strip()
            opts.pop("quand", None)
        except TimeInputError as exc:
            if exc.key != "time.bad_date":
                raise  # it is a date, an impossible one (30 February): say that, not "not a recurrence"
            clubs.french_rrule(value)  # raises klub.bad_recurrence with its examples
            opts["quand"] = value.strip()
            opts.pop("date", None)
    elif step == "mois":
        if plain not in ("toute l'annee", "toute lannee", "tous", "all"):
            clubs.french_rrule(opts["quand"], value.strip())
            opts["mois"] = value.strip()
    elif step == "heure":
        parse_time(value)
        if "date" in opts:
            starts = parse_local(opts["date"], value, clubs.zone_of(ctx.db, ctx.office.id if ctx.office else ""))
            if starts <= ctx.now:
                raise ClubError("guide.past")
        opts["heure"] = value.strip()
    elif step == "lieu":
        if plain in _NONE:
            return
        key = "lien" if plain.startswith(("http://", "https://")) else "lieu"
        if len(value) > 300:
            raise ClubError("guide.bad_place")
        opts[key] = value.strip()
    elif step == "places":
        if plain in _NONE:
            return
        if not (plain.isascii() and plain.isdigit() and 1 <= int(plain[:6]) <= MAX_PLACES and len(plain) <= 5):
            raise ClubError("guide.bad_places", limit=MAX_PLACES)
        opts["places"] = str(int(plain))


def on_text(ctx: Ctx, data: dict[str, Any], text: str) -> list[Reply] | None:
    step = str(data.get("step", "type"))
    opts = {str(k): str(v) for k, v in dict(data.get("opts", {})).items()}
    if step not in STEPS:
        dialogs.end(ctx, FLOW)
        return None
    if _plain(text) in _CANCEL:
        dialogs.end(ctx, FLOW)
        return ctx.say("guide.cancelled")
    if step == "confirmer":
        if _plain(text) not in ("oui", "yes", "ok", "creer"):
            return _prompt(ctx, step, opts)
        from bot.handlers.clubs import klub_create  # the one-line form: the same rules, the same replies

        dialogs.end(ctx, FLOW)
        return klub_create(ctx, command_of(opts).removeprefix("/klub "))
    try:
        _take(ctx, step, text, opts)
    except (ClubError, TimeInputError) as exc:
        return [Reply(Safe(ctx.t(exc.key, **exc.kwargs) + "\n" + ctx.t(f"guide.ask_{step}")))]
    following = _next(step, opts)
    dialogs.save(ctx, FLOW, {"step": following, "opts": opts})
    return _prompt(ctx, following, opts)
