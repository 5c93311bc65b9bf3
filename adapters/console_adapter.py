"""The console: an interactive terminal chat, and the transcript player (`klub console --script`).

Transcript syntax (one instruction per line; `#` starts a comment):
    [prestataires] gite-du-moulin: /question …   a person speaks in a group of the first office
    [equipe@ot-haut-plateau] nadia-ant: /agenda   …in a group of another office
    [prive] gite-du-moulin: /prochain             …in private with the bot
    [prestataires] gite-du-moulin: (bouton) /inscrire 3   …presses a button under a message of that chat
    @clock 2026-11-20 09:00                       set the clock (local time of the first office)
    @advance 7d | 2h | 30min | 1d 2h              let time pass; reminders due on the way fire
    @restart                                      a new process over the same database
    @down 3h                                      Klub is stopped for 3 hours, then starts again
    @person slug role=provider name="…" business="…" office=…   add someone to the roster
Output: `[chat] bot: text` for groups, `[prive:slug] bot: text` for private messages.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from adapters.base import Adapter
from adapters.render import to_plain
from bot import instances, membership
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.config import Config, parse_duration
from bot.i18n import t
from bot.messages import ChatRef, Incoming, MemberAction, OutMessage, Reply, UserRef
from bot.roles import ROLE_NAMES
from bot.storage.tables import Person

PLATFORM = "console"
DEFAULT_START = "2026-09-01 09:00"
_SPEECH = re.compile(
    r"^\[(?P<chat>[^\]@]+)(?:@(?P<office>[^\]]+))?\]\s*(?P<who>[a-z0-9][a-z0-9_-]*)\s*:\s?(?P<text>.*)$"
)
PRIVATE_NAMES = ("prive", "privé", "private")
BUTTON_MARK = "(bouton) "  # a line that presses a button rather than typing


class TranscriptError(Exception):
    """A malformed transcript line: reported with its line number."""


class ConsoleRunner:
    """Plays lines against a Klub app, printing every bot message deterministically."""

    def __init__(
        self,
        config: Config,
        database_url: str,
        write: Callable[[str], None],
        *,
        clock: ManualClock | None = None,
        echo: bool = True,
        app: App | None = None,
    ) -> None:
        self.config = config
        self.database_url = database_url
        self.write = write
        self.echo = echo
        self.zone = ZoneInfo(config.offices[0].timezone)
        self.live = app is not None  # inside `klub run`: real time, the scheduler fires reminders
        self.clock: ManualClock = clock or ManualClock(self._local(DEFAULT_START))
        self.default_office = config.offices[0].id
        self.lead = timedelta(0)
        self.fresh = True  # until something happens, @clock moves the start instead of running time
        self.app = app if app is not None else self._boot()

    def _boot(self) -> App:
        app = bootstrap(
            self.config, clock=self.clock, database_url=self.database_url, platforms=(PLATFORM,), instance=PLATFORM
        )
        # A restart resumes what the previous process had claimed and not printed: nothing is lost.
        instances.recover(app.sessions, app.instance, self.clock.now())
        return app

    def close(self) -> None:
        self.app.close()

    # -- time ---------------------------------------------------------------------------------------

    def _local(self, text: str) -> datetime:
        try:
            naive = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
        except ValueError as exc:
            raise TranscriptError(f"date invalide « {text} » (attendu AAAA-MM-JJ HH:MM)") from exc
        return naive.replace(tzinfo=self.zone)

    def set_clock(self, text: str) -> None:
        target = self._local(text)
        if self.fresh:
            # The first @clock says when Klub starts: nothing ran before, so nothing is replayed.
            self.clock.set(target)
            self.fresh = False
            return
        if target < self.clock.now():
            # Jumping back is allowed only before anything happened: time never runs backwards.
            raise TranscriptError("@clock ne peut pas revenir en arrière ; utilisez @advance")
        self._run_until(target)

    def advance(self, text: str) -> None:
        self._run_until(self.clock.now() + _duration(text))

    def _run_until(self, target: datetime) -> None:
        """Move time forward, stopping at every due reminder so they fire in order, at their time."""
        while True:
            due = self.app.next_due(self.clock.now())
            if due is None or due > target:
                break
            self.clock.set(max(due, self.clock.now()))
            self.app.tick()
            self.flush()
        self.clock.set(target)
        self.app.tick()
        self.flush()

    def catch_up(self) -> None:
        """Interactive mode: follow the wall clock, keeping any lead that @advance gave."""
        now = datetime.now(self.clock.now().tzinfo)
        target = max(self.clock.now(), now + self.lead)
        self._run_until(target)
        self.lead = self.clock.now() - datetime.now(self.clock.now().tzinfo)

    # -- people and chats -----------------------------------------------------------------------------

    def chat_for(self, label: str, office: str | None, who: str) -> ChatRef:
        name = label.strip().lower()
        if name in PRIVATE_NAMES:
            return ChatRef(PLATFORM, who, private=True)
        office_id = office or self.default_office
        return ChatRef(PLATFORM, membership.console_chat_id(office_id, name))

    def label(self, chat: ChatRef) -> str:
        if chat.private:
            return f"prive:{chat.chat_id}"
        office_id, _, kind = chat.chat_id.partition(":")
        return kind if office_id == self.default_office else f"{kind}@{office_id}"

    def speak(self, chat: ChatRef, who: str, text: str) -> None:
        pressed = text.startswith(BUTTON_MARK)
        text = text.removeprefix(BUTTON_MARK)
        incoming = Incoming(
            chat=chat,
            user=UserRef(PLATFORM, who, display_name=who),
            text=text,
            mentions_bot="@klub" in text.lower(),
            via_button=pressed,
        )
        for reply in self.app.core.handle(incoming):
            target = ChatRef(PLATFORM, who, private=True) if reply.private else chat
            self.show(target, reply)
        self.flush()

    def declare_person(self, args: str) -> None:
        try:
            parts = shlex.split(args)
        except ValueError as exc:
            raise TranscriptError(f"@person : {exc}") from exc
        if not parts:
            raise TranscriptError("@person : précisez l'identifiant, ex. @person gite-des-sources role=provider")
        slug, fields = parts[0], dict(p.partition("=")[::2] for p in parts[1:])
        role = fields.get("role", "provider")
        if role not in ROLE_NAMES:
            raise TranscriptError(f"@person : rôle inconnu « {role} »")
        office = fields.get("office", self.default_office)
        if office not in {o.id for o in self.config.offices}:
            raise TranscriptError(f"@person : office inconnu « {office} »")
        with self.app.sessions.begin() as db:
            person = membership.person_by_slug(db, slug)
            if person is None:
                person = Person(slug=slug, created_at=self.clock.now(), active=True, name=slug, office_id=office)
                db.add(person)
            person.name = fields.get("name", person.name)
            person.business = fields.get("business", person.business or "")
            person.category = fields.get("category", person.category or "")
            person.role, person.office_id = role, office
            db.flush()
            membership.link_identity(db, person, PLATFORM, slug, self.clock.now())

    def restart(self) -> None:
        # The outbox is durable: whatever was written and not yet delivered is delivered after the restart.
        self.app.close()
        self.app = self._boot()
        self.app.tick()  # a real start catches up at once: reminders missed while down, within grace
        self.flush()

    def down(self, text: str) -> None:
        """Klub is stopped while time passes (nothing fires), then starts again."""
        total = _duration(text)
        self.app.close()
        self.clock.set(self.clock.now() + total)
        self.app = self._boot()
        self.app.tick()
        self.flush()

    # -- output ---------------------------------------------------------------------------------------

    def show(self, chat: ChatRef, reply: Reply) -> None:
        lines = to_plain(reply.text).split("\n")
        self.write(f"[{self.label(chat)}] bot: {lines[0]}")
        for line in lines[1:]:
            self.write(f"    {line}" if line else "")
        for row in reply.buttons:
            self.write("    " + "  ".join(f"[{b.label} → {b.command}]" for b in row))

    def flush(self) -> None:
        messages: list[OutMessage] = self.app.outbox.drain(PLATFORM)
        for message in messages:
            action = MemberAction.from_out(message)
            if action is not None:
                # The console has no real membership: show what a platform would do.
                self.write(f"[{self.label(message.chat)}] (Klub : {action.action} {action.user_id})")
            else:
                self.show(message.chat, message.reply)
            self.app.outbox.told_sent(message)  # drain recorded it as sent

    # -- lines ----------------------------------------------------------------------------------------

    def run_line(self, raw: str) -> None:
        line = raw.rstrip("\n")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return
        if self.echo:
            self.write(stripped)
        if stripped.startswith("@"):
            directive, _, rest = stripped[1:].partition(" ")
            if self.live and directive in ("clock", "advance", "restart", "down", "panne"):
                raise TranscriptError("le temps réel ne se commande pas dans « klub run » ; utilisez « klub console »")
            if directive != "clock":
                self.fresh = False
            if directive == "clock":
                self.set_clock(rest)
            elif directive == "advance":
                self.advance(rest)
            elif directive == "restart":
                self.restart()
            elif directive in ("down", "panne"):
                self.down(rest)
            elif directive == "person":
                self.declare_person(rest)
            else:
                raise TranscriptError(f"instruction inconnue @{directive}")
            return
        self.fresh = False
        m = _SPEECH.match(stripped)
        if not m:
            raise TranscriptError("ligne incomprise (attendu « [groupe] personne: texte » ou une instruction @…)")
        self.speak(self.chat_for(m["chat"], m["office"], m["who"]), m["who"], m["text"])


MAX_ADVANCE = timedelta(days=366)


def _duration(text: str) -> timedelta:
    """« 1d 2h » -> timedelta; a bad token is a transcript error."""
    total = timedelta(0)
    for token in text.split():
        try:
            total += parse_duration(token)
        except ValueError as exc:
            raise TranscriptError(str(exc)) from exc
    if total > MAX_ADVANCE:
        raise TranscriptError(f"durée trop longue « {text} » (au plus {MAX_ADVANCE.days} jours d'un coup)")
    return total


def play_script(config: Config, database_url: str, script: str, write: Callable[[str], None], source: str = "") -> int:
    """Play a whole transcript; returns 0, or 1 after reporting the first bad line (of the file ``source``)."""
    runner = ConsoleRunner(config, database_url, write)
    try:
        for number, line in enumerate(script.splitlines(), start=1):
            try:
                runner.run_line(line)
            except TranscriptError as exc:
                write(f"!! {source}, ligne {number} : {exc}" if source else f"!! ligne {number} : {exc}")
                return 1
    finally:
        runner.close()
    return 0


class ConsoleAdapter(Adapter):
    """Interactive terminal chat. Plain lines are spoken by the current person in the current chat."""

    name: ClassVar[str] = PLATFORM

    def __init__(self, runner: ConsoleRunner, *, read: Callable[[str], str] = input, live: bool = False) -> None:
        self.runner = runner
        self.live = live
        self.read = read
        self.who = self._default_person()
        self.chat = "prive"
        self.office: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()

    def _default_person(self) -> str:
        providers = [p.id for p in self.runner.config.people if p.role == "provider"]
        people = [p.id for p in self.runner.config.people]
        return (providers or people or ["invite"])[0]

    async def start(self) -> None:
        lang = self.runner.config.language
        self.runner.write(t(lang, "console.welcome", who=f"{self.who} (en privé)"))
        if self.live:
            # Reminders and announcements arrive on their own in live mode: print them as they come.
            loop = asyncio.get_running_loop()

            def wake(platform: str) -> None:
                if platform == PLATFORM:  # possibly from a worker thread (the scheduler)
                    loop.call_soon_threadsafe(self.runner.flush)

            self.runner.app.outbox.listen(wake)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if not self.live:
            self.runner.close()  # in live mode the app belongs to `klub run`

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        self.runner.show(chat, reply)

    def prompt(self) -> str:
        where = self.chat if self.office is None else f"{self.chat}@{self.office}"
        return f"{self.who}@{where}> "

    def handle_line(self, line: str) -> None:
        stripped = line.strip()
        head, _, rest = stripped.partition(" ")
        if head in ("@as", "/as"):
            who, _, where = rest.strip().partition("@")
            if not who:
                self.runner.write("Usage : @as personne@groupe (groupe : prive, equipe, prestataires)")
                return
            self.who = who
            chat, _, office = (where or "prive").partition("@")
            self.chat, self.office = chat, office or None
            self.runner.write(f"Vous parlez maintenant en tant que {self.who}, dans « {self.chat} ».")
        elif head in ("@aide", "@help"):
            self.runner.write(console_help())
        elif head in ("@qui", "@who"):
            for p in self.runner.config.people:
                self.runner.write(f"  {p.id:<24} {p.role:<9} {p.name} – {p.business}")
        elif stripped.startswith("@") or _SPEECH.match(stripped):
            self.runner.run_line(stripped)
        elif stripped:
            self.runner.speak(self.runner.chat_for(self.chat, self.office, self.who), self.who, stripped)

    async def _loop(self) -> None:
        try:
            while True:
                try:
                    line = await asyncio.to_thread(self.read, self.prompt())
                except EOFError:
                    self.runner.write("")
                    self.runner.write("À bientôt !")
                    break
                try:
                    # Real time passes between lines (plus whatever @advance added): reminders go out.
                    if not self.live:
                        self.runner.catch_up()
                    self.handle_line(line)
                except TranscriptError as exc:
                    self.runner.write(f"!! {exc}")
        finally:
            self.done.set()


def console_help() -> str:
    return "\n".join(
        [
            "Commandes de la console :",
            "  @as personne@groupe   parler en tant que quelqu'un (groupe : prive, equipe, prestataires)",
            "  @qui                  les personnes de l'annuaire de démonstration",
            "  @clock AAAA-MM-JJ HH:MM, @advance 2h   faire avancer le temps (les rappels partent)",
            "  @restart              redémarrer Klub sur la même base",
            "  [groupe] personne: texte   dire quelque chose en une ligne",
            "  Ctrl-D                quitter",
        ]
    )


def stdout_writer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
