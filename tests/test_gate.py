"""The gate through the core: invites, codes (expired, reused, unknown, rate limit), join decisions,
revocation, and the `klub invite` / `klub person` command lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot import gate, membership
from bot.bootstrap import App, bootstrap
from bot.cli import main as klub
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.messages import ChatRef, GateReply, Incoming, MemberAction, Reply, UserRef
from bot.storage.tables import AuditLog, GateAttempt, Identity, Invite, Person
from tests.conftest import ROOT
from tests.helpers import plain, say

EQUIPE_TG = "-1001234567890"
PRESTA_TG = "-1001234567891"


def invite_code(app: App, who: str = "camille-ant", slug: str = "gite-du-moulin", extra: str = "") -> str:
    replies = say(app, who, f"/inviter {slug} {extra}".strip(), chat="equipe")
    private = [r for r in replies if isinstance(r, GateReply) and r.invite_code]
    assert private, plain(replies)
    assert private[0].private
    return private[0].invite_code


def private_as(app: App, user: str, text: str, platform: str = "console") -> list[Reply]:
    incoming = Incoming(ChatRef(platform, user, private=True), UserRef(platform, user, display_name=user), text)
    return app.core.handle(incoming)


def new_person(app: App, slug: str = "nouvelle-recrue", role: str = "provider", language: str | None = None) -> str:
    """A roster entry with no account yet (the seeded ones all have a console account)."""
    with app.sessions.begin() as db:
        db.add(
            Person(
                slug=slug,
                name="Nina Recrue",
                business="Chambres du Pont",
                office_id="ot-trois-vallees",
                role=role,
                language=language,
                active=True,
                created_at=app.clock.now(),
            )
        )
    return slug


def audit_actions(app: App) -> list[str]:
    with app.sessions() as db:
        return [row.action for row in db.scalars(select(AuditLog).order_by(AuditLog.id))]


# -- codes ---------------------------------------------------------------------------------------------


def test_codes_are_long_unambiguous_and_forgiving() -> None:
    codes = {gate.new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 12 and set(code) <= set(gate.ALPHABET)
        assert not set(code) & set("01OIL")
    code = "ABCD2345EFGH"
    assert gate.format_code(code) == "ABCD-2345-EFGH"
    assert gate.hash_code("abcd-2345 efgh") == gate.hash_code(code)


def test_inviter_in_equipe_sends_the_code_in_private_and_stores_only_a_hash(app: App) -> None:
    replies = say(app, "camille-ant", "/inviter gite-du-moulin", chat="equipe")
    assert len(replies) == 2
    public, private = replies
    assert not public.private and "en message privé" in plain([public])
    assert isinstance(private, GateReply) and private.private
    code = private.invite_code
    assert code not in public.text
    assert gate.format_code(code) in private.text and f"/start {code}" in private.text
    assert "27/11/2026 à 09:00" in private.text  # 7 days, in the office's time zone
    with app.sessions() as db:
        invite = db.scalars(select(Invite)).one()
        assert invite.code_hash == gate.hash_code(code) and code not in invite.code_hash
    assert audit_actions(app) == ["invite.create"]


def test_inviter_is_for_the_ant_and_not_in_front_of_providers(app: App) -> None:
    assert "réservée au rôle" in plain(say(app, "gite-du-moulin", "/inviter camping-les-pins"))
    assert "réservée au rôle" in plain(say(app, "julien-accueil", "/inviter camping-les-pins", chat="equipe"))
    assert "pas devant les prestataires" in plain(say(app, "camille-ant", "/inviter x", chat="prestataires"))
    assert "Je ne trouve personne" in plain(say(app, "camille-ant", "/inviter personne-inconnue", chat="equipe"))
    # Another office's person is « not found »: the refusal names nobody.
    other = plain(say(app, "camille-ant", "/inviter ferme-du-plateau", chat="equipe"))
    assert "Je ne trouve personne" in other and "Paul" not in other
    assert "Précisez la personne" in plain(say(app, "camille-ant", "/inviter", chat="equipe"))
    assert "entre 1 et 30 jours" in plain(say(app, "camille-ant", "/inviter gite-du-moulin 90j", chat="equipe"))
    assert "entre 1 et 30 jours" in plain(say(app, "camille-ant", "/inviter gite-du-moulin 9999999999j"))
    # In private, the ANT gets the code directly.
    replies = say(app, "camille-ant", "/inviter camping-les-pins 14j")
    assert len(replies) == 1 and isinstance(replies[0], GateReply) and replies[0].invite_code


def test_a_code_links_the_account_once(app: App) -> None:
    code = invite_code(app, slug=new_person(app))
    text = plain(private_as(app, "nouveau-compte", f"/start {gate.format_code(code).lower()}"))
    assert "C'est fait, Nina" in text
    with app.sessions() as db:
        member = membership.resolve(db, "console", "nouveau-compte", app.clock.now())
        assert member.person is not None and member.person.slug == "nouvelle-recrue"
        invite = db.scalars(select(Invite)).one()
        assert invite.used_at is not None and invite.used_by == "console:nouveau-compte"
    assert audit_actions(app) == ["invite.create", "invite.redeem"]
    # The newly linked account is a member now.
    assert "Bonjour Nina" in plain(private_as(app, "nouveau-compte", "/start"))
    # Opening the same link again from the same account is harmless; from another account it is refused.
    assert "C'est fait" in plain(private_as(app, "nouveau-compte", f"/start {code}"))
    reused = plain(private_as(app, "autre-compte", f"/start {code}"))
    assert "déjà servi" in reused and "Rien n'a été modifié" in reused
    with app.sessions() as db:
        assert membership.resolve(db, "console", "autre-compte", app.clock.now()).person is None


def test_a_code_read_aloud_is_accepted_with_spaces_and_a_typo_costs_no_attempt(app: App) -> None:
    code = invite_code(app, slug=new_person(app))  # an entry with no account yet: no confirmation needed
    spoken = " ".join(code[i : i + 4] for i in range(0, 12, 4)).lower()  # « abcd efgh jkmn »
    # Typos in the shape first: explained, and none of them counts toward the lock-out.
    for typo in [spoken[:-1], spoken[:-1] + "0", spoken + " x"]:
        text = plain(private_as(app, "nouveau-compte", f"/start {typo}"))
        assert ("12 caractères" in text or "ne contient pas « 0 »" in text) and "ne compte pas" in text, typo
    with app.sessions() as db:
        assert db.scalars(select(GateAttempt)).all() == []
    assert "C'est fait, Nina" in plain(private_as(app, "nouveau-compte", f"/start {spoken}"))
    second = invite_code(app, slug=new_person(app, slug="deuxieme-recrue"))
    assert "C'est fait" in plain(private_as(app, "autre-compte", f"/start {second[:6]}-{second[6:].lower()}"))


def test_expired_and_unknown_codes_change_nothing(app: App, clock: ManualClock) -> None:
    code = invite_code(app)
    assert "n'existe pas" in plain(private_as(app, "inconnu", "/start ABCD-EFGH-JKMN"))
    clock.advance(timedelta(days=7, minutes=1))
    assert "a expiré" in plain(private_as(app, "inconnu", f"/start {code}"))
    with app.sessions() as db:
        assert db.scalars(select(Invite)).one().used_at is None
        assert membership.resolve(db, "console", "inconnu", clock.now()).person is None
        assert len(db.scalars(select(GateAttempt)).all()) == 2


def test_a_code_is_sent_in_private_only(app: App) -> None:
    code = invite_code(app, slug=new_person(app))
    assert "en message privé" in plain(say(app, "camping-les-pins", f"/start {code}", chat="prestataires"))
    assert "C'est fait" in plain(private_as(app, "nouveau", f"/start {code}"))  # still valid


def test_failed_codes_are_rate_limited_per_account(app: App, clock: ManualClock) -> None:
    code = invite_code(app, slug=new_person(app))
    for i in range(gate.MAX_FAILURES):
        clock.advance(timedelta(minutes=1))
        assert "n'existe pas" in plain(private_as(app, "devin", f"/start ZZZZZZZZZZZ{i + 2}"))
    # Even the right code is refused now, without being looked at.
    text = plain(private_as(app, "devin", f"/start {code}"))
    assert "Trop de codes erronés" in text and "56 min" in text
    # Other accounts are not affected.
    assert "n'existe pas" in plain(private_as(app, "quelqu-un", "/start ZZZZZZZZZZZZ"))
    clock.advance(timedelta(minutes=56))
    assert "C'est fait" in plain(private_as(app, "devin", f"/start {code}"))


def test_an_account_of_a_member_is_not_moved_to_someone_else(app: App) -> None:
    code = invite_code(app)
    assert "déjà relié à Thomas Bernard" in plain(private_as(app, "camping-les-pins", f"/start {code}"))
    with app.sessions() as db:
        ident = db.scalar(select(Identity).where(Identity.platform_user_id == "camping-les-pins"))
        assert ident is not None and ident.person.slug == "camping-les-pins"


# -- which groups --------------------------------------------------------------------------------------


@pytest.fixture
def tg_config() -> Config:
    raw = yaml.safe_load((ROOT / "config.example.yml").read_text(encoding="utf-8"))
    raw["database"] = {"url": "sqlite://"}
    for person in raw["people"]:
        if person["id"] == "camille-ant":
            person["identities"] = ["telegram:1001"]
        if person["id"] == "julien-accueil":
            person["identities"] = ["telegram:1002"]
    raw["adapters"]["telegram"]["enabled"] = True
    return Config.model_validate(raw)


@pytest.fixture
def tg_app(tg_config: Config, clock: ManualClock, database_url: str) -> Iterator[App]:
    app = bootstrap(tg_config, clock=clock, database_url=database_url, migrate=False, platforms=("console", "telegram"))
    yield app
    app.close()


def test_join_links_follow_the_role(tg_app: App) -> None:
    provider_code = invite_code(tg_app, slug="gite-du-moulin")
    staff_code = invite_code(tg_app, slug=new_person(tg_app, slug="nouvel-agent", role="staff"))
    (reply,) = private_as(tg_app, "2001", f"/start {provider_code}", platform="telegram")
    assert isinstance(reply, GateReply)
    assert [(j.platform, j.chat_id) for j in reply.join_links] == [("telegram", PRESTA_TG)]
    assert "Rejoindre « Klub numérique des Trois Vallées »" in reply.join_links[0].label
    assert "Touchez le bouton" in reply.text
    (reply,) = private_as(tg_app, "2002", f"/start {staff_code}", platform="telegram")
    assert isinstance(reply, GateReply)
    assert [j.chat_id for j in reply.join_links] == [PRESTA_TG, EQUIPE_TG]
    # On the console there is no group to join by link.
    code = invite_code(tg_app, slug=new_person(tg_app, language="en"))
    (reply,) = private_as(tg_app, "console-user", f"/start {code}")
    assert isinstance(reply, GateReply) and reply.join_links == ()
    assert "Welcome to Klub" in reply.text  # Sophie reads English


def test_join_decisions(tg_app: App) -> None:
    code = invite_code(tg_app, slug="gite-du-moulin")
    private_as(tg_app, "2001", f"/start {code}", platform="telegram")
    tg_app.outbox.drain("telegram")
    decide = gate.decide_join
    assert decide(tg_app, "telegram", PRESTA_TG, "2001").approve
    assert decide(tg_app, "telegram", EQUIPE_TG, "1002").approve  # staff
    assert decide(tg_app, "telegram", PRESTA_TG, "1002").approve  # staff in the providers' group too
    assert tg_app.outbox.pending("telegram") == 0
    role = decide(tg_app, "telegram", EQUIPE_TG, "2001")
    assert not role.approve and role.reason == "role"
    assert role.private_message is not None and "réservé à l'équipe" in role.private_message.text
    unknown = decide(tg_app, "telegram", PRESTA_TG, "666", display_name="Inconnu <b>", language="en")
    assert not unknown.approve and unknown.reason == "unknown"
    assert unknown.private_message is not None and "not linked to anyone" in unknown.private_message.text
    (notice,) = unknown.staff_notices
    assert notice.chat == ChatRef("telegram", EQUIPE_TG, title="Équipe OT Trois Vallées")
    assert "Inconnu &lt;b&gt; (telegram:666)" in notice.reply.text  # user text escaped
    queued = tg_app.outbox.drain("telegram")
    assert [m.chat.chat_id for m in queued] == [EQUIPE_TG, EQUIPE_TG]  # one notice per refusal
    assert not decide(tg_app, "telegram", "-42", "2001").approve  # not one of our chats: silence
    assert tg_app.outbox.pending() == 0
    with tg_app.sessions() as db:
        rows = db.scalars(select(AuditLog).where(AuditLog.action.like("join.%")).order_by(AuditLog.id)).all()
        assert [(r.action, r.target) for r in rows] == [
            ("join.approve", "gite-du-moulin"),
            ("join.approve", "julien-accueil"),
            ("join.approve", "julien-accueil"),
            ("join.decline", "gite-du-moulin"),
            ("join.decline", "telegram:666"),
        ]


def test_a_provider_of_another_office_is_declined(tg_app: App) -> None:
    with tg_app.sessions.begin() as db:
        person = membership.person_by_slug(db, "ferme-du-plateau")
        assert person is not None
        membership.link_identity(db, person, "telegram", "3001", tg_app.clock.now())
    decision = gate.decide_join(tg_app, "telegram", PRESTA_TG, "3001")
    assert not decision.approve and decision.reason == "other_office"


# -- revocation ----------------------------------------------------------------------------------------


def test_retirer_revokes_everywhere(tg_app: App) -> None:
    code = invite_code(tg_app, slug="gite-du-moulin")
    private_as(tg_app, "2001", f"/start {code}", platform="telegram")
    spare = invite_code(tg_app, slug="gite-du-moulin")  # an invite not yet used dies with the access
    tg_app.outbox.drain("telegram")
    assert "réservée au rôle" in plain(say(tg_app, "julien-accueil", "/retirer gite-du-moulin", chat="equipe"))
    assert "propre accès" in plain(say(tg_app, "camille-ant", "/retirer camille-ant", chat="equipe"))
    text = plain(say(tg_app, "camille-ant", "/retirer gite-du-moulin", chat="equipe"))
    assert "L'accès de Marie Dupont est retiré" in text and "de 2 groupe(s)" in text
    actions = [MemberAction.from_out(m) for m in tg_app.outbox.drain("telegram")]
    assert actions == [
        MemberAction("telegram", EQUIPE_TG, "2001"),
        MemberAction("telegram", PRESTA_TG, "2001"),
    ]
    assert tg_app.outbox.pending() == 0  # nothing for the console: it has no membership
    with tg_app.sessions() as db:
        person = membership.person_by_slug(db, "gite-du-moulin")
        assert person is not None and not person.active
    assert "réservé aux prestataires" in plain(say(tg_app, "gite-du-moulin", "/langue en"))
    assert gate.decide_join(tg_app, "telegram", PRESTA_TG, "2001").reason == "revoked"
    assert "a expiré" in plain(private_as(tg_app, "2001", f"/start {spare}", platform="telegram"))
    assert audit_actions(tg_app)[-2:] == ["person.revoke", "join.decline"]
    # Only the ANT can bring them back, with a new invitation; redeeming it restores access.
    assert "réservée au rôle" in plain(say(tg_app, "julien-accueil", "/inviter gite-du-moulin", chat="equipe"))
    again = invite_code(tg_app, slug="gite-du-moulin")
    (reply,) = private_as(tg_app, "2001", f"/start {again}", platform="telegram")
    assert isinstance(reply, GateReply) and reply.join_links
    assert gate.decide_join(tg_app, "telegram", PRESTA_TG, "2001").approve


def test_an_ant_cannot_revoke_an_ant(tg_app: App) -> None:
    with tg_app.sessions.begin() as db:
        db.add(
            Person(
                slug="autre-ant",
                name="Autre ANT",
                office_id="ot-trois-vallees",
                role="ant",
                created_at=tg_app.clock.now(),
            )
        )
    assert "égal ou supérieur" in plain(say(tg_app, "camille-ant", "/retirer autre-ant", chat="equipe"))


# -- command line ----------------------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    raw = yaml.safe_load((ROOT / "config.example.yml").read_text(encoding="utf-8"))
    raw["faq"]["bases"] = [str(ROOT / "faq")]
    raw["adapters"]["telegram"]["bot_username"] = "KlubTestBot"
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_cli_person_add_invite_list_revoke(
    config_file: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--config", str(config_file)]
    db = ["--db", database_url]
    assert (
        klub(
            [
                *base,
                "person",
                "add",
                "gite-des-sources",
                "--office",
                "ot-trois-vallees",
                "--name",
                "Luc Blanc",
                "--business",
                "Gîte des Sources",
                *db,
            ]
        )
        == 0
    )
    assert "gite-des-sources" in capsys.readouterr().out
    assert (
        klub(
            [
                *base,
                "invite",
                "create",
                "--office",
                "ot-trois-vallees",
                "--person",
                "gite-des-sources",
                "--days",
                "3",
                *db,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    code = re.search(r"start=([A-Z0-9]{12})", out)
    assert code is not None and "https://t.me/KlubTestBot?start=" in out
    assert gate.format_code(code.group(1)) in out
    assert klub([*base, "invite", "create", "--office", "ot-haut-plateau", "--person", "gite-des-sources", *db]) == 2
    assert "ot-trois-vallees" in capsys.readouterr().err
    assert klub([*base, "person", "list", "--office", "ot-trois-vallees", *db]) == 0
    listing = capsys.readouterr().out
    assert "gite-des-sources" in listing and "Gîte des Sources" in listing and "ferme-du-plateau" not in listing
    assert klub([*base, "person", "revoke", "gite-des-sources", *db]) == 0
    assert "retiré" in capsys.readouterr().out
    assert klub([*base, "person", "revoke", "personne", *db]) == 2
    app = bootstrap(load_config(config_file, env={}), database_url=database_url, migrate=False)
    try:
        with app.sessions() as s:
            person = membership.person_by_slug(s, "gite-des-sources")
            assert person is not None and not person.active
            rows = s.scalars(select(AuditLog).order_by(AuditLog.id)).all()
            assert [(r.action, r.actor) for r in rows] == [
                ("person.add", gate.CLI_ACTOR),
                ("invite.create", gate.CLI_ACTOR),
                ("person.revoke", gate.CLI_ACTOR),
            ]
    finally:
        app.close()
