"""A fake Telegram Bot API server on 127.0.0.1, speaking the real HTTP protocol.

The real python-telegram-bot library talks to it exactly as it talks to api.telegram.org: form-encoded
POSTs to /bot<token>/<method>, JSON answers {"ok": true, "result": ...}. Tests push updates (served by
long-polling getUpdates; they stay queued until a getUpdates offset confirms them, as on Telegram),
inspect every call, count deliveries per chat, inject failures (429 with retry_after, 502), and run a
callback when a given call arrives (e.g. kill the bot's process while that request is in flight).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "4242:FAKE-token-never-in-logs"
BOT_ID = 4242
BOT_USERNAME = "KlubTestBot"
JSON_FIELDS = {
    "reply_markup",
    "commands",
    "scope",
    "allowed_updates",
    "reply_parameters",
    "link_preview_options",
    "entities",
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    failed: bool = False

    def chat(self) -> str:
        return str(self.params.get("chat_id", ""))


@dataclass
class _Failure:
    status: int
    body: dict[str, Any] | None
    chat_id: str | None  # only calls to this chat fail (None: any call)


@dataclass
class _Trigger:
    method: str
    predicate: Callable[[Call], bool] | None
    count: int
    action: Callable[[], None]
    seen: int = 0


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    bot_user: dict[str, Any] = field(
        default_factory=lambda: {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Klub",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
    )

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._next_update_id = 1
        self._message_ids = itertools.count(500)
        self._link_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._closing = False
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self._triggers: list[_Trigger] = []
        self.confirmed = 0  # highest update_id confirmed by a getUpdates offset
        self.url = ""

    # -- server ---------------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """On `port` (a test that had Klub knock at a closed port first, or restarts this server), or any
        free one."""
        self._closing = False
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)  # its URLs hold the token
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return f"{self.url}/bot"  # what config.adapters.telegram.api_base_url takes

    async def stop(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else str(value)
            params[key] = json.loads(text) if key in JSON_FIELDS else text
        failure = self._take_failure(method, params)
        if failure is not None:
            await self._record(Call(method, params, failed=True))
            if failure.body is None:
                return web.Response(status=failure.status, text="Bad Gateway")
            return web.json_response(failure.body, status=failure.status)
        if method == "getUpdates":
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, status=404
            )
        call = Call(method, params)
        await self._record(call)
        for trigger in list(self._triggers):
            if trigger.method == method and (trigger.predicate is None or trigger.predicate(call)):
                trigger.seen += 1
                if trigger.seen == trigger.count:
                    self._triggers.remove(trigger)
                    trigger.action()  # before the answer: the client still waits for it
        return web.json_response({"ok": True, "result": handler(params)})

    def _take_failure(self, method: str, params: dict[str, Any]) -> _Failure | None:
        queue = self._failures[method]
        for failure in queue:
            if failure.chat_id is None or failure.chat_id == str(params.get("chat_id")):
                queue.remove(failure)
                return failure
        return None

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        self.confirmed = max(self.confirmed, offset - 1)
        timeout = float(params.get("timeout", 0) or 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._changed:
            while True:
                ready = [u for u in self._updates if u["update_id"] >= offset]
                if ready or self._closing:
                    return ready
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    return []

    # -- the Bot API methods Klub uses ------------------------------------------------------------------

    def _api_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot_user

    def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        return True

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat(int(params["chat_id"])),
            "from": self.bot_user,
            "text": params.get("text", ""),
        }

    def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        return self._message(params)

    def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        return self._message(params)

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    def _api_createChatInviteLink(self, params: dict[str, Any]) -> Any:
        return {
            "invite_link": f"https://t.me/+fakeJoin{next(self._link_ids)}",
            "creator": self.bot_user,
            "creates_join_request": params.get("creates_join_request") == "true",
            "is_primary": False,
            "is_revoked": False,
            "name": params.get("name", ""),
        }

    def _api_approveChatJoinRequest(self, params: dict[str, Any]) -> Any:
        return True

    def _api_declineChatJoinRequest(self, params: dict[str, Any]) -> Any:
        return True

    def _api_banChatMember(self, params: dict[str, Any]) -> Any:
        return True

    def _api_unbanChatMember(self, params: dict[str, Any]) -> Any:
        return True

    def _api_leaveChat(self, params: dict[str, Any]) -> Any:
        return True

    # -- test controls --------------------------------------------------------------------------------

    def fail(
        self, method: str, status: int = 429, *, retry_after: int = 1, times: int = 1, chat_id: int | None = None
    ) -> None:
        """The next `times` calls of `method` (to `chat_id`, if given) fail: 429 Too Many Requests with
        retry_after, 502 Bad Gateway, or any other status (403: the user never opened the bot)."""
        body: dict[str, Any] | None = None
        if status != 502:
            body = {"ok": False, "error_code": status, "description": f"Error {status}"}
            if status == 429:
                body["description"] = f"Too Many Requests: retry after {retry_after}"
                body["parameters"] = {"retry_after": retry_after}
        for _ in range(times):
            self._failures[method].append(_Failure(status, body, None if chat_id is None else str(chat_id)))

    def next_update_id(self) -> int:
        """The id the next pushed update will get."""
        return self._next_update_id

    async def push(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        self._next_update_id = update["update_id"] + 1
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    def when(
        self,
        method: str,
        action: Callable[[], None],
        *,
        count: int = 1,
        predicate: Callable[[Call], bool] | None = None,
    ) -> None:
        """Run `action` when the `count`-th successful `method` call (matching `predicate`) arrives,
        before it is answered: that request is in flight from the client's point of view."""
        self._triggers.append(_Trigger(method, predicate, count, action))

    def deliveries(self, method: str = "sendMessage") -> Counter[str]:
        """How many successful `method` calls each chat received."""
        return Counter(c.chat() for c in self.made(method))

    def made(self, method: str, predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and not c.failed and (predicate is None or predicate(c))]

    async def wait_for(
        self, method: str, predicate: Callable[[Call], bool] | None = None, *, count: int = 1, timeout: float = 10
    ) -> list[Call]:
        """Wait until `count` successful calls of `method` match; fails the test after `timeout`."""

        async def until() -> list[Call]:
            async with self._changed:
                while len(self.made(method, predicate)) < count:
                    await self._changed.wait()
                return self.made(method, predicate)

        return await asyncio.wait_for(until(), timeout)

    # -- updates, as Telegram sends them --------------------------------------------------------------

    def message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        first_name: str = "Test",
        language: str | None = "fr",
        reply_to_bot: bool = False,
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat(chat_id, user_id=user_id, first_name=first_name),
            "from": user(user_id, first_name, language),
            "text": text,
        }
        entities = _entities(text)
        if entities:
            msg["entities"] = entities
        if reply_to_bot:
            msg["reply_to_message"] = {
                "message_id": 1,
                "date": int(time.time()),
                "chat": chat(chat_id),
                "from": self.bot_user,
                "text": "…",
            }
        return {"message": msg}

    def callback(self, chat_id: int, user_id: int, data: str) -> dict[str, Any]:
        return {
            "callback_query": {
                "id": f"cb{next(self._message_ids)}",
                "from": user(user_id, "Test", "fr"),
                "chat_instance": "instance-1",
                "data": data,
                "message": {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": chat(chat_id, user_id=user_id),
                    "from": self.bot_user,
                    "text": "Un message avec des boutons",
                },
            }
        }

    def join_request(
        self, chat_id: int, user_id: int, *, first_name: str = "Test", language: str = "fr"
    ) -> dict[str, Any]:
        return {
            "chat_join_request": {
                "chat": chat(chat_id),
                "from": user(user_id, first_name, language),
                "user_chat_id": user_id,
                "date": int(time.time()),
            }
        }

    def bot_added(self, chat_id: int, by_user: int) -> dict[str, Any]:
        return {
            "my_chat_member": {
                "chat": chat(chat_id),
                "from": user(by_user, "Admin", "fr"),
                "date": int(time.time()),
                "old_chat_member": {"user": self.bot_user, "status": "left"},
                "new_chat_member": {"user": self.bot_user, "status": "member"},
            }
        }


def user(user_id: int, first_name: str = "Test", language: str | None = "fr") -> dict[str, Any]:
    out: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language:
        out["language_code"] = language
    return out


def chat(chat_id: int, *, user_id: int | None = None, first_name: str = "Test") -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": first_name}
    return {"id": chat_id, "type": "supergroup", "title": f"Groupe {chat_id}"}


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entities(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    m = re.match(r"/[A-Za-z0-9_]+(?:@\w+)?", text)
    if m:
        out.append({"type": "bot_command", "offset": 0, "length": _utf16(m.group(0))})
    for m in re.finditer(r"(?<![\w/])@\w{5,32}", text):
        out.append({"type": "mention", "offset": _utf16(text[: m.start()]), "length": _utf16(m.group(0))})
    return out
