"""A fake Discord REST API and gateway on 127.0.0.1, speaking the real protocols.

The real discord.py client talks to it as it talks to discord.com: REST calls under /api/v10 (JSON),
and a websocket gateway sending plain JSON text frames (no compression: discord.py only decompresses
binary frames, whatever `compress=` it puts in the URL). Tests push gateway events (interactions,
messages, members joining), inspect every REST call and can make a route fail. The server's scheduled
events live in `events` (id -> the event object the API returns), created and edited through REST.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yarl
from aiohttp import WSMsgType, web

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord.gateway
    import discord.http

TOKEN = "FAKE.discord-token.never-in-logs"
BOT_ID = 4242000000000000001
APP_ID = BOT_ID
GUILD_ID = 1180000000000000000
TIMESTAMP = "2026-11-20T08:00:00.000000+00:00"


@dataclass
class Call:
    method: str
    path: str  # without the /api/v10 prefix
    json: Any
    query: dict[str, str]
    failed: bool = False


@dataclass
class _Failure:
    method: str
    path: str
    status: int
    times: int


def _option_type(value: object) -> int:
    # Discord's option types: BOOLEAN 5, INTEGER 4, STRING 3.
    return 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py reads a body as JSON only when the content type is exactly application/json.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "global_name": name, "discriminator": "0", "avatar": None, "bot": bot}


@dataclass
class FakeDiscord:
    channels: dict[int, str] = field(default_factory=dict)  # id -> name, in the one guild
    calls: list[Call] = field(default_factory=list)
    heartbeat_ms: int = 500
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1190000000000000001))
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    dm_channels: dict[str, str] = field(default_factory=dict)  # user id -> DM channel id
    _failures: list[_Failure] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _ws: web.WebSocketResponse | None = None
    identified: asyncio.Event = field(default_factory=asyncio.Event)
    identify: dict[str, Any] | None = None
    gateway_query: dict[str, str] = field(default_factory=dict)  # ?v=10&encoding=json&compress=…
    _runner: web.AppRunner | None = None
    port: int = 0
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # guild scheduled events, by id
    # Interactions as Discord times them: when INTERACTION_CREATE left, when the callback arrived (it
    # must within 3 s, or the token is unknown), when the first follow-up or edit arrived.
    deadline: float = 3.0
    dispatched_at: dict[str, float] = field(default_factory=dict)  # interaction id -> loop time
    acked_in: dict[str, float] = field(default_factory=dict)  # interaction id -> seconds to the callback
    followed_in: dict[str, float] = field(default_factory=dict)  # id -> seconds to the first answer
    late: list[str] = field(default_factory=list)  # interactions whose callback came after the deadline
    _tokens: dict[str, str] = field(default_factory=dict)  # interaction token -> id

    # -- server -------------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        """On `port` (a test that had Klub knock at a closed port first), or any free one."""
        app = web.Application()
        app.router.add_get("/gateway-ws", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server: Any = site._server
        self.port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def patched(self) -> Iterator[None]:
        """Point discord.py at this server (class attributes), and put them back afterwards."""
        base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = f"{self.url}/api/v10"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{self.port}/gateway-ws")
        try:
            yield
        finally:
            discord.http.Route.BASE = base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway

    # -- gateway ------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.gateway_query = dict(request.query)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif op == 2:
                self.identify = payload["d"]
                await self._dispatch("READY", self._ready())
                await self._dispatch("GUILD_CREATE", self.guild())
                self.identified.set()
            elif op == 6:
                # RESUME: this server keeps no session across a restart, so, like Discord for a session it
                # no longer knows, it says INVALID_SESSION (not resumable) and the client identifies anew.
                await ws.send_str(json.dumps({"op": 9, "d": False}))
        return ws

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        assert self._ws is not None, "pas de client connecté à la passerelle"
        await self._ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    async def push(self, event: str, data: dict[str, Any]) -> None:
        await asyncio.wait_for(self.identified.wait(), 10)
        if event == "INTERACTION_CREATE":
            self._tokens[data["token"]] = data["id"]
            self.dispatched_at[data["id"]] = asyncio.get_running_loop().time()
        await self._dispatch(event, data)

    def _ready(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": user(BOT_ID, "Klub", bot=True),
            "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
            "session_id": "fake-session",
            "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway-ws",
            "application": {"id": str(APP_ID), "flags": 0},
        }

    def guild(self) -> dict[str, Any]:
        return {
            "id": str(GUILD_ID),
            "name": "Office des Trois Vallées",
            "owner_id": "1",
            "unavailable": False,
            "member_count": 3,
            "features": [],
            "emojis": [],
            "stickers": [],
            "members": [],
            "threads": [],
            "roles": [
                {
                    "id": str(GUILD_ID),
                    "name": "@everyone",
                    "permissions": "0",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                }
            ],
            "channels": [
                {"id": str(cid), "type": 0, "name": name, "position": n, "permission_overwrites": []}
                for n, (cid, name) in enumerate(self.channels.items())
            ],
        }

    # -- events -------------------------------------------------------------------------------------

    def next_id(self) -> str:
        return str(next(self._ids))

    def member(self, user_id: int, name: str) -> dict[str, Any]:
        return {
            "user": user(user_id, name),
            "roles": [],
            "joined_at": TIMESTAMP,
            "deaf": False,
            "mute": False,
            "flags": 0,
        }

    def interaction(
        self,
        *,
        user_id: int,
        name: str = "",
        channel_id: int | None = None,
        command: str | None = None,
        options: dict[str, object] | None = None,
        focused: tuple[str, str] | None = None,
        custom_id: str | None = None,
        locale: str = "fr",
        user_name: str = "Julien",
    ) -> dict[str, Any]:
        """A slash command (`command` with `options` by name), its autocompletion (`focused`: the option
        being typed and its text so far) or a button press (`custom_id`)."""
        data: dict[str, Any] = {
            "id": self.next_id(),
            "application_id": str(APP_ID),
            "token": f"itoken-{self.next_id()}",
            "version": 1,
            "locale": locale,
            "attachment_size_limit": 8388608,
            "app_permissions": "0",
        }
        if command is not None:
            given = [{"name": k, "type": _option_type(v), "value": v} for k, v in (options or {}).items()]
            if focused is not None:
                given.append({"name": focused[0], "type": 4, "value": focused[1], "focused": True})
            data["type"] = 4 if focused is not None else 2
            data["data"] = {"id": self.next_id(), "name": command, "type": 1, "options": given}
        else:
            assert custom_id is not None
            data["type"] = 3
            data["data"] = {"custom_id": custom_id, "component_type": 2}
            data["message"] = self.message_payload(channel_id or user_id, BOT_ID, "…", author_name="Klub", bot=True)
        if channel_id is None:  # a DM
            data["user"] = user(user_id, user_name)
            data["channel"] = {"id": self.next_id(), "type": 1}
        else:
            data["guild_id"] = str(GUILD_ID)
            data["channel_id"] = str(channel_id)
            data["channel"] = {
                "id": str(channel_id),
                "type": 0,
                "guild_id": str(GUILD_ID),
                "name": self.channels.get(channel_id, "salon"),
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            }
            data["member"] = {**self.member(user_id, user_name), "permissions": "0"}
        return data

    def member_join(self, user_id: int, name: str) -> dict[str, Any]:
        """GUILD_MEMBER_ADD (only sent to bots with the members intent)."""
        return {**self.member(user_id, name), "guild_id": str(GUILD_ID)}

    def message_payload(
        self,
        channel_id: int,
        author_id: int,
        content: str,
        *,
        author_name: str = "Julien",
        bot: bool = False,
        mentions: tuple[int, ...] = (),
        guild: bool = True,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.next_id(),
            "channel_id": str(channel_id),
            "author": user(author_id, author_name, bot=bot),
            "content": content,
            "timestamp": TIMESTAMP,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [user(m, "Klub" if m == BOT_ID else "x", bot=m == BOT_ID) for m in mentions],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
        }
        if guild:
            data["guild_id"] = str(GUILD_ID)
            data["member"] = {"roles": [], "joined_at": TIMESTAMP, "deaf": False, "mute": False, "flags": 0}
        return data

    # -- REST ---------------------------------------------------------------------------------------

    def fail(self, method: str, path: str, status: int, times: int = 1) -> None:
        """The next `times` such calls answer `status`; status 0: the call is carried out, then the
        connection drops before the answer (the client cannot know whether it happened)."""
        self._failures.append(_Failure(method, path, status, times))

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if raw:
                body = json.loads(raw) if request.content_type == "application/json" else raw.decode("utf-8", "replace")
        call = Call(request.method, path, body, dict(request.query))
        self.calls.append(call)
        self._changed.set()
        refused = self._interaction_rules(request.method, path)
        if refused is not None:
            call.failed = True
            return refused
        for failure in self._failures:
            if failure.times > 0 and failure.method == request.method and failure.path == path:
                failure.times -= 1
                call.failed = True
                if failure.status == 0:
                    self._answer(request.method, path, body)
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response(status=204)  # written to a closed connection: never read
                return _json({"message": "fake failure", "code": 0}, status=failure.status)
        return self._answer(request.method, path, body)

    def _interaction_rules(self, method: str, path: str) -> web.Response | None:
        """Discord's: one callback per interaction, within 3 s; follow-ups only on an acknowledged one."""
        parts = path.strip("/").split("/")
        now = asyncio.get_running_loop().time()
        if method == "POST" and parts[0] == "interactions" and len(parts) == 4:
            interaction_id = parts[1]
            if interaction_id in self.acked_in:
                return _json({"message": "Interaction has already been acknowledged.", "code": 40060}, 400)
            sent = self.dispatched_at.get(interaction_id)
            if sent is None or now - sent > self.deadline:
                self.late.append(interaction_id)
                return _json({"message": "Unknown interaction", "code": 10062}, 404)
            self.acked_in[interaction_id] = now - sent
        elif parts[0] == "webhooks" and len(parts) >= 3 and parts[2] in self._tokens:
            interaction_id = self._tokens[parts[2]]
            if interaction_id not in self.acked_in:
                return _json({"message": "Unknown Webhook", "code": 10015}, 404)
            self.followed_in.setdefault(interaction_id, now - self.dispatched_at[interaction_id])
        return None

    def _answer(self, method: str, path: str, body: Any) -> web.StreamResponse:
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            return _json(user(BOT_ID, "Klub", bot=True))
        if path == "/oauth2/applications/@me":
            return _json(
                {
                    "id": str(APP_ID),
                    "name": "Klub",
                    "description": "",
                    "icon": None,
                    "bot_public": False,
                    "bot_require_code_grant": False,
                    "owner": user(1, "owner"),
                    "verify_key": "0" * 64,
                    "flags": 0,
                }
            )
        if path in ("/gateway", "/gateway/bot"):
            return _json(
                {
                    "url": f"ws://127.0.0.1:{self.port}/gateway-ws",
                    "shards": 1,
                    "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
                }
            )
        if method == "PUT" and parts[0] == "applications" and parts[-1] == "commands":
            return _json(
                [
                    {**cmd, "id": self.next_id(), "application_id": str(APP_ID), "version": "1", "type": 1}
                    for cmd in (body or [])
                ]
            )
        if method == "POST" and parts[0] == "interactions":
            return _json({"interaction": {"id": parts[1], "type": 2}})
        if parts[0] == "webhooks" and method in ("POST", "PATCH"):
            return _json(self._sent_message(self.next_id(), body))
        if parts[0] == "webhooks" and method == "DELETE":
            return web.Response(status=204)
        if method == "POST" and parts[0] == "channels" and parts[-1] == "messages":
            return _json(self._sent_message(parts[1], body))
        if method == "POST" and path == "/users/@me/channels":
            recipient = str(body["recipient_id"])
            channel = self.dm_channels.setdefault(recipient, self.next_id())
            return _json({"id": channel, "type": 1, "recipients": [user(int(recipient), "x")]})
        if method == "GET" and parts[0] == "guilds" and len(parts) == 2:
            if parts[1] != str(GUILD_ID):
                return _json({"message": "Unknown Guild", "code": 10004}, status=404)
            # Like Discord's REST answer: the guild without its channels, members and threads.
            rest = {k: v for k, v in self.guild().items() if k not in ("channels", "members", "threads")}
            return _json(rest)
        if parts[0] == "guilds" and "roles" in parts and method in ("PUT", "DELETE"):
            return web.Response(status=204)
        if parts[0] == "guilds" and len(parts) >= 3 and parts[2] == "scheduled-events":
            return self._scheduled_events(method, parts[1], parts[3] if len(parts) > 3 else None, body)
        return _json({"message": f"route inconnue {method} {path}", "code": 0}, status=404)

    def _scheduled_events(self, method: str, guild_id: str, event_id: str | None, body: Any) -> web.StreamResponse:
        if method == "GET" and event_id is None:
            # Like Discord: the list holds the events still to come or under way.
            return _json([e for e in self.events.values() if e["guild_id"] == guild_id and e["status"] in (1, 2)])
        if method == "POST" and event_id is None:
            if body.get("entity_type") == 3 and not (body.get("entity_metadata") or {}).get("location"):
                return _json({"message": "Invalid Form Body", "code": 50035}, status=400)
            event = {
                "id": self.next_id(),
                "guild_id": guild_id,
                "channel_id": None,
                "creator_id": str(BOT_ID),
                "entity_id": None,
                "image": None,
                "status": 1,
                "description": None,
                "scheduled_end_time": None,
                "entity_metadata": None,
                **body,
            }
            self.events[event["id"]] = event
            return _json(event)
        found = self.events.get(event_id or "")
        if found is None:
            return _json({"message": "Unknown Guild Scheduled Event", "code": 10070}, status=404)
        event = found
        if method == "PATCH":
            if event["status"] in (3, 4):
                return _json({"message": "Cannot update a finished event", "code": 180000}, status=400)
            event.update(body)
            return _json(event)
        if method == "GET":
            return _json(event)
        return _json({"message": "405: Method Not Allowed", "code": 0}, status=405)

    def _sent_message(self, channel_id: str, body: Any) -> dict[str, Any]:
        content = body.get("content", "") if isinstance(body, dict) else ""
        return self.message_payload(int(channel_id), BOT_ID, content or "", author_name="Klub", bot=True, guild=False)

    # -- inspection ---------------------------------------------------------------------------------

    def made(self, method: str, prefix: str, where: Callable[[Call], bool] | None = None) -> list[Call]:
        return [
            c for c in self.calls if c.method == method and c.path.startswith(prefix) and (where is None or where(c))
        ]

    async def wait_for(
        self,
        method: str,
        prefix: str,
        where: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 5,
    ) -> list[Call]:
        async def until() -> list[Call]:
            while True:
                found = self.made(method, prefix, where)
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(until(), timeout)

    def shown(self, event: dict[str, Any]) -> list[Shown]:
        """What the member sees for an interaction, in order: a direct answer (callback type 4), the
        deferred placeholder once edited (it keeps the deferral's visibility), and the follow-ups."""
        token, interaction_id = event["token"], event["id"]
        out: list[Shown] = []
        deferred_hidden = False
        for c in self.calls:
            if c.failed:
                continue
            if c.method == "POST" and c.path.startswith(f"/interactions/{interaction_id}/"):
                kind = c.json.get("type")
                if kind == 4:
                    out.append(Shown(content(c), bool(flags(c) & 64), c))
                elif kind == 5:
                    deferred_hidden = bool(flags(c) & 64)
            elif c.path.startswith(f"/webhooks/{APP_ID}/{token}"):
                if c.method == "PATCH" and c.path.endswith("/messages/@original"):
                    out.append(Shown(content(c), deferred_hidden, c))
                elif c.method == "POST":
                    out.append(Shown(content(c), bool(flags(c) & 64), c))
        return out

    async def wait_shown(self, event: dict[str, Any], count: int = 1, timeout: float = 5) -> list[Shown]:
        async def until() -> list[Shown]:
            while True:
                found = self.shown(event)
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(until(), timeout)


@dataclass(frozen=True)
class Shown:
    """One message a member sees in answer to an interaction, and whether only they see it."""

    text: str
    ephemeral: bool
    call: Call


def content(call: Call) -> str:
    """The text of a message-sending call (interaction callbacks nest it under "data")."""
    body = call.json if isinstance(call.json, dict) else {}
    if "type" in body and "data" in body:
        body = body["data"]
    return str(body.get("content", ""))


def flags(call: Call) -> int:
    body = call.json if isinstance(call.json, dict) else {}
    if "type" in body and "data" in body:
        body = body["data"]
    return int(body.get("flags", 0) or 0)
