"""`klub run` when a platform cannot be reached, measured from outside.

The real process runs against the fake Discord and Telegram servers on 127.0.0.1, or against a port
where nothing listens yet (connection refused), or a fake that answers 503, or one that refuses the
token. Klub must stay up (the other platform answering, the dashboard serving), say in one French line
per attempt that it tries again, never print a traceback, and — once the platform answers — connect and
deliver the outbox rows that waited. A refused token at start is one line and exit code 2; refused only
once the platform is reached again, it stops that adapter and the rest goes on.

The waits between attempts are the configuration's (`adapters.reconnect`, a few hundredths of a second
here); the test only waits for conditions — a line in the log, a call on a fake server, a row's status —
each bounded by WAIT.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import pytest
import yaml
from sqlalchemy import select

from bot.bootstrap import bootstrap
from bot.config import load_config
from bot.messages import ChatRef, OutMessage, Reply
from bot.storage import db as storage
from bot.storage.tables import OutboxRow

from .conftest import ROOT
from .fake_discord import TOKEN as DISCORD_TOKEN
from .fake_discord import FakeDiscord, content
from .fake_telegram import TOKEN as TELEGRAM_TOKEN
from .fake_telegram import FakeTelegram
from .test_crash import WAIT, Klub
from .test_discord_adapter import EQUIPE, PRESTA, WELCOME, make_config

ON_DISCORD = "Annonce écrite pendant que Discord était injoignable"
ON_TELEGRAM = "Annonce écrite pendant que Telegram était injoignable"
TG_CHAT = 31_337  # someone writing to the bot in private on Telegram (unknown: gets the guest's help)
RECONNECT = {"first": 0.05, "max": 0.2}  # seconds: the tests' backoff


def free_port() -> int:
    """A port nothing listens on (the fake server starts on it later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Watched(Klub):
    """A `klub run` whose log is read while it is written."""

    secrets: ClassVar[dict[str, str]] = {"DISCORD_BOT_TOKEN": DISCORD_TOKEN, "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN}

    def __init__(self, config_path: Path, instance: str = "klub-u") -> None:
        super().__init__(config_path, instance)
        self.lines: list[str] = []
        self._new = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.lines.append(line.decode("utf-8", "replace"))
            self._new.set()
        self._new.set()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def wait_log(self, text: str, count: int = 1) -> None:
        async def until() -> None:
            while self.count(text) < count:
                assert self.running or not self._reader_done(), f"klub run s'est arrêté :\n{self.log}"
                self._new.clear()
                await self._new.wait()

        try:
            await asyncio.wait_for(until(), WAIT)
        except TimeoutError:
            pytest.fail(f"« {text} » ×{count} absent du journal :\n{self.log}")

    def _reader_done(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def ended(self) -> tuple[int, str]:
        """Wait for the process to end by itself, within the bound."""
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), WAIT)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, WAIT)
        return code, self.log

    async def stop_now(self) -> tuple[int, str]:
        """SIGTERM: a clean stop, within the bound."""
        if self.running:
            self.stop()
        return await self.ended()


def write_config(
    tmp_path: Path,
    database_url: str,
    *,
    discord_port: int | None = None,
    telegram_api: str | None = None,
    web_port: int | None = None,
) -> Path:
    port = discord_port or 1
    raw: dict[str, Any] = make_config(
        events=False, api_base_url=f"http://127.0.0.1:{port}/api/v10", gateway_url=f"ws://127.0.0.1:{port}/gateway-ws"
    ).model_dump(mode="json", exclude_defaults=True)
    raw["database"] = {"url": database_url}
    raw["faq"]["bases"] = [str(ROOT / base) for base in raw["faq"]["bases"]]  # relative to the config file
    adapters = raw["adapters"]
    adapters["console"] = {"enabled": False}
    adapters["discord"]["enabled"] = discord_port is not None
    adapters["telegram"] = {
        "enabled": telegram_api is not None,
        "api_base_url": telegram_api or "http://127.0.0.1:1/bot",
    }
    adapters["reconnect"] = RECONNECT
    raw["web"] = {"enabled": web_port is not None, "port": web_port or 8080}
    raw["delivery"] = {"heartbeat": 0.2, "dead_after": 1.0, "poll": 0.2, "lease": 30, "batch": 10}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def put(config_path: Path, database_url: str, message: OutMessage) -> None:
    """A row in the outbox, written by another process (as the command line or another instance would)."""
    app = bootstrap(
        load_config(config_path, env={}), database_url=database_url, platforms=("telegram", "discord"), migrate=False
    )
    try:
        app.outbox.put(message)
    finally:
        app.close()


def statuses(database_url: str, text: str) -> list[str]:
    engine = storage.make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxRow.status, OutboxRow.payload)).all()
    finally:
        engine.dispose()
    return [status for status, payload in rows if json.loads(payload).get("text") == text]


def on_discord() -> OutMessage:
    return OutMessage(ChatRef("discord", str(EQUIPE)), Reply(ON_DISCORD))


def posted(fake: FakeDiscord, text: str) -> list[Any]:
    return fake.made("POST", f"/channels/{EQUIPE}/messages", lambda c: content(c) == text and not c.failed)


def to(chat_id: int) -> Any:
    return lambda c: c.chat() == str(chat_id)


async def answered_on_telegram(telegram: FakeTelegram) -> None:
    """Telegram works meanwhile: a private message gets its answer."""
    before = len(telegram.made("sendMessage", to(TG_CHAT)))
    await telegram.push(telegram.message(TG_CHAT, TG_CHAT, "/aide"))
    await telegram.wait_for("sendMessage", to(TG_CHAT), count=before + 1, timeout=WAIT)


async def dashboard_serves(port: int) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/login") as answer:
        assert answer.status == 200


async def until_status(database_url: str, text: str, wanted: list[str]) -> None:
    """The row's status, read from the database until it is `wanted` (polled, bounded by WAIT)."""

    async def until() -> None:
        while await asyncio.to_thread(statuses, database_url, text) != wanted:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(until(), WAIT)


def discord_server() -> FakeDiscord:
    return FakeDiscord(channels={EQUIPE: "equipe", PRESTA: "prestataires", WELCOME: "bienvenue"})


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(autouse=True)
def _no_stray_process() -> Iterator[None]:
    yield
    for klub in Klub.started:  # a failed test must not leave a bot running against the test database
        if klub.proc is not None and klub.proc.returncode is None:
            klub.proc.kill()
    Klub.started.clear()


# -- Discord -------------------------------------------------------------------------------------------


async def test_discord_unreachable_at_start_klub_stays_up_then_delivers_what_waited(
    tmp_path: Path, database_url: str, telegram: FakeTelegram
) -> None:
    port, web_port = free_port(), free_port()
    api = f"{telegram.url}/bot"
    path = write_config(tmp_path, database_url, discord_port=port, telegram_api=api, web_port=web_port)
    put(path, database_url, on_discord())
    klub = Watched(path)
    await klub.start()
    await klub.wait_log("Discord injoignable (connexion refusée) : nouvel essai dans", count=3)
    await klub.wait_log("Klub est lancé (telegram, discord)")
    assert klub.running
    await answered_on_telegram(telegram)
    await dashboard_serves(web_port)
    assert statuses(database_url, ON_DISCORD) == ["pending"]  # waiting, not given up

    discord = discord_server()
    await discord.start(port)
    try:
        sent = await discord.wait_for(
            "POST", f"/channels/{EQUIPE}/messages", lambda c: content(c) == ON_DISCORD, timeout=WAIT
        )
        await asyncio.wait_for(discord.identified.wait(), WAIT)
        await until_status(database_url, ON_DISCORD, ["sent"])
        code, log = await klub.stop_now()
    finally:
        await discord.stop()
    assert code == 0, log
    assert "Traceback" not in log
    assert "Discord de nouveau joignable" in log
    assert len(sent) == 1 and len(posted(discord, ON_DISCORD)) == 1


async def test_discord_answering_503_at_start_is_retried_then_connects(tmp_path: Path, database_url: str) -> None:
    discord = discord_server()
    port = free_port()
    discord.fail("GET", "/users/@me", 503, times=3)
    await discord.start(port)
    try:
        path = write_config(tmp_path, database_url, discord_port=port)
        put(path, database_url, on_discord())
        klub = Watched(path)
        await klub.start()
        await asyncio.wait_for(discord.identified.wait(), WAIT)
        await discord.wait_for("POST", f"/channels/{EQUIPE}/messages", lambda c: content(c) == ON_DISCORD, timeout=WAIT)
        code, log = await klub.stop_now()
    finally:
        await discord.stop()
    assert code == 0, log
    assert klub.count("Discord injoignable (erreur 503 du serveur Discord) : nouvel essai dans") == 3
    assert "Traceback" not in log
    assert len(posted(discord, ON_DISCORD)) == 1


async def test_discord_lost_while_running_rows_wait_and_the_gateway_comes_back(
    tmp_path: Path, database_url: str
) -> None:
    discord = discord_server()
    port = free_port()
    await discord.start(port)
    path = write_config(tmp_path, database_url, discord_port=port)
    klub = Watched(path)
    try:
        await klub.start()
        await asyncio.wait_for(discord.identified.wait(), WAIT)
        await discord.stop()  # Discord gone: the gateway drops, REST is refused
        discord.identified.clear()
        await klub.wait_log("Discord injoignable (connexion refusée) : nouvel essai dans", count=2)
        put(path, database_url, on_discord())  # written meanwhile (another process): it must wait
        await klub.wait_log("Discord injoignable (connexion refusée) : les envois attendent, nouvel essai dans")
        # The line can reach the log before the row's return to pending is committed: read until it is.
        await until_status(database_url, ON_DISCORD, ["pending"])
        assert klub.running

        await discord.start(port)
        await asyncio.wait_for(discord.identified.wait(), WAIT)  # RESUME refused: a fresh IDENTIFY
        await discord.wait_for("POST", f"/channels/{EQUIPE}/messages", lambda c: content(c) == ON_DISCORD, timeout=WAIT)
        await until_status(database_url, ON_DISCORD, ["sent"])
        code, log = await klub.stop_now()
    finally:
        await discord.stop()
    assert code == 0, log
    assert "Traceback" not in log
    assert len(posted(discord, ON_DISCORD)) == 1


async def test_discord_token_refused_at_start_is_one_line_and_code_2(
    tmp_path: Path, database_url: str, telegram: FakeTelegram
) -> None:
    discord = discord_server()
    port = free_port()
    discord.fail("GET", "/users/@me", 401, times=10)
    await discord.start(port)
    try:
        path = write_config(tmp_path, database_url, discord_port=port, telegram_api=f"{telegram.url}/bot")
        klub = Watched(path)
        await klub.start()
        code, log = await klub.ended()  # Telegram was fine: the refused token still stops the start
    finally:
        await discord.stop()
    assert code == 2, log
    refused = [line for line in klub.lines if "jeton" in line]
    assert refused == ["klub : jeton refusé par Discord : vérifiez la variable d'environnement DISCORD_BOT_TOKEN\n"], (
        log
    )
    assert "Traceback" not in log and DISCORD_TOKEN not in log
    assert "Klub est lancé" not in log


async def test_discord_token_refused_once_reachable_again_stops_discord_only(
    tmp_path: Path, database_url: str, telegram: FakeTelegram
) -> None:
    port = free_port()
    path = write_config(tmp_path, database_url, discord_port=port, telegram_api=f"{telegram.url}/bot")
    put(path, database_url, on_discord())
    klub = Watched(path)
    await klub.start()
    await klub.wait_log("Discord injoignable (connexion refusée) : nouvel essai dans", count=2)
    discord = discord_server()
    discord.fail("GET", "/users/@me", 401, times=100)  # the token was reset in the portal meanwhile
    await discord.start(port)
    try:
        await klub.wait_log("jeton refusé par Discord : vérifiez la variable d'environnement DISCORD_BOT_TOKEN")
        assert klub.running
        await answered_on_telegram(telegram)  # the other platform goes on
        code, log = await klub.stop_now()
    finally:
        await discord.stop()
    assert code == 0, log
    assert klub.count("jeton refusé") == 1 and "Discord est arrêté (les autres plateformes continuent)" in log
    assert "Traceback" not in log and DISCORD_TOKEN not in log
    assert len(discord.made("GET", "/users/@me")) == 1  # said once, not retried: it will never work
    assert statuses(database_url, ON_DISCORD) == ["pending"]  # kept for a start with a good token


# -- Telegram ------------------------------------------------------------------------------------------


async def test_telegram_unreachable_at_start_klub_stays_up_then_delivers_what_waited(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    path = write_config(tmp_path, database_url, telegram_api=f"http://127.0.0.1:{port}/bot")
    put(path, database_url, OutMessage(ChatRef("telegram", str(TG_CHAT), private=True), Reply(ON_TELEGRAM)))
    klub = Watched(path)
    await klub.start()
    await klub.wait_log("Telegram injoignable (connexion refusée) : nouvel essai dans", count=3)
    assert klub.running and statuses(database_url, ON_TELEGRAM) == ["pending"]

    telegram = FakeTelegram()
    await telegram.start(port)
    try:
        sent = await telegram.wait_for("sendMessage", lambda c: c.params.get("text") == ON_TELEGRAM, timeout=WAIT)
        await answered_on_telegram(telegram)
        await until_status(database_url, ON_TELEGRAM, ["sent"])
        code, log = await klub.stop_now()
    finally:
        await telegram.stop()
    assert code == 0, log
    assert "Traceback" not in log and TELEGRAM_TOKEN not in log
    assert len(sent) == 1


async def test_telegram_lost_while_polling_is_waited_out_without_traceback(tmp_path: Path, database_url: str) -> None:
    telegram = FakeTelegram()
    port = free_port()
    await telegram.start(port)
    path = write_config(tmp_path, database_url, telegram_api=f"{telegram.url}/bot")
    klub = Watched(path)
    try:
        await klub.start()
        await answered_on_telegram(telegram)
        await telegram.stop()  # Telegram gone while Klub long-polls
        await klub.wait_log("Telegram injoignable (connexion refusée) : nouvel essai dans", count=2)
        assert klub.running
        await telegram.start(port)
        await answered_on_telegram(telegram)  # the long poll under way returns with it
        await klub.wait_log("Telegram de nouveau joignable")
        code, log = await klub.stop_now()
    finally:
        await telegram.stop()
    assert code == 0, log
    assert "Traceback" not in log and TELEGRAM_TOKEN not in log


async def test_telegram_token_refused_at_start_is_one_line_and_code_2(tmp_path: Path, database_url: str) -> None:
    telegram = FakeTelegram(token="4242:another-token")  # ours is refused: 401
    await telegram.start()
    try:
        path = write_config(tmp_path, database_url, telegram_api=f"{telegram.url}/bot")
        klub = Watched(path)
        await klub.start()
        code, log = await klub.ended()
    finally:
        await telegram.stop()
    assert code == 2, log
    assert [line for line in klub.lines if "jeton" in line] == [
        "klub : jeton refusé par Telegram : vérifiez la variable d'environnement TELEGRAM_BOT_TOKEN\n"
    ], log
    assert "Traceback" not in log and TELEGRAM_TOKEN not in log
