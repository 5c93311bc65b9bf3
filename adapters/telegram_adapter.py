"""Telegram, through python-telegram-bot v22: updates in, replies, outbox messages and gate actions out.

The adapter converts and renders; it decides nothing. Who joins a group is `bot.gate.decide_join`'s
call, who is removed comes from the outbox (`MemberAction`), what to answer is `Core.handle`'s.

Delivery rules: a 429 is honoured (every call waits out `retry_after`), a failure that certainly did
not reach Telegram (connection refused, 5xx, pool timeout) is retried with backoff — and if Telegram
still cannot be reached, the outbox row waits, pending, for it to come back — and a failure that may
have reached it (read timeout, dropped connection) is never retried for a message: an outbox message is
acknowledged once, after Telegram accepted it, and never sent twice.

Telegram unreachable at start does not stop Klub: `start` returns and the connection is tried again in
the background, one French line per attempt; once polling, an outage is waited out by the polling
connection itself (`adapters.telegram_polling`). A token Telegram refuses at start is a setup error
(`klub run` exits 2); refused later, the adapter says so in one line and stops, the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
import re
import warnings
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    ChatJoinRequestHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from adapters import outbox_pump
from adapters.base import Adapter, AdapterSetupError, PlatformUnreachable, TokenRefused
from adapters.outbox_pump import DeliveryUncertain, OutboxPump
from adapters.reconnect import Backoff, keep_trying
from adapters.telegram_polling import PollingRequest, cause, certainly_not_sent, not_delivered
from adapters.telegram_render import (
    MAX_MESSAGE,
    command_description,
    command_name,
    sanitize,
    split_html,
    visible,
)
from bot import gate, membership
from bot.app import App
from bot.config import Config, TelegramConfig
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, t
from bot.inbox import Inbox
from bot.messages import ChatRef, GateReply, Incoming, MemberAction, OutMessage, Reply, UserRef
from bot.roles import Role
from bot.storage.tables import Group

log = logging.getLogger(__name__)

PLATFORM = "telegram"
ALLOWED_UPDATES = ("message", "callback_query", "chat_join_request", "my_chat_member")
MAX_CALLBACK_DATA = 64  # bytes
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
TgApplication = Application[Any, Any, Any, Any, Any, Any]



class TelegramSetupError(AdapterSetupError):
    """The adapter cannot start: a clear French line (never containing the token)."""


class TelegramTokenRefused(TokenRefused, TelegramSetupError):
    """Telegram refuses the token (401, or 404 for a malformed one)."""


def read_token(cfg: TelegramConfig, env: Mapping[str, str]) -> str:
    token = env.get(cfg.token_env, "").strip()
    if not token:
        raise TelegramSetupError(
            f"la variable d'environnement {cfg.token_env} (jeton du bot Telegram) n'est pas définie"
        )
    return token


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns while it moves retry_after from int to timedelta; accept both.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class _DropRateLimiterNoise(logging.Filter):
    # AIORateLimiter(max_retries=0) logs every 429 as an error with a traceback; our Sender retries
    # it and logs it once, at the right level.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Rate limit hit after maximum of 0 retries")


def prepare_library() -> None:
    # Opt in to PTB 23's durations as timedelta (we read both): otherwise each 429 also raises a
    # deprecation warning inside the library.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    # httpx logs each request URL at INFO, and the Bot API URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    limiter_log = logging.getLogger("telegram.ext.AIORateLimiter")
    if not any(isinstance(f, _DropRateLimiterNoise) for f in limiter_log.filters):
        limiter_log.addFilter(_DropRateLimiterNoise())


class Sender:
    """Every Bot API call goes through `call`: flood waits are shared, retries are bounded."""

    def __init__(self, *, sleep: Sleep = asyncio.sleep, attempts: int = 5, backoff: float = 1.0) -> None:
        self.sleep = sleep
        self.attempts = attempts
        self.backoff = backoff
        self._resume_at = 0.0  # loop time before which nobody calls (after a 429)

    async def call(self, what: str, fn: Callable[[], Awaitable[T]], *, idempotent: bool = False) -> T:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            wait = self._resume_at - loop.time()
            if wait > 0:
                await self.sleep(wait)
            try:
                return await fn()
            except RetryAfter as exc:
                delay = retry_after_seconds(exc)
                self._resume_at = max(self._resume_at, loop.time() + delay)
                log.warning("Telegram demande d'attendre %.0f s avant %s", delay, what)
                failures += 1
                if failures >= self.attempts:
                    raise
                continue
            except (BadRequest, Forbidden):
                raise  # our request is wrong, or we are not allowed: retrying changes nothing
            except NetworkError as exc:
                if not (idempotent or certainly_not_sent(exc)):
                    raise DeliveryUncertain(f"{what} : {exc}") from exc
                failures += 1
                if failures >= self.attempts:
                    raise
                delay = min(30.0, self.backoff * 2 ** (failures - 1))
                log.warning("erreur réseau pendant %s (%s) : nouvel essai dans %.1f s", what, exc, delay)
                await self.sleep(delay)


class InboxQueue(asyncio.Queue[object]):
    """PTB's update queue, storing each update in the inbox before it is queued. Polling confirms an
    update (the next getUpdates offset) and the webhook answers 200 only after `put` returned: nothing
    acknowledged to Telegram lives only in memory."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            payload = item.to_json()
            if not await asyncio.to_thread(self.inbox.store, PLATFORM, str(item.update_id), payload):
                return  # sent again by Telegram: already handled, or queued from the inbox
        await super().put(item)

    async def requeue(self, item: Update) -> None:
        await super().put(item)


class TelegramAdapter(Adapter):
    name: ClassVar[str] = PLATFORM

    def __init__(
        self,
        app: App,
        *,
        env: Mapping[str, str] | None = None,
        poll_timeout: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        backoff: float = 1.0,
    ) -> None:
        self.app = app
        self.cfg = app.config.adapters.telegram
        self._env = dict(os.environ) if env is None else env
        self._token = read_token(self.cfg, self._env)
        self.poll_timeout = poll_timeout
        self.sender = Sender(sleep=sleep, backoff=backoff)
        self.reconnect = Backoff.from_config(app.config.adapters.reconnect)
        self.polling: PollingRequest | None = None  # getUpdates' connection, of the application being built
        self._stopping = asyncio.Event()
        self._reaching: asyncio.Task[None] | None = None
        self._listening = False
        self.application: TgApplication | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.username = ""
        self.bot_id = 0
        self._join_links: dict[str, str] = {}
        self.pump = OutboxPump(
            app,
            PLATFORM,
            self._send_out,
            self.execute,
            expected=(TelegramError,),
            unreachable=lambda exc: not_delivered(exc, self.cfg.token_env),
        )
        self.queue = InboxQueue(app.inbox)

    # -- lifecycle ----------------------------------------------------------------------------------

    def _build(self) -> TgApplication:
        base = self.cfg.api_base_url
        file_base = base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base
        self.polling = PollingRequest(self.reconnect, on_back=self._back, on_refused=self._refused_polling)
        return (
            Application.builder()
            .token(self._token)
            .base_url(base)
            .base_file_url(file_base)
            .rate_limiter(AIORateLimiter(max_retries=0))
            .update_queue(self.queue)
            .get_updates_request(self.polling)
            .build()
        )

    async def open(self) -> TgApplication:
        """Connect the bot (getMe) without receiving updates: enough to send (the CLI uses this).
        Raises TelegramTokenRefused, or PlatformUnreachable with a short French cause."""
        prepare_library()
        application = self._build()
        try:
            await application.initialize()
        except InvalidToken as exc:  # its text holds the token: never shown
            await application.bot.shutdown()
            raise TelegramTokenRefused(self._token_refused()) from exc
        except TelegramError as exc:
            await application.bot.shutdown()
            raise PlatformUnreachable(cause(exc)) from exc
        self.application = application
        self.username = application.bot.username
        self.bot_id = application.bot.id
        return application

    def _token_refused(self) -> str:
        return f"jeton refusé par Telegram : vérifiez la variable d'environnement {self.cfg.token_env}"

    async def start(self) -> None:
        """Connect, publish the menu, receive. Telegram unreachable: one line, and the connection is tried
        again in the background (this returns at once); a refused token raises TelegramTokenRefused."""
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        webhook = self._webhook_args() if self.cfg.mode == "webhook" else None  # setup errors before the network
        try:
            await self._connect(webhook)
        except PlatformUnreachable as exc:
            self._reaching = asyncio.create_task(self._reach(str(exc), webhook), name="telegram-connect")

    async def _reach(self, why: str, webhook: dict[str, Any] | None) -> None:
        """Connect again and again, waiting longer each time, until Telegram answers. A refused token or a
        webhook port already taken ends it: said once, the adapter stays stopped."""
        ok, _ = await keep_trying(
            "Telegram", why, self.reconnect, self._stopping, lambda: self._connect(webhook), TelegramSetupError,
            self._refused,
        )
        if ok:
            log.warning("Telegram de nouveau joignable : connecté")

    async def _connect(self, webhook: dict[str, Any] | None) -> None:
        application = await self.open()
        try:
            application.add_handler(
                MessageHandler(filters.UpdateType.MESSAGE & (filters.TEXT | filters.CAPTION), self._on_message)
            )
            application.add_handler(CallbackQueryHandler(self._on_callback))
            application.add_handler(ChatJoinRequestHandler(self._on_join_request))
            application.add_handler(ChatMemberHandler(self._on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
            # Last group: every update, whatever handled it (or none did), is closed in the inbox.
            application.add_handler(TypeHandler(Update, self._on_handled), group=99)
            application.add_error_handler(self._on_error)
            await self.publish_commands()
            await application.start()
            if not self._listening:
                self.app.inbox.on_released(self._on_released)
                self._listening = True
            await self.resume_inbox()  # stored before a crash and not handled: first, in order
            updater = application.updater
            assert updater is not None
            if webhook is not None:
                try:
                    await updater.start_webhook(**webhook)
                except OSError as exc:  # port taken, or not ours to open: a setting to change, not an outage
                    raise TelegramSetupError(
                        f"impossible d'écouter sur {webhook['listen']}:{webhook['port']} pour le webhook Telegram"
                        f" ({exc.strerror or exc}) : port déjà pris ? changez adapters.telegram.webhook_port"
                    ) from exc
            else:
                await updater.start_polling(
                    timeout=timedelta(seconds=self.poll_timeout),
                    allowed_updates=list(ALLOWED_UPDATES),
                    error_callback=self._on_poll_error,
                )
        except NetworkError as exc:  # lost Telegram between getMe and polling: all again, later
            await self._close()
            raise PlatformUnreachable(cause(exc)) from exc
        except BaseException:
            await self._close()
            raise
        self.pump.start()
        log.info("Telegram : @%s connecté (%s)", self.username, self.cfg.mode)

    def _back(self) -> None:
        log.warning("Telegram de nouveau joignable")
        self.pump.resume()  # what waited for Telegram goes now

    def _refused(self, why: str) -> None:
        # Nothing is lost: the rows wait, pending, for a start with a good token.
        self.pump.suspend()
        log.error("%s ; Telegram est arrêté (les autres plateformes continuent), redémarrez Klub après correction", why)

    def _refused_polling(self) -> None:
        self._refused(self._token_refused())

    def _on_poll_error(self, exc: TelegramError) -> None:
        # What the polling connection does not wait out itself (a Conflict: another getUpdates or a
        # webhook for this bot): one line, PTB tries again. Never the exception's text for a token error.
        what = exc.message if isinstance(exc, Conflict) else type(exc).__name__
        log.error("Telegram : réception des messages impossible (%s)", what)

    async def resume_inbox(self) -> int:
        """Queue the stored updates nobody holds (ours from before a restart, or a dead instance's)."""
        if self.application is None or not self.application.running:
            return 0  # stopping: whatever is left is taken by the next start or another instance
        rows = await asyncio.to_thread(self.app.inbox.take, PLATFORM)
        for _key, payload in rows:
            update = Update.de_json(json.loads(payload), self.bot)
            await self.queue.requeue(update)
        if rows:
            log.info("Telegram : %d message(s) reçu(s) avant l'arrêt repris", len(rows))
        return len(rows)

    def _on_released(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: loop.create_task(self.resume_inbox()))

    async def _on_handled(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await asyncio.to_thread(self.app.inbox.finish, PLATFORM, str(update.update_id))

    def _webhook_args(self) -> dict[str, Any]:
        if not self.cfg.webhook_url:
            raise TelegramSetupError("adapters.telegram.webhook_url est obligatoire en mode webhook")
        secret = self._env.get(self.cfg.webhook_secret_env, "").strip()
        if not secret:
            raise TelegramSetupError(
                f"la variable d'environnement {self.cfg.webhook_secret_env} (secret du webhook) n'est pas définie"
            )
        return {
            "listen": self.cfg.webhook_listen,
            "port": self.cfg.webhook_port,
            "url_path": urlsplit(self.cfg.webhook_url).path.lstrip("/"),
            "webhook_url": self.cfg.webhook_url,
            "secret_token": secret,
            "allowed_updates": list(ALLOWED_UPDATES),
        }

    async def stop(self) -> None:
        """No new updates, the one being handled finishes (its replies sent), then the outbox sender
        finishes its message and gives back the rest. Updates still queued are in the inbox: the next
        start (or another instance) handles them."""
        self._stopping.set()
        reaching, self._reaching = self._reaching, None
        if reaching is not None:  # still trying to connect: nothing of it to finish
            reaching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaching
        if self.polling is not None:
            self.polling.stopping = True  # PTB's last getUpdates: once, no waiting for Telegram
        application = self.application
        if application is not None and application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application is not None and application.running:
            await application.stop()
        await self.pump.stop()  # its message in flight still has the bot's connection
        await self._close()

    async def _close(self) -> None:
        application, self.application = self.application, None
        if application is None:
            return
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()

    @property
    def bot(self) -> Any:
        assert self.application is not None, "adaptateur Telegram non démarré"
        return self.application.bot

    # -- command menu ---------------------------------------------------------------------------------

    async def publish_commands(self) -> None:
        """The menu of each scope, in French by default and in English for English-speaking clients."""
        scopes: list[tuple[BotCommandScope, Role, bool]] = [
            (BotCommandScopeAllPrivateChats(), Role.PROVIDER, True),
            (BotCommandScopeAllGroupChats(), Role.PROVIDER, False),
            (BotCommandScopeAllChatAdministrators(), Role.ANT, False),
        ]
        for group in self._equipe_groups():
            # Staff commands (/inviter…) in the équipe group, for every staff member, not only admins.
            scopes.append((BotCommandScopeChat(int(group.chat_id)), Role.STAFF, False))
            scopes.append((BotCommandScopeChatAdministrators(int(group.chat_id)), Role.ANT, False))
        for scope, role, private in scopes:
            for lang in LANGUAGES:
                commands = self.menu(role, private, lang)
                code = None if lang == DEFAULT_LANGUAGE else lang
                try:
                    await self.sender.call(
                        "setMyCommands",
                        partial(self.bot.set_my_commands, commands, scope=scope, language_code=code),
                        idempotent=True,
                    )
                except TelegramError as exc:
                    log.warning("menu des commandes non publié (%s, %s) : %s", scope.type, lang, exc)

    def menu(self, role: Role, private: bool, lang: str) -> list[BotCommand]:
        out: list[BotCommand] = []
        for cmd in self.app.core.table.visible(role, private):
            name = command_name(cmd.name)
            if name is None:
                continue
            out.append(BotCommand(name, command_description(t(lang, cmd.description_key))))
        return out

    def _equipe_groups(self) -> list[Group]:
        with self.app.sessions() as db:
            return [
                g
                for office in self.app.config.offices
                for g in membership.office_groups(db, office.id, "equipe", {PLATFORM})
            ]

    # -- updates in -----------------------------------------------------------------------------------

    def incoming(self, message: Message) -> Incoming | None:
        """A Telegram message as the core sees it; None when it is not for us."""
        user, chat = message.from_user, message.chat
        if user is None or user.is_bot or chat.type == "channel":
            return None
        private = chat.type == "private"
        if message.text is not None:
            text, entities = message.text, message.parse_entities()
        else:
            text, entities = message.caption or "", message.parse_caption_entities()
        mentions = False
        me = f"@{self.username}".lower()
        for entity, value in entities.items():
            if entity.type == MessageEntity.MENTION:
                mentions = mentions or value.lower() == me
            elif entity.type == MessageEntity.TEXT_MENTION:
                mentions = mentions or (entity.user is not None and entity.user.id == self.bot_id)
            elif entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0 and "@" in value:
                if value.split("@", 1)[1].lower() != self.username.lower():
                    return None  # /aide@AutreBot: a command for another bot in the same group
                mentions = True
        reply_to = message.reply_to_message
        if reply_to is not None and reply_to.from_user is not None and reply_to.from_user.id == self.bot_id:
            mentions = True  # with privacy mode on, replies to the bot are among what it receives
        if self.username:
            text = _strip_mention(text, self.username)
        return Incoming(
            chat=ChatRef(PLATFORM, str(chat.id), private=private, title=chat.title or ""),
            user=UserRef(PLATFORM, str(user.id), display_name=user.full_name, language=user.language_code),
            text=text,
            mentions_bot=mentions,
            message_id=str(message.message_id),
            bot_username=self.username,
        )

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        incoming = self.incoming(message)
        if incoming is not None:
            reply_to = None if incoming.chat.private else message.message_id
            await self._answer(incoming, reply_to=reply_to, key=str(update.update_id))

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await self.sender.call("answerCallbackQuery", query.answer, idempotent=True)
        except TelegramError as exc:
            log.warning("réponse au bouton impossible : %s", exc)
        if not query.data or query.message is None:
            return
        chat, user = query.message.chat, query.from_user
        # A button is a shortcut for its command: the core sees exactly what typing it would give.
        incoming = Incoming(
            chat=ChatRef(PLATFORM, str(chat.id), private=chat.type == "private", title=chat.title or ""),
            user=UserRef(PLATFORM, str(user.id), display_name=user.full_name, language=user.language_code),
            text=query.data,
            mentions_bot=True,
            via_button=True,
            message_id=str(query.message.message_id),
        )
        await self._answer(incoming, reply_to=None, key=str(update.update_id))

    async def _on_join_request(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        request = update.chat_join_request
        if request is None:
            return
        user = request.from_user
        try:
            decision = await asyncio.to_thread(
                gate.decide_join,
                self.app,
                PLATFORM,
                str(request.chat.id),
                str(user.id),
                display_name=user.full_name,
                language=user.language_code,
            )
        except Exception:
            # Left pending: an administrator can still decide by hand.
            log.exception("décision d'adhésion impossible pour telegram:%s", user.id)
            return
        if decision.private_message is not None:
            # Before declining: user_chat_id only works while the request is pending (5 minutes).
            try:
                await self.deliver(str(request.user_chat_id), decision.private_message)
            except (TelegramError, DeliveryUncertain) as exc:
                log.warning("message privé au demandeur impossible : %s", exc)
        chat_id, user_id = request.chat.id, user.id
        try:
            if decision.approve:
                await self.sender.call(
                    "approveChatJoinRequest",
                    lambda: self.bot.approve_chat_join_request(chat_id, user_id),
                    idempotent=True,
                )
            else:
                await self.sender.call(
                    "declineChatJoinRequest",
                    lambda: self.bot.decline_chat_join_request(chat_id, user_id),
                    idempotent=True,
                )
        except TelegramError as exc:
            log.error("demande d'adhésion de telegram:%s non traitée : %s", user_id, exc)

    async def _on_my_chat_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        if change is None or change.chat.type not in ("group", "supergroup"):
            return
        joined = change.new_chat_member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR)
        was_out = change.old_chat_member.status in (ChatMember.LEFT, ChatMember.BANNED)
        if not (joined and was_out):
            return
        # Added to a group: an empty message lets the core say whether it serves this chat.
        user, chat = change.from_user, change.chat
        incoming = Incoming(
            chat=ChatRef(PLATFORM, str(chat.id), title=chat.title or ""),
            user=UserRef(PLATFORM, str(user.id), display_name=user.full_name, language=user.language_code),
            text="",
        )
        await self._answer(incoming, reply_to=None, key=str(update.update_id))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("erreur Telegram non gérée : %r", context.error, exc_info=context.error)

    async def _answer(self, incoming: Incoming, *, reply_to: int | None, key: str | None) -> None:
        """The core runs off the event loop (polling, the outbox and other chats go on meanwhile); its
        replies are outbox rows claimed by us, sent at once."""
        messages = await asyncio.to_thread(
            self.app.core.handle_stored,
            incoming,
            inbox_key=key,
            reply_to=None if reply_to is None else str(reply_to),
        )
        for message in messages:
            if message.ledger_id is not None:
                await self.pump.deliver_now(message)
                continue
            try:  # an apology the database could not even store (see Core.handle_stored): sent without a row
                await self._send_out(message)
            except (TelegramError, DeliveryUncertain) as exc:
                log.error("réponse non envoyée dans %s : %s", message.chat.chat_id, exc)

    async def _leave(self, chat_id: str) -> None:
        try:
            await self.sender.call("leaveChat", lambda: self.bot.leave_chat(int(chat_id)), idempotent=True)
        except TelegramError as exc:
            log.error("impossible de quitter %s : %s", chat_id, exc)

    async def _try_deliver(self, chat_id: str, reply: Reply, reply_to: int | None) -> None:
        try:
            await self.deliver(chat_id, reply, reply_to=reply_to)
        except (TelegramError, DeliveryUncertain) as exc:
            log.warning("message non envoyé dans %s : %s", chat_id, exc)

    # -- messages out ---------------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        await self.deliver(chat.chat_id, reply)

    async def deliver(self, chat_id: str, reply: Reply, *, reply_to: int | None = None) -> None:
        """Render and send one reply (split under the limit; buttons on the last part)."""
        text = sanitize(reply.text)
        if isinstance(reply, GateReply) and reply.invite_code and self.username:
            link = f"https://t.me/{self.username}?start={reply.invite_code}"
            text += f"\n\n{sanitize(reply.invite_link_label)}\n{html.escape(link)}"
        if not visible(text).strip():
            return
        markup = await self._markup(reply)
        parts = split_html(text, MAX_MESSAGE)
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to and n == 0 else None
            await self.sender.call(
                "sendMessage",
                partial(
                    self.bot.send_message,
                    int(chat_id),
                    part,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup if last else None,
                    reply_parameters=params,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                ),
            )

    async def _markup(self, reply: Reply) -> InlineKeyboardMarkup | None:
        rows: list[list[InlineKeyboardButton]] = []
        for row in reply.buttons:
            buttons = []
            for button in row:
                if len(button.command.encode("utf-8")) > MAX_CALLBACK_DATA:
                    log.error("bouton « %s » ignoré : commande de plus de 64 octets", button.command[:40])
                    continue
                buttons.append(InlineKeyboardButton(visible(button.label), callback_data=button.command))
            if buttons:
                rows.append(buttons)
        if isinstance(reply, GateReply):
            for join in reply.join_links:
                if join.platform != PLATFORM:
                    continue
                url = await self._join_link(join.chat_id)
                if url is not None:
                    rows.append([InlineKeyboardButton(visible(join.label), url=url)])
        return InlineKeyboardMarkup(rows) if rows else None

    async def _join_link(self, chat_id: str) -> str | None:
        """An invite link that only opens a join request; made once per group and process."""
        if chat_id not in self._join_links:
            try:
                link = await self.sender.call(
                    "createChatInviteLink",
                    lambda: self.bot.create_chat_invite_link(int(chat_id), name="Klub", creates_join_request=True),
                    idempotent=True,
                )
            except TelegramError as exc:
                log.error("lien d'invitation impossible pour %s (le bot est-il administrateur ?) : %s", chat_id, exc)
                return None
            self._join_links[chat_id] = link.invite_link
        return self._join_links[chat_id]

    # -- the outbox -----------------------------------------------------------------------------------

    async def flush_outbox(self) -> tuple[int, int]:
        """Send what the outbox holds for Telegram; returns (sent, given up)."""
        return await self.pump.flush()

    async def _send_out(self, message: OutMessage) -> None:
        chat, reply = message.chat, message.reply
        reply_to = message.meta.get("reply_to")
        reply_to_id = int(reply_to) if reply_to and not chat.private else None
        try:
            await self.deliver(chat.chat_id, reply, reply_to=reply_to_id)
        except Forbidden:
            fallback = message.meta.get("fallback_chat")
            if fallback is not None:  # a private answer to someone who never opened the bot: say so
                lang = message.meta.get("lang") or self.app.config.language
                back = int(reply_to) if reply_to else None
                # The core may have said what to post instead (a button pressed in a group: named).
                instead = Reply(reply.fallback) if reply.fallback else Reply(t(lang, "telegram.private_failed"))
                await self._try_deliver(fallback, instead, back)
            raise
        finally:
            if reply.leave_chat and not chat.private:
                # The one place an operator learns a new group's chat_id: say it in the log.
                log.info(
                    "Telegram : groupe non configuré %s (« %s ») quitté ; ajoutez ce chat_id à la configuration",
                    chat.chat_id,
                    chat.title,
                )
                await self._leave(chat.chat_id)

    async def execute(self, action: MemberAction) -> None:
        chat_id, user_id = int(action.chat_id), int(action.user_id)
        if action.action != "remove":
            raise ValueError(f"action inconnue : {action.action}")
        # Ban then unban: out of the group now, and free to come back through a new invitation.
        await self.sender.call("banChatMember", lambda: self.bot.ban_chat_member(chat_id, user_id), idempotent=True)
        await self.sender.call(
            "unbanChatMember",
            lambda: self.bot.unban_chat_member(chat_id, user_id, only_if_banned=True),
            idempotent=True,
        )


def _strip_mention(text: str, username: str) -> str:
    stripped = re.sub(rf"(?<![\w@])@{re.escape(username)}(?!\w)", "", text, flags=re.IGNORECASE)
    if stripped == text:
        return text
    return re.sub(r"[ \t]{2,}", " ", stripped).strip()


# -- one-shot helpers for the command line ------------------------------------------------------------


def fetch_username(config: Config, env: Mapping[str, str] | None = None) -> str | None:
    """The bot's @username from getMe, for invite links printed by `klub invite create`."""

    async def run() -> str:
        async with _bare_bot(config, env) as bot:
            return str(bot.username)

    try:
        return asyncio.run(run())
    except (TelegramSetupError, TelegramError) as exc:
        log.warning("nom du bot Telegram inconnu : %s", exc)
        return None


def _bare_bot(config: Config, env: Mapping[str, str] | None) -> Any:
    from telegram import Bot

    cfg = config.adapters.telegram
    prepare_library()
    return Bot(read_token(cfg, dict(os.environ) if env is None else env), base_url=cfg.api_base_url)


def deliver_pending(app: App, env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """Carry out what the outbox holds for Telegram from a process that is not the running bot."""
    return outbox_pump.deliver_pending(app, PLATFORM, lambda: TelegramAdapter(app, env=env), TelegramSetupError)
