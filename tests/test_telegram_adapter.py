"""The real python-telegram-bot Application, driven end to end against a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import socket
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import select

from adapters.reconnect import Backoff
from adapters.telegram_adapter import TelegramAdapter, TelegramSetupError, deliver_pending
from adapters.telegram_render import command_name, sanitize, split_html, utf16_len
from bot.bootstrap import App, bootstrap
from bot.cli import main as klub
from bot.clock import ManualClock
from bot.config import Config
from bot.messages import Button, ChatRef, MemberAction, OutMessage, Reply
from bot.storage.tables import AuditLog
from tests.conftest import ROOT
from tests.fake_telegram import BOT_USERNAME, TOKEN, Call, FakeTelegram

EQUIPE = -1001234567890
PRESTA = -1001234567891
CAMILLE = 1001  # the ANT
JULIEN = 1002  # office staff
NEWCOMER = 2001  # Marie, of the Gîte du Moulin, not linked yet
STRANGER = 6666


class Naps:
    """The adapter's sleep: records what it was asked to wait, without waiting for real."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class Acks:
    """Collects the outbox acknowledgements; tests wait for them without polling."""

    def __init__(self, app: App) -> None:
        self.messages: list[OutMessage] = []
        self._changed = asyncio.Event()
        app.outbox.on_sent(self._sent)

    def _sent(self, message: OutMessage) -> None:
        self.messages.append(message)
        self._changed.set()

    async def wait(self, count: int, timeout: float = 5) -> None:
        async def until() -> None:
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)


def make_config(api_base_url: str, **telegram: Any) -> Config:
    raw = yaml.safe_load((ROOT / "config.example.yml").read_text(encoding="utf-8"))
    raw["database"] = {"url": "sqlite://"}
    for person in raw["people"]:
        if person["id"] == "camille-ant":
            person["identities"] = [f"telegram:{CAMILLE}"]
        if person["id"] == "julien-accueil":
            person["identities"] = [f"telegram:{JULIEN}"]
    raw["adapters"]["telegram"] = {"enabled": True, "api_base_url": api_base_url, **telegram}
    return Config.model_validate(raw)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def tg_app(fake: FakeTelegram, clock: ManualClock, database_url: str) -> Iterator[App]:
    config = make_config(f"{fake.url}/bot")
    app = bootstrap(config, clock=clock, database_url=database_url, migrate=False, platforms=("telegram",))
    yield app
    app.close()


@pytest.fixture
def naps() -> Naps:
    return Naps()


@pytest.fixture
async def adapter(tg_app: App, naps: Naps) -> AsyncIterator[TelegramAdapter]:
    tg = TelegramAdapter(tg_app, env={"TELEGRAM_BOT_TOKEN": TOKEN}, poll_timeout=1, sleep=naps)
    await asyncio.wait_for(tg.start(), 10)
    yield tg
    await asyncio.wait_for(tg.stop(), 10)


def to(chat_id: int) -> Any:
    return lambda c: c.chat() == str(chat_id)


def texts(calls: list[Call]) -> list[str]:
    return [str(c.params["text"]) for c in calls]


# -- whole flows ---------------------------------------------------------------------------------------


async def test_invite_start_join_link_and_approved_join_request(
    fake: FakeTelegram, adapter: TelegramAdapter, tg_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The ANT asks for an invitation in the équipe group: the group hears that the code went in private.
    await fake.push(fake.message(EQUIPE, CAMILLE, f"/inviter@{BOT_USERNAME} gite-du-moulin"))
    (public,) = await fake.wait_for("sendMessage", to(EQUIPE))
    (private,) = await fake.wait_for("sendMessage", to(CAMILLE))
    assert "en message privé" in public.params["text"]
    assert public.params["parse_mode"] == "HTML" and "reply_parameters" in public.params
    link = re.search(rf"https://t\.me/{BOT_USERNAME}\?start=([A-Z0-9]{{12}})", private.params["text"])
    assert link is not None, private.params["text"]
    code = link.group(1)
    assert code not in public.params["text"]

    # Marie opens the deep link: Telegram sends /start CODE in private.
    await fake.push(fake.message(NEWCOMER, NEWCOMER, f"/start {code}", first_name="Marie"))
    (welcome,) = await fake.wait_for("sendMessage", to(NEWCOMER))
    (created,) = await fake.wait_for("createChatInviteLink")
    assert created.chat() == str(PRESTA) and created.params["creates_join_request"] == "true"
    assert "C'est fait, Marie" in welcome.params["text"]
    keyboard = welcome.params["reply_markup"]["inline_keyboard"]
    assert keyboard == [[{"text": "Rejoindre « Klub numérique des Trois Vallées »", "url": "https://t.me/+fakeJoin1"}]]

    # She asks to join through that link: approved, nothing said to anyone.
    await fake.push(fake.join_request(PRESTA, NEWCOMER, first_name="Marie"))
    (approved,) = await fake.wait_for("approveChatJoinRequest")
    assert approved.params == {"chat_id": str(PRESTA), "user_id": str(NEWCOMER)}
    assert fake.made("declineChatJoinRequest") == []
    with tg_app.sessions() as db:
        actions = [a for (a,) in db.execute(select(AuditLog.action).order_by(AuditLog.id))]
    assert actions == ["invite.create", "invite.redeem", "join.approve"]
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


async def test_unknown_join_request_is_declined_with_private_message_and_staff_notice(
    fake: FakeTelegram, adapter: TelegramAdapter, tg_app: App
) -> None:
    await fake.push(fake.join_request(PRESTA, STRANGER, first_name="Inconnu"))
    (declined,) = await fake.wait_for("declineChatJoinRequest")
    assert declined.params == {"chat_id": str(PRESTA), "user_id": str(STRANGER)}
    (private,) = await fake.wait_for("sendMessage", to(STRANGER))
    assert "n'est relié à personne" in private.params["text"]
    # Within the 5-minute window of user_chat_id, and before the decline closes it.
    order = [c.method for c in fake.calls if c.method in ("sendMessage", "declineChatJoinRequest")]
    assert order.index("declineChatJoinRequest") > 0
    (notice,) = await fake.wait_for("sendMessage", to(EQUIPE))
    assert "Demande d'adhésion refusée : Inconnu (telegram:6666)" in notice.params["text"]
    with tg_app.sessions() as db:
        row = db.scalars(select(AuditLog).where(AuditLog.action == "join.decline")).one()
        assert row.target == "telegram:6666"


async def test_group_command_mention_and_other_bots(fake: FakeTelegram, adapter: TelegramAdapter, tg_app: App) -> None:
    seen: list[tuple[str, bool]] = []

    def free_text(ctx: Any, text: str) -> list[Reply]:
        seen.append((text, ctx.incoming.mentions_bot))
        return [Reply("Bien reçu")] if ctx.incoming.mentions_bot else []

    tg_app.free_text_handler = free_text
    await fake.push(fake.message(EQUIPE, JULIEN, "/aide@AutreBot"))  # for another bot: ignored
    await fake.push(fake.message(EQUIPE, JULIEN, f"@{BOT_USERNAME} comment   renommer ma page ?"))
    await fake.push(fake.message(EQUIPE, JULIEN, "et pour Instagram ?", reply_to_bot=True))
    await fake.push(fake.message(EQUIPE, JULIEN, "/aide"))
    (helped,) = await fake.wait_for("sendMessage", lambda c: "Ce que je sais faire" in c.params["text"])
    assert "/inscrits" in helped.params["text"] and "<b>" in helped.params["text"]
    assert seen == [("comment renommer ma page ?", True), ("et pour Instagram ?", True)]
    assert len(fake.made("sendMessage", to(EQUIPE))) == 3


async def test_private_reply_to_someone_who_never_opened_the_bot(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    fake.fail("sendMessage", 403, chat_id=JULIEN)  # Telegram: "bot can't initiate conversation with a user"
    await fake.push(fake.message(EQUIPE, JULIEN, "/inscrits"))  # a personal list: answered in private
    told = await fake.wait_for("sendMessage", to(EQUIPE), count=2)
    assert "en message privé" in told[0].params["text"]
    assert "Je n'ai pas pu vous écrire en privé" in told[1].params["text"]
    assert [c.failed for c in fake.calls if c.method == "sendMessage" and c.chat() == str(JULIEN)] == [True]


async def test_button_press_becomes_its_command(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    await adapter.send(
        ChatRef("telegram", str(JULIEN), private=True),
        Reply("Choisissez :", buttons=((Button("Aide", "/aide"), Button("Langue", "/langue en")),)),
    )
    (menu,) = await fake.wait_for("sendMessage", to(JULIEN))
    assert menu.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Aide", "callback_data": "/aide"}, {"text": "Langue", "callback_data": "/langue en"}]
        ]
    }
    await fake.push(fake.callback(JULIEN, JULIEN, "/langue en"))
    (answered,) = await fake.wait_for("answerCallbackQuery")
    assert answered.params["callback_query_id"].startswith("cb")
    await fake.wait_for("sendMessage", lambda c: "answer you in English" in c.params["text"])


async def test_register_button_in_the_group_answers_in_private(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    await fake.push(fake.callback(PRESTA, JULIEN, "/inscrire 1"))
    (told,) = await fake.wait_for("sendMessage", to(JULIEN))
    assert "C'est noté" in told.params["text"]
    assert fake.made("sendMessage", to(PRESTA)) == []


async def test_register_button_names_the_person_when_the_bot_cannot_write_privately(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.fail("sendMessage", 403, chat_id=JULIEN)
    await fake.push(fake.callback(PRESTA, JULIEN, "/inscrire 1"))
    (told,) = await fake.wait_for("sendMessage", to(PRESTA))
    assert told.params["text"].startswith("Julien Petit : C'est noté : vous êtes inscrit(e)")


async def test_outbox_message_delivered_and_acked_once(
    fake: FakeTelegram, adapter: TelegramAdapter, tg_app: App
) -> None:
    acked = Acks(tg_app)
    reminder = OutMessage(ChatRef("telegram", str(PRESTA)), Reply("Rappel : <b>Klub numérique</b> jeudi à 18 h 30"))
    tg_app.outbox.put(reminder)
    (sent,) = await fake.wait_for("sendMessage", to(PRESTA))
    assert sent.params["text"] == "Rappel : <b>Klub numérique</b> jeudi à 18 h 30"
    await acked.wait(1)
    (row,) = acked.messages
    assert (row.chat, row.reply, row.ledger_id) == (reminder.chat, reminder.reply, 1)  # the outbox row
    # Something else happens afterwards: the reminder is not sent again.
    await fake.push(fake.message(JULIEN, JULIEN, "/aide"))
    await fake.wait_for("sendMessage", to(JULIEN))
    assert len(fake.made("sendMessage", to(PRESTA))) == 1
    assert [m.ledger_id for m in acked.messages if m.chat == reminder.chat] == [1]


async def test_429_is_honoured_without_duplicates(
    fake: FakeTelegram, adapter: TelegramAdapter, tg_app: App, naps: Naps
) -> None:
    acked = Acks(tg_app)
    fake.fail("sendMessage", 429, retry_after=3)
    tg_app.outbox.put(OutMessage(ChatRef("telegram", str(PRESTA)), Reply("Annonce")))
    await fake.wait_for("sendMessage", to(PRESTA))
    assert [c.failed for c in fake.calls if c.method == "sendMessage"] == [True, False]
    assert naps.delays and naps.delays[0] == pytest.approx(3, abs=0.2)
    await acked.wait(1)
    assert texts(fake.made("sendMessage")) == ["Annonce"]


async def test_network_errors_are_retried_with_backoff(
    fake: FakeTelegram, adapter: TelegramAdapter, tg_app: App, naps: Naps
) -> None:
    acked = Acks(tg_app)
    fake.fail("sendMessage", 502, times=2)
    tg_app.outbox.put(OutMessage(ChatRef("telegram", str(PRESTA)), Reply("Annonce")))
    await fake.wait_for("sendMessage", to(PRESTA))
    assert naps.delays == [1.0, 2.0]
    await acked.wait(1)
    assert len(fake.made("sendMessage")) == 1


async def test_outbox_message_waits_while_telegram_cannot_be_reached_then_goes_once(
    fake: FakeTelegram, adapter: TelegramAdapter, tg_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    adapter.pump.backoff = Backoff(0.01, 0.02)  # the tests' waits
    acked = Acks(tg_app)
    fake.fail("sendMessage", 502, times=6)  # longer than the sender's 5 attempts: the row must wait
    tg_app.outbox.put(OutMessage(ChatRef("telegram", str(PRESTA)), Reply("Annonce")))
    await acked.wait(1)
    assert [c.failed for c in fake.calls if c.method == "sendMessage"] == [True] * 6 + [False]
    assert "Telegram injoignable (erreur du serveur Telegram) : les envois attendent" in caplog.text


async def test_unconfigured_chat_is_told_once_then_left(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    await fake.push(fake.bot_added(-555, JULIEN))
    (told,) = await fake.wait_for("sendMessage", to(-555))
    assert "pas configuré pour Klub" in told.params["text"]
    (left,) = await fake.wait_for("leaveChat")
    assert left.chat() == "-555"
    await fake.push(fake.message(-555, JULIEN, "/aide"))
    await fake.push(fake.message(JULIEN, JULIEN, "/aide"))
    await fake.wait_for("sendMessage", to(JULIEN))
    assert len(fake.made("sendMessage", to(-555))) == 1


async def test_revocation_bans_then_unbans_in_every_group(
    fake: FakeTelegram, adapter: TelegramAdapter, tg_app: App
) -> None:
    await fake.push(fake.message(CAMILLE, CAMILLE, "/inviter gite-du-moulin"))
    (private,) = await fake.wait_for("sendMessage", to(CAMILLE))
    code = re.search(r"start=([A-Z0-9]{12})", private.params["text"])
    assert code is not None
    await fake.push(fake.message(NEWCOMER, NEWCOMER, f"/start {code.group(1)}"))
    await fake.wait_for("sendMessage", to(NEWCOMER))
    await fake.push(fake.message(EQUIPE, CAMILLE, "/retirer gite-du-moulin"))
    (done,) = await fake.wait_for("sendMessage", to(EQUIPE))
    assert "L'accès de Marie Dupont est retiré" in done.params["text"]
    unbans = await fake.wait_for("unbanChatMember", count=2)
    bans = fake.made("banChatMember")
    assert sorted((c.chat(), c.params["user_id"]) for c in bans) == [(str(EQUIPE), "2001"), (str(PRESTA), "2001")]
    assert all(c.params["only_if_banned"] == "true" for c in unbans)
    order = [(c.method, c.chat()) for c in fake.calls if c.method in ("banChatMember", "unbanChatMember")]
    assert order == [
        ("banChatMember", str(EQUIPE)),
        ("unbanChatMember", str(EQUIPE)),
        ("banChatMember", str(PRESTA)),
        ("unbanChatMember", str(PRESTA)),
    ]


async def test_command_menus_per_scope_and_language(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    calls = fake.made("setMyCommands")
    by_scope = {
        (
            c.params["scope"]["type"],
            c.params.get("chat_id", c.params["scope"].get("chat_id")),
            c.params.get("language_code"),
        ): c
        for c in calls
    }
    private_fr = by_scope[("all_private_chats", None, None)].params["commands"]
    assert {"command": "aide", "description": "la liste des commandes"} in private_fr
    assert all(c["command"] != "start" for c in private_fr)  # /start is not a menu entry
    private_en = by_scope[("all_private_chats", None, "en")].params["commands"]
    assert {"command": "aide", "description": "list of commands"} in private_en
    admins = [c["command"] for c in by_scope[("all_chat_administrators", None, None)].params["commands"]]
    assert "retirer" in admins and "inviter" in admins
    groups = [c["command"] for c in by_scope[("all_group_chats", None, None)].params["commands"]]
    assert "inviter" not in groups
    equipe = [c["command"] for c in by_scope[("chat", EQUIPE, None)].params["commands"]]
    assert "inscrits" in equipe and "inviter" not in equipe and "retirer" not in equipe  # staff: ANT work not shown
    assert all(re.fullmatch(r"[a-z0-9_]{1,32}", c["command"]) for call in calls for c in call.params["commands"])


async def test_long_messages_are_split_with_balanced_tags(fake: FakeTelegram, adapter: TelegramAdapter) -> None:
    paragraph = "<b>Étape</b> : ouvrez <i>Paramètres</i> puis suivez le guide pas à pas. " * 20
    text = "\n\n".join([paragraph] * 5) + "\n<b>" + "très long " * 300 + "</b>"
    await adapter.send(ChatRef("telegram", str(JULIEN), private=True), Reply(text))
    expected = len(split_html(sanitize(text)))
    assert expected >= 3
    await fake.wait_for("sendMessage", to(JULIEN), count=expected)
    parts = texts(fake.made("sendMessage", to(JULIEN)))
    assert all(utf16_len(p) <= 4096 for p in parts)
    for part in parts:
        assert part.count("<b>") == part.count("</b>") and part.count("<i>") == part.count("</i>")


def webhook_adapter(
    fake: FakeTelegram, clock: ManualClock, database_url: str, port: int
) -> tuple[App, TelegramAdapter]:
    """Klub in webhook mode, listening on 127.0.0.1:port, its API calls going to the fake server."""
    config = make_config(
        f"{fake.url}/bot",
        mode="webhook",
        webhook_url=f"http://127.0.0.1:{port}/klub-hook",
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    app = bootstrap(config, clock=clock, database_url=database_url, migrate=False, platforms=("telegram",))
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "s3cret-hook"}
    return app, TelegramAdapter(app, env=env)


async def test_webhook_mode_checks_the_secret(fake: FakeTelegram, clock: ManualClock, database_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app, tg = webhook_adapter(fake, clock, database_url, port)
    await asyncio.wait_for(tg.start(), 10)
    try:
        (hook,) = fake.made("setWebhook")
        assert hook.params["url"] == f"http://127.0.0.1:{port}/klub-hook"
        assert hook.params["secret_token"] == "s3cret-hook"
        update = {"update_id": 1, **fake.message(JULIEN, JULIEN, "/aide")}
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/klub-hook"
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
                assert r.status == 403
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-hook"}) as r:
                assert r.status == 200
        (helped,) = await fake.wait_for("sendMessage", to(JULIEN))
        assert "Ce que je sais faire" in helped.params["text"]
    finally:
        await asyncio.wait_for(tg.stop(), 10)
        app.close()


async def test_a_webhook_port_already_taken_is_one_clear_setup_error(
    fake: FakeTelegram, clock: ManualClock, database_url: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app, tg = webhook_adapter(fake, clock, database_url, port)
        try:
            # PTB registers the webhook before it listens: Telegram keeps the updates until a start succeeds.
            with pytest.raises(TelegramSetupError, match=f"127.0.0.1:{port}.*webhook_port") as refused:
                await asyncio.wait_for(tg.start(), 10)
            said = str(refused.value)
            assert TOKEN not in said
            # tornado leaves the socket it could not bind to the collector; its frames live in the traceback
            del refused
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()
        finally:
            await asyncio.wait_for(tg.stop(), 10)
            app.close()


async def test_missing_token_or_secret_is_a_clear_error(tg_app: App) -> None:
    with pytest.raises(TelegramSetupError, match="TELEGRAM_BOT_TOKEN"):
        TelegramAdapter(tg_app, env={})


# -- the command line, from a process that is not the bot ------------------------------------------------


@pytest.fixture
def fake_in_thread() -> Iterator[FakeTelegram]:
    """The fake server on its own loop, for the synchronous `klub` command line."""
    loop = asyncio.new_event_loop()
    server = FakeTelegram()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_cli_revoke_removes_from_telegram_groups_and_invite_asks_getme(
    fake_in_thread: FakeTelegram,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    raw = yaml.safe_load((ROOT / "config.example.yml").read_text(encoding="utf-8"))
    raw["faq"]["bases"] = [str(ROOT / "faq")]
    raw["adapters"]["telegram"] = {"enabled": True, "api_base_url": f"{fake_in_thread.url}/bot"}
    for person in raw["people"]:
        if person["id"] == "gite-du-moulin":
            person["identities"] = [f"telegram:{NEWCOMER}"]
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    base = ["--config", str(path)]
    db = ["--db", database_url]

    assert klub([*base, "invite", "create", "--office", "ot-trois-vallees", "--person", "camping-les-pins", *db]) == 0
    assert f"https://t.me/{BOT_USERNAME}?start=" in capsys.readouterr().out  # the username came from getMe

    assert klub([*base, "person", "revoke", "gite-du-moulin", *db]) == 0
    out = capsys.readouterr().out
    assert "Accès de Marie Dupont (gite-du-moulin) retiré." in out and "Retraits effectués : 2" in out
    removals = [(c.method, c.chat(), c.params["user_id"]) for c in fake_in_thread.calls if "ChatMember" in c.method]
    assert removals == [
        ("banChatMember", str(EQUIPE), str(NEWCOMER)),
        ("unbanChatMember", str(EQUIPE), str(NEWCOMER)),
        ("banChatMember", str(PRESTA), str(NEWCOMER)),
        ("unbanChatMember", str(PRESTA), str(NEWCOMER)),
    ]


# -- rendering ---------------------------------------------------------------------------------------


def test_only_the_html_subset_reaches_telegram() -> None:
    assert sanitize('<b>gras</b> <u>souligné</u> <a href="https://x.fr/?a=1&amp;b=2">lien</a>') == (
        '<b>gras</b> souligné <a href="https://x.fr/?a=1&amp;b=2">lien</a>'
    )
    assert sanitize("a < b & c > d &eacute; &#233; &amp;") == "a &lt; b &amp; c &gt; d é &#233; &amp;"
    assert sanitize("<b>pas fermé <i>du tout") == "<b>pas fermé <i>du tout</i></b>"
    assert sanitize("</i>orphelin <script>x</script>") == "orphelin x"
    assert sanitize("<code>un <b>code</b></code>") == "<code>un code</code>"


def test_split_keeps_short_messages_and_cuts_at_paragraphs() -> None:
    assert split_html("court", 10) == ["court"]
    text = "premier paragraphe\n\n<b>deuxième paragraphe</b> un peu plus long"
    parts = split_html(text, 40)
    assert parts[0] == "premier paragraphe"
    assert all(utf16_len(p) <= 40 for p in parts)
    assert "".join(parts).count("<b>") == "".join(parts).count("</b>")
    emoji = "🎉" * 3000  # two UTF-16 units each
    assert all(utf16_len(p) <= 4096 for p in split_html(emoji))


def test_command_names_for_telegram() -> None:
    assert command_name("compte-rendu") == "compte_rendu"
    assert command_name("aide") == "aide"
    assert command_name("événement") is None


def test_command_line_removals_without_a_token_are_reported_not_done(tg_app: App) -> None:
    # `klub person revoke` on a machine without the token: the removal is counted as not done (the CLI
    # tells the ANT), and it stays in the durable outbox: the running bot (or its next start) removes
    # the person — a revocation is never lost.
    tg_app.outbox.put(MemberAction("telegram", "-1001", "42").to_out())
    assert deliver_pending(tg_app, env={}) == (0, 1)
    (left,) = tg_app.outbox.drain("telegram")
    assert MemberAction.from_out(left) == MemberAction("telegram", "-1001", "42")


def test_command_line_removals_with_telegram_unreachable_are_reported_not_done(
    clock: ManualClock, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = bootstrap(
        make_config("http://127.0.0.1:1/bot"), clock=clock, database_url=database_url, migrate=False,
        platforms=("telegram",),
    )  # fmt: skip
    try:
        app.outbox.put(MemberAction("telegram", "-1001", "42").to_out())
        assert deliver_pending(app, env={"TELEGRAM_BOT_TOKEN": TOKEN}) == (0, 1)
        assert "telegram injoignable : connexion refusée" in caplog.text and TOKEN not in caplog.text
        (left,) = app.outbox.drain("telegram")  # still there, for the running bot
        assert MemberAction.from_out(left) == MemberAction("telegram", "-1001", "42")
    finally:
        app.close()
