"""The authorization matrix: every command × target variant × speaker (both offices, every role) × chat.

For every cell: no internal error; what must be refused is refused and changes nothing (database
digest before and after); and nothing leaks — no private question, no staff-only session, no anonymous
asker and no other office's data reaches a chat that should not see it, in the replies or the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.bootstrap import all_commands
from bot.commands import Command
from bot.config import Config
from bot.roles import Role

from .conftest import paris
from .world import (
    ANON_ASKER,
    CHATS,
    PLATEAUMARK,
    PRIVMARK,
    SPEAKERS,
    STAFFMARK,
    A,
    B,
    Chat,
    Ids,
    Outcome,
    Speaker,
    World,
    digest,
    play,
)

# The argument variants of each command. Placeholders: {S} office A's next Klub, {SS} its staff-only
# session, {SO} office B's session; {Q} a public question of A, {QA} an anonymous one, {QP} a private one,
# {QO} office B's; {P} a provider of A, {PO} a provider of B, {PH} the coordinator (above an ANT).
VARIANTS: dict[str, tuple[str, ...]] = {
    "aide": ("",),
    "start": ("", "ABCD-EFGH-JKMN"),
    "langue": ("en",),
    "faq": ("comment répondre à un avis google",),
    "fiche": ("{E}",),
    "utile": ("1 oui",),
    "question": ("Comment ajouter des photos ?", "anonyme Comment publier un menu ?"),
    "questions": ("",),
    "voter": ("{Q}", "{QA}", "{QP}", "{QO}"),
    "mesquestions": ("",),
    "modifier": ("{Q} Nouveau texte de la question", "{QO} x"),
    "supprimer": ("{Q}", "{QO}"),
    "resolu": ("{Q}", "{QO}"),
    "garder": ("{Q}", "{QO}"),
    "agenda": ("", "{S}", "{SS}", "{SO}"),
    "repondu": ("{Q} Voir la fiche", "{QP} Réponse", "{QO} note"),
    "ecarter": ("{Q} hors sujet", "{QO} non"),
    "reporter": ("{Q} {SS}", "{QO} {S}", "{Q} {SO}"),
    "fusionner": ("{QA} {Q}", "{QO} {Q}", "{Q} {QO}"),
    "compte-rendu": ("", "{S}", "{SO}"),
    "prochain": ("",),
    "klubs": ("",),
    "inscrire": ("{S}", "{SS}", "{SO}"),
    "desinscrire": ("{S}", "{SO}"),
    "inscrits": ("{S}", "{SS}", "{SO}"),
    "klub": (
        'titre="Atelier photo" date=2026-12-15 heure=14h',
        'titre="Point équipe" date=2026-12-16 heure=10h pour=equipe',
    ),
    "annoncer": ("{S}", "{SS}", "{SO}"),
    "deplacer": ("{S} 2026-12-10 18:30", "{SS} 2026-12-10 18:30", "{SO} 2026-12-10 18:30"),
    "annuler": ("{S} neige", "{SO} neige"),
    "modifier-seance": ("{S} places=20 lieu=Mairie", "{SS} places=3", "{SO} lieu=Ailleurs"),
    "sauter": ("{S}", "{SO}"),
    "inviter": ("{P}", "{PO}", "{PH}"),
    "retirer": ("{P}", "{PO}", "{PH}"),
    "confirmer": ("1",),
    "tableau": ("",),
    "diagnostic": ("", "refaire"),
    "diag": ("1",),
    "plan": ("",),
    "fait": ("1",),
    "campagne": ("",),
    "relancer": ("",),
    "observatoire": ("",),
    "etape": ("",),
}
OTHER_OFFICE = ("{SO}", "{QO}", "{PO}")


def _fill(template: str, ids: Ids) -> str:
    return template.format(
        S=ids.session,
        SS=ids.staff_session,
        SO=ids.other_session,
        Q=ids.public_q,
        QA=ids.anon_q,
        QP=ids.private_q,
        QO=ids.other_q,
        E=ids.faq_entry,
        P="camping-les-pins",
        PO="ferme-du-plateau",
        PH="coord-pays",
    )


def _foreign(speaker: Speaker, chat: Chat) -> bool:
    """Speaking in a group of an office that is not theirs (a coordinator's territory holds both)."""
    if chat.private or speaker.office is None:
        return False
    return speaker.office != chat.office and speaker.role < Role.ADMIN


def _scope(speaker: Speaker, chat: Chat) -> set[str]:
    if speaker.office is None or _foreign(speaker, chat):
        return set()
    if not chat.private:
        return {chat.office or ""}
    return {A, B} if speaker.role >= Role.ADMIN else {speaker.office}


def _place_ok(cmd: Command, chat: Chat) -> bool:
    if cmd.where == "private":
        return chat.private
    if cmd.where == "group":
        return not chat.private
    if cmd.where == "equipe":
        return chat.kind != "prestataires"
    return True


def must_refuse(cmd: Command, template: str, speaker: Speaker, chat: Chat) -> str | None:
    """Why this cell must be refused (None: it may go through)."""
    if speaker.role < cmd.min_role:
        return "role"
    if cmd.min_role > Role.GUEST and _foreign(speaker, chat):
        return "speaker office ≠ chat office"
    if not _place_ok(cmd, chat):
        return "place"
    if any(mark in template for mark in OTHER_OFFICE) and B not in _scope(speaker, chat):
        return "object office ≠ chat office"
    if cmd.name == "inviter" and "{PH}" in template and speaker.role < Role.ADMIN:
        return "invitation above one's role"
    if cmd.name in ("voter",) and "{QP}" in template and speaker.role < Role.STAFF:
        return "vote on a question one cannot see"
    return None


A_MARKS = (STAFFMARK, ANON_ASKER, "taxe de séjour", "Tripadvisor")  # office A's data, by its words
BY_SLUG = {s.slug: s for s in SPEAKERS}


def leaks(outcome: Outcome, speaker: Speaker, chat: Chat) -> list[str]:
    """Markers found where they must never be, in the replies and in everything sent meanwhile."""
    seen: list[tuple[str, str | None, str | None, str]] = []  # (kind, office, recipient, text)
    for private, text in outcome.texts():
        if private or chat.private:
            seen.append(("prive", None, speaker.slug, text))
        else:
            seen.append((chat.kind, chat.office, None, text))
    for message in outcome.sent:
        ref = message.chat
        if ref.private:
            seen.append(("prive", None, ref.chat_id, message.reply.text))
        else:
            office, _, kind = ref.chat_id.partition(":")
            seen.append((kind, office, None, message.reply.text))
    found: list[str] = []
    for kind, office, recipient, text in seen:
        if kind != "prive":
            if PRIVMARK in text:
                found.append(f"a private question in {office} {kind}")
            if office == A and PLATEAUMARK in text:
                found.append(f"office B's data in {office} {kind}")
            if office == B and any(mark in text for mark in A_MARKS):
                found.append(f"office A's data in {office} {kind}")
            if kind == "prestataires" and (STAFFMARK in text or ANON_ASKER in text):
                found.append(f"a staff-only session or an anonymous asker in {office} {kind}")
            continue
        who = BY_SLUG.get(recipient or "")
        if who is None:
            continue  # someone outside the speakers (the asker told in private, a registrant)
        if who.role < Role.STAFF and (PRIVMARK in text or STAFFMARK in text):
            found.append(f"a private question or a staff session to the provider {who.slug}")
        if who.role < Role.ADMIN and who.office == A and PLATEAUMARK in text:
            found.append(f"office B's data to {who.slug}")
        if who.role < Role.ADMIN and who.office == B and any(mark in text for mark in A_MARKS):
            found.append(f"office A's data to {who.slug}")
    return found


COMMANDS = [c for c in all_commands() if c.name in VARIANTS]


def test_every_command_has_variants() -> None:
    assert {c.name for c in all_commands()} == set(VARIANTS)


@pytest.fixture
def world(config: Config, database_url: str) -> Iterator[World]:
    w = World(config, database_url, paris("2026-11-20 09:00"))
    yield w
    w.close()


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.name for c in COMMANDS])
def test_authorization_matrix(world: World, cmd: Command) -> None:
    cells = changed = refused_ok = 0
    failures: list[str] = []
    seeded = before = digest(world.app)
    for template in VARIANTS[cmd.name]:
        for speaker in SPEAKERS:
            for chat in CHATS:
                line = f"/{cmd.name} {_fill(template, world.ids)}".strip()
                outcome = play(world.app, speaker.slug, line, chat.name)
                after = digest(world.app)
                cells += 1
                cell = f"{line!r} by {speaker.slug} in {chat.name}"
                if outcome.crashed:
                    failures.append(f"internal error: {cell}")
                reason = must_refuse(cmd, template, speaker, chat)
                if reason is not None:
                    if not outcome.refused:
                        failures.append(f"not refused ({reason}): {cell}: {outcome.keys}")
                    if after != before:
                        failures.append(f"state changed although refused ({reason}): {cell}")
                    refused_ok += 1
                elif outcome.refused and after != before:
                    failures.append(f"refusal that changed state: {cell}: {outcome.keys}")
                for leak in leaks(outcome, speaker, chat):
                    failures.append(f"leak ({leak}): {cell}")
                if after != before:
                    changed += 1
                    world.reset()  # the next cell starts from the seeded state again
                    after = seeded
                before = after
    assert not failures, "\n".join(failures[:30])
    assert cells == len(VARIANTS[cmd.name]) * len(SPEAKERS) * len(CHATS)
    assert refused_ok > 0 or cmd.min_role == Role.GUEST  # cells that must be refused were refused


def test_the_matrix_lets_allowed_actions_through(world: World) -> None:
    """The matrix would be worthless if everything were refused: the rightful actions work."""
    ids = world.ids
    for who, line, chat in (
        ("camille-ant", f"/annuler {ids.session} neige", "A-equipe"),
        ("camping-les-pins", f"/voter {ids.anon_q}", "A-prestataires"),
        ("camille-ant", "/inviter camping-les-pins", "prive"),
        ("coord-pays", f"/repondu {ids.other_q} Réponse du Pays", "prive"),
        ("coord-pays", f"/inscrits {ids.other_session}", "B-equipe"),
    ):
        before = digest(world.app)
        outcome = play(world.app, who, line, chat)
        assert not outcome.refused, (line, outcome.keys)
        if line.startswith("/inscrits"):
            assert digest(world.app) == before
        else:
            assert digest(world.app) != before, line
