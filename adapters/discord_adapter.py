"""Discord, through discord.py 2: slash commands, mentions, DMs and buttons in; replies, outbox messages,
role changes and scheduled events out.

The adapter converts and renders; it decides nothing. What to answer is `Core.handle`'s call; who is
let in is the gate's (a `GateReply` naming Discord groups: the adapter grants the role configured for
each group); who is removed comes from the outbox (`MemberAction`: the adapter removes the role); which
sessions become which server events is `bot.discord_events`' (the adapter makes the REST calls).

Interactions (slash commands, buttons) are deferred as soon as they arrive, ephemeral or not as the core
expects its answer to be (`Core.personal`), handled off the event loop, and answered by follow-ups whose
visibility follows each reply's `personal` flag. Slash commands and their typed options are rendered from
the command table by `adapters.discord_commands`.

No privileged intent is needed: slash commands and buttons arrive as interactions, and Discord sends
the text of private messages and of messages mentioning the bot without the message-content intent.
Two optional ones (adapters.discord.members_intent, message_content_intent) add the greeting of
newcomers and the reading of channel messages that do not mention Klub.

Delivery rules for the outbox: discord.py already waits out 429s and retries 5xx answers; a failure
that certainly did not reach Discord (refused connection, 4xx, 5xx) is reported "failed", one that may
have reached it (timeout, dropped connection, a message half sent) "uncertain". Either way it is never
sent again: an outbox message is acknowledged once, after Discord accepted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, ClassVar

import aiohttp

with warnings.catch_warnings():
    # discord.py imports audioop for voice (deprecated in 3.11, gone in 3.13); Klub has no voice.
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord

from adapters import discord_commands, discord_render, outbox_pump
from adapters.base import Adapter, AdapterSetupError
from adapters.discord_commands import VERIFY, SlashTable
from adapters.discord_event_rows import EventRows
from adapters.outbox_pump import DeliveryUncertain, OutboxPump
from bot import discord_events, gate
from bot.bootstrap import App
from bot.config import DiscordConfig
from bot.discord_events import DiscordRole, EventOp, EventSpec, RemoteEvent
from bot.i18n import pick_language, t
from bot.messages import EVENT_SYNC, ChatRef, GateReply, Incoming, MemberAction, OutMessage, Reply, UserRef

log = logging.getLogger(__name__)

PLATFORM = "discord"
MAX_MESSAGE = 2000  # characters
MAX_CUSTOM_ID = 100  # characters
MAX_LABEL = 80  # button labels
_NOT_SENT = (aiohttp.ClientConnectorError,)  # the request never left this machine
_STATUS = {
    discord.EventStatus.scheduled: "scheduled",
    discord.EventStatus.active: "active",
    discord.EventStatus.completed: "completed",
    discord.EventStatus.cancelled: "cancelled",
}


class DiscordSetupError(AdapterSetupError):
    """The adapter cannot start: a clear French line (never containing the token)."""


def read_token(cfg: DiscordConfig, env: Mapping[str, str]) -> str:
    token = env.get(cfg.token_env, "").strip()
    if not token:
        raise DiscordSetupError(f"la variable d'environnement {cfg.token_env} (jeton du bot Discord) n'est pas définie")
    return token


# -- rendering ----------------------------------------------------------------------------------------


def render(text: str) -> str:
    """The core's HTML subset as Discord Markdown; user text cannot inject formatting or mentions."""
    return discord_render.render(text)


def split(text: str) -> list[str]:
    """The core's HTML subset rendered and cut under 2,000 characters (formatting reopened per part)."""
    return discord_render.split(text, MAX_MESSAGE)


def label(text: str) -> str:
    return discord_render.clip(discord_render.plain(text), MAX_LABEL) or "…"


def intents_for(cfg: DiscordConfig) -> discord.Intents:
    """The default intents, plus the two privileged ones only when the configuration asks for them."""
    intents = discord.Intents.default()
    intents.members = cfg.members_intent  # newcomers (on_member_join)
    intents.message_content = cfg.message_content_intent  # channel messages that do not mention Klub
    return intents


def make_view(reply: Reply) -> discord.ui.View | None:
    """Buttons as a component row; a press comes back as an interaction whose custom_id is the command.

    The view is stopped before it is sent so that discord.py does not keep it in memory: presses are
    handled by `on_interaction`, which also works for buttons sent before a restart.
    """
    items: list[discord.ui.Button[discord.ui.View]] = []
    for r, row in enumerate(reply.buttons[:5]):
        for button in row[:5]:
            if len(button.command) > MAX_CUSTOM_ID:
                log.error("bouton « %s » ignoré : commande de plus de 100 caractères", button.command[:40])
                continue
            items.append(
                discord.ui.Button(
                    label=label(button.label), custom_id=button.command, style=discord.ButtonStyle.secondary, row=r
                )
            )
    if not items:
        return None
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    view.stop()
    return view


# -- the adapter --------------------------------------------------------------------------------------


class DiscordAdapter(Adapter):
    name: ClassVar[str] = PLATFORM

    def __init__(self, app: App, *, env: Mapping[str, str] | None = None, guild_ready_timeout: float = 2.0) -> None:
        self.app = app
        self.cfg = app.config.adapters.discord
        self._token = read_token(self.cfg, dict(os.environ) if env is None else env)
        self.guild_ready_timeout = guild_ready_timeout
        self.client: discord.Client | None = None
        self.slashes = SlashTable(app.core.table)
        # Commands are handled one at a time, off the event loop, as they were on it: the loop stays free
        # to acknowledge every interaction at once while the database work queues here.
        self._core = ThreadPoolExecutor(max_workers=1, thread_name_prefix="klub-discord-core")
        self._inflight: set[asyncio.Task[Any]] = set()
        self._connect_task: asyncio.Task[None] | None = None
        self._event_tasks: list[asyncio.Task[None]] = []
        self._sync_wanted = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self.synced = asyncio.Event()  # set after each scheduled-events pass (tests and logs wait on it)
        # Each change of a session is a row of its own ("sync the event of session N"): no pass after a batch.
        self.event_rows = EventRows(app, lambda: self.bot, self._sync_lock, self.request_event_sync)
        self.pump = OutboxPump(
            app, PLATFORM, self._send_out, self.execute, expected=(Exception,),
            kinds={EVENT_SYNC: self.event_rows.carry_out},
        )  # fmt: skip

    # -- lifecycle ----------------------------------------------------------------------------------

    def _build(self) -> discord.Client:
        client = discord.Client(
            intents=intents_for(self.cfg),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=self.guild_ready_timeout,
            chunk_guilds_at_startup=False,  # no member list needed, even with the members intent
        )
        client.setup_hook = functools.partial(self.publish_commands, client)  # type: ignore[method-assign]
        client.event(self.on_message)
        client.event(self.on_interaction)
        client.event(self.on_ready)
        if self.cfg.members_intent:
            client.event(self.on_member_join)
        return client

    async def publish_commands(self, client: discord.Client) -> None:
        """After login, before the gateway (the client's setup hook): publish the slash commands to each
        configured server, or globally when none is listed."""
        assert client.application_id is not None  # known once logged in
        payload = self.slashes.payloads()
        if not self.cfg.guild_ids:
            # No server listed: global commands (they also work in DMs, but take a while to appear).
            try:
                await client.http.bulk_upsert_global_commands(client.application_id, payload)
            except discord.HTTPException as exc:
                log.warning("Discord : commandes globales non publiées : %s", exc)
        for guild_id in self.cfg.guild_ids:
            try:
                synced = await client.http.bulk_upsert_guild_commands(client.application_id, int(guild_id), payload)
            except discord.HTTPException as exc:
                log.warning(
                    "Discord : commandes non publiées sur le serveur %s (portée applications.commands ?) : %s",
                    guild_id,
                    exc,
                )
            else:
                log.info("Discord : %d commandes publiées sur le serveur %s", len(synced), guild_id)

    async def start(self) -> None:
        if self._core._shutdown:  # started again after a stop
            self._core = ThreadPoolExecutor(max_workers=1, thread_name_prefix="klub-discord-core")
        client = self._build()
        await self._login(client)
        self.client = client
        self._connect_task = asyncio.create_task(self._connect(client), name="discord-gateway")
        self.pump.start()
        if self.cfg.events:
            self._event_tasks = [
                asyncio.create_task(self._sync_loop(), name="discord-events"),
                asyncio.create_task(self._sync_clock(), name="discord-events-clock"),
            ]
        log.info("Discord : %s connecté", client.user)

    async def open(self) -> discord.Client:
        """Log in over REST only, without the gateway nor the command sync: enough to change roles and
        send messages from a process that is not the running bot (the command line uses this)."""
        client = discord.Client(intents=intents_for(self.cfg), allowed_mentions=discord.AllowedMentions.none())
        await self._login(client)
        self.client = client
        return client

    async def _login(self, client: discord.Client) -> None:
        try:
            await client.login(self._token)
        except discord.LoginFailure as exc:
            await client.close()
            raise DiscordSetupError(f"jeton refusé par Discord (vérifiez {self.cfg.token_env})") from exc
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            await client.close()
            raise DiscordSetupError(f"connexion à l'API Discord impossible ({type(exc).__name__})") from exc
        except BaseException:
            await client.close()
            raise

    async def _connect(self, client: discord.Client) -> None:
        try:
            await client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except discord.PrivilegedIntentsRequired:
            log.error(
                "Discord refuse un intent privilégié demandé par adapters.discord (members_intent, "
                "message_content_intent) : activez-le dans le portail développeur (Bot > Privileged Gateway "
                "Intents) ou désactivez-le dans la configuration"
            )
        except Exception:
            if not client.is_closed():
                log.exception("Discord : connexion à la passerelle perdue")

    async def wait_until_ready(self, timeout: float = 10) -> None:
        assert self.client is not None
        await asyncio.wait_for(self.client.wait_until_ready(), timeout)

    async def settle(self) -> None:
        """Wait until every interaction received so far has been answered."""
        while answering := {t for t in self._inflight if not t.done()}:
            await asyncio.wait(answering)

    async def stop(self) -> None:
        await self.pump.stop()
        try:
            # Interactions being handled get their answers before the connection closes.
            await asyncio.wait_for(self.settle(), timeout=outbox_pump.STOP_GRACE)
        except TimeoutError:
            log.warning("Discord : interactions sans réponse à l'arrêt")
        self._core.shutdown(wait=False, cancel_futures=True)
        syncing, self._event_tasks = self._event_tasks, []
        for running in syncing:
            running.cancel()
        for running in syncing:
            with contextlib.suppress(asyncio.CancelledError):
                await running
        client, self.client = self.client, None
        if client is not None:
            await client.close()
        task, self._connect_task = self._connect_task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                task.cancel()
        # discord.py dispatches its last events (disconnect, close) as tasks of their own: let them run
        # now, or a loop that ends right after the stop drops them unawaited.
        last = [
            t
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and getattr(t.get_coro(), "__qualname__", "").endswith("_run_event")
        ]
        if last:
            await asyncio.wait(last, timeout=2)

    @property
    def bot(self) -> discord.Client:
        assert self.client is not None, "adaptateur Discord non démarré"
        return self.client

    # -- events in ------------------------------------------------------------------------------------

    def _chat(self, channel: Any, channel_id: int | None, guild_id: int | None, user_id: int) -> ChatRef:
        if guild_id is None or channel_id is None:
            return ChatRef(PLATFORM, str(user_id), private=True)  # a DM (or a private exchange): the person
        # A thread belongs to the group of the channel it was opened in.
        parent = channel.parent_id if isinstance(channel, discord.Thread) else None
        title = getattr(channel, "name", "") or ""
        return ChatRef(PLATFORM, str(parent or channel_id), title=title)

    def _user(self, user: discord.abc.User, locale: discord.Locale | None = None) -> UserRef:
        language = locale.value if locale else None
        return UserRef(PLATFORM, str(user.id), display_name=user.display_name, language=language)

    async def on_ready(self) -> None:
        log.info("Discord : passerelle prête (%d serveur(s))", len(self.bot.guilds))
        self.request_event_sync()  # also after a new session: events may have changed meanwhile

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Slash commands, their autocompletion and button presses.

        An interaction must be acknowledged within 3 seconds, and a burst of commands takes longer than
        that to handle: each one is deferred at once, in the turn of the loop it arrived in and before
        any database work, then handled off the loop, and its answers follow up."""
        incoming, private = self._interaction_incoming(interaction)
        if incoming is None:
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if interaction.type == discord.InteractionType.autocomplete:
            await self._autocomplete(interaction, incoming)
            return
        in_guild = interaction.guild_id is not None
        # The core says from the command alone whether the answer will be for the speaker only; the
        # first answer follows the deferral's visibility (see `_follow_up`).
        hidden = in_guild and (private or self.app.core.personal(incoming))
        try:
            await interaction.response.defer(ephemeral=hidden, thinking=True)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.error("interaction %s non acquittée : %s", interaction.id, exc)
            return
        replies = await self.handle(incoming)
        await self._follow_up(interaction, incoming, replies, deferred_hidden=hidden, private=private)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """`Core.handle` off the event loop (one message at a time, in arrival order)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._core, self.app.core.handle, incoming)

    def _interaction_incoming(self, interaction: discord.Interaction) -> tuple[Incoming | None, bool]:
        """The interaction as the core's message, and whether the exchange is private (/verifier)."""
        data: Mapping[str, Any] = interaction.data or {}
        if interaction.type == discord.InteractionType.component:
            text, private, via_button = str(data.get("custom_id", "")), False, True
        elif interaction.type in (discord.InteractionType.application_command, discord.InteractionType.autocomplete):
            slash = self.slashes.find(str(data.get("name", "")))
            if slash is None:
                return None, False
            values, _, _ = discord_commands.option_values(data)
            text, private, via_button = slash.text(values), slash.private, False
        else:
            return None, False
        if not text:
            return None, False
        # `private`: the code of /verifier never shows in the channel, and the core sees a private chat.
        channel_id = None if private else interaction.channel_id
        incoming = Incoming(
            chat=self._chat(interaction.channel, channel_id, interaction.guild_id, interaction.user.id),
            user=self._user(interaction.user, interaction.locale),
            text=text,
            mentions_bot=True,
            via_button=via_button,
            message_id=str(interaction.id),
            hides_personal=True,  # an ephemeral answer shows to the speaker alone
            can_leave=False,  # a bot cannot leave one channel of a server
        )
        return incoming, private

    async def _autocomplete(self, interaction: discord.Interaction, incoming: Incoming) -> None:
        data: Mapping[str, Any] = interaction.data or {}
        slash = self.slashes.find(str(data.get("name", "")))
        _, focused, typed = discord_commands.option_values(data)
        option = slash.option(focused) if slash is not None and focused else None
        found: list[tuple[int, str]] = []
        if option is not None and option.kind == "session":
            # A read-only query: the default pool, so that a queue of commands does not delay it.
            found = await asyncio.to_thread(self.app.core.session_choices, incoming, typed)
        choices = [
            discord.app_commands.Choice(name=c["name"], value=c["value"]) for c in discord_commands.choices(found)
        ]
        try:
            await interaction.response.autocomplete(choices)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning("complétion de l'interaction %s non envoyée : %s", interaction.id, exc)

    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if message.author.bot or me is None or message.author.id == me.id or message.webhook_id is not None:
            return
        private = message.guild is None
        mentioned = any(u.id == me.id for u in message.mentions)
        if not (private or mentioned or self.cfg.message_content_intent):
            return  # without the message_content intent, nothing else carries text anyway
        text = re.sub(rf"<@!?{me.id}>", "", message.content)
        text = re.sub(r"[ \t]{2,}", " ", text).strip()
        head, _, rest = text.partition(" ")
        if private and head.lower() in (f"/{VERIFY}", "/verify") and self.app.core.table.find(VERIFY) is None:
            text = f"/start {rest}".strip()  # typed in a DM: the same as the slash command
        incoming = Incoming(
            chat=self._chat(
                message.channel, message.channel.id, message.guild.id if message.guild else None, message.author.id
            ),
            user=self._user(message.author),
            text=text,
            mentions_bot=private or mentioned,
            message_id=str(message.id),
            can_leave=False,
        )
        replies = await self.handle(incoming)
        for reply in replies:
            if reply.leave_chat and not incoming.mentions_bot:
                continue  # « this channel is not served » only to someone who addressed Klub
            await self._grant(reply, incoming)
            try:
                if reply.private and not private:
                    try:
                        await self.deliver(ChatRef(PLATFORM, incoming.user.user_id, private=True), reply)
                    except discord.Forbidden:
                        lang = pick_language(incoming.user.language, self.app.config.language)
                        instead = Reply(reply.fallback) if reply.fallback else Reply(t(lang, "discord.private_failed"))
                        await self.deliver(incoming.chat, instead, reference=message)
                else:
                    await self.deliver(incoming.chat, reply, reference=None if private else message)
            except (discord.HTTPException, aiohttp.ClientError, DeliveryUncertain, OSError) as exc:
                log.error("réponse non envoyée dans %s : %s", incoming.chat.chat_id, exc)
            self._log_unconfigured(reply, incoming)

    async def on_member_join(self, member: discord.Member) -> None:
        """Someone joined a served server (members intent): a linked member gets the roles back at once,
        anyone else is told how to get access, in the welcome channel or in private."""
        guild_id = str(member.guild.id)
        if member.bot or guild_id not in discord_events.guild_ids(self.app):
            return
        roles = [r for r in discord_events.member_roles(self.app, str(member.id)) if r.guild_id == guild_id]
        if roles:
            for role in roles:
                await self._add_role(role, member.id)
            return
        greeting = discord_events.welcome(self.app, guild_id, member.display_name)
        channel_id = self.cfg.welcome_channels.get(guild_id)
        where = ChatRef(PLATFORM, channel_id) if channel_id else ChatRef(PLATFORM, str(member.id), private=True)
        try:
            await self.deliver(where, greeting)
        except (discord.HTTPException, aiohttp.ClientError, DeliveryUncertain, OSError) as exc:
            log.warning("accueil de discord:%s impossible : %s", member.id, exc)

    async def _follow_up(
        self,
        interaction: discord.Interaction,
        incoming: Incoming,
        replies: list[Reply],
        *,
        deferred_hidden: bool,
        private: bool,
    ) -> None:
        """The answers of a deferred interaction. The first answer shown with the deferral's visibility
        takes the place of « Klub réfléchit… »; the others are follow-ups, each ephemeral or not as the
        core decided. When none matches, the placeholder is deleted and every answer follows up."""
        replies = list(replies)
        if not replies:
            lang = pick_language(incoming.user.language, self.app.config.language)
            replies = [Reply(t(lang, "discord.done"), personal=True)]
        for reply in list(replies):
            if await self._grant(reply, incoming):
                replies.append(discord_events.access_failed(self.app, incoming.user.user_id, incoming.user.language))
        in_guild = interaction.guild_id is not None
        messages: list[tuple[bool, str, discord.ui.View | None]] = []
        for reply in replies:
            # Ephemeral: seen by the speaker alone. Meaningless (and not needed) in a DM.
            hidden = in_guild and bool(private or reply.private or reply.personal or reply.leave_chat)
            parts = self.render_reply(reply, incoming.user.language) or ["…"]
            view = make_view(reply)
            messages += [(hidden, part, view if n == len(parts) - 1 else None) for n, part in enumerate(parts)]
            self._log_unconfigured(reply, incoming)
        first = next((n for n, m in enumerate(messages) if m[0] == deferred_hidden), None)
        none = discord.AllowedMentions.none()
        try:
            if first is None:
                await interaction.delete_original_response()
            else:
                _, part, view = messages.pop(first)
                extra: dict[str, Any] = {"view": view} if view is not None else {}
                await interaction.edit_original_response(content=part, allowed_mentions=none, **extra)
            for hidden, part, view in messages:
                extra = {"view": view} if view is not None else {}
                await interaction.followup.send(part, ephemeral=hidden, allowed_mentions=none, **extra)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.error("réponse à l'interaction %s non envoyée : %s", interaction.id, exc)

    def _log_unconfigured(self, reply: Reply, incoming: Incoming) -> None:
        if reply.leave_chat and not incoming.chat.private:
            # The one place an operator learns a channel's id: say it in the log (the bot stays).
            log.info(
                "Discord : salon non configuré %s (« %s ») ; ajoutez ce chat_id à la configuration",
                incoming.chat.chat_id,
                incoming.chat.title,
            )

    # -- roles ----------------------------------------------------------------------------------------

    async def _grant(self, reply: Reply, incoming: Incoming) -> bool:
        """The core let the person into Discord groups: give them the role that opens each channel.
        Returns True when a role could not be given (the person is told what to do)."""
        if not isinstance(reply, GateReply):
            return False
        failed = False
        for link in reply.join_links:
            if link.platform != PLATFORM:
                continue
            role = discord_events.channel_role(self.app, link.chat_id)
            if role is None:
                log.error("Discord : pas de guild_id/role_id configuré pour le salon %s", link.chat_id)
                failed = True
                continue
            failed = not await self._add_role(role, int(incoming.user.user_id)) or failed
        return failed

    async def _add_role(self, role: DiscordRole, user_id: int) -> bool:
        # By id, without fetching the member: no member cache, no members intent needed.
        try:
            await self.bot.http.add_role(int(role.guild_id), user_id, int(role.role_id), reason="Klub : compte relié")
        except discord.NotFound:
            log.info("Discord : %s n'est pas (encore) membre du serveur %s", user_id, role.guild_id)
            return False
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.error(
                "Discord : rôle %s non attribué à %s (le rôle du bot est-il au-dessus ?) : %s",
                role.role_id,
                user_id,
                exc,
            )
            return False
        return True

    async def execute(self, action: MemberAction) -> None:
        """Removal: take away the role of the channel; the person stays on the server, without access,
        and gets it back with a new invitation. "add" gives the role (for a future core decision)."""
        role = discord_events.channel_role(self.app, action.chat_id)
        if role is None:
            raise ValueError(f"salon Discord {action.chat_id} sans guild_id/role_id dans la configuration")
        guild_id, user_id, role_id = int(role.guild_id), int(action.user_id), int(role.role_id)
        if action.action == "remove":
            try:
                await self.bot.http.remove_role(guild_id, user_id, role_id, reason="Klub : accès retiré")
            except discord.NotFound:
                log.info("Discord : %s n'est plus sur le serveur %s", action.user_id, guild_id)
        elif action.action == "add":
            await self.bot.http.add_role(guild_id, user_id, role_id, reason="Klub : accès donné")
        else:
            raise ValueError(f"action inconnue : {action.action}")

    # -- messages out ---------------------------------------------------------------------------------

    def render_reply(self, reply: Reply, language: str | None = None) -> list[str]:
        text = reply.text
        if isinstance(reply, GateReply) and reply.invite_code:
            # The code's Discord use: the gate's text explains Telegram's /start.
            lang = pick_language(language, self.app.config.language)
            text += "\n\n" + t(lang, "discord.invite_hint", code=gate.format_code(reply.invite_code))
        return split(text)

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        await self.deliver(chat, reply)

    async def _channel(self, chat: ChatRef) -> discord.abc.Messageable:
        if chat.private:
            return await self.bot.create_dm(discord.Object(int(chat.chat_id)))
        return self.bot.get_partial_messageable(int(chat.chat_id))

    async def deliver(self, chat: ChatRef, reply: Reply, *, reference: discord.Message | None = None) -> None:
        """Render and send one reply (split under 2,000 characters; buttons on the last part).
        Raises DeliveryUncertain when the message may be on Discord, wholly or in part."""
        parts = self.render_reply(reply)
        if not parts:
            return
        channel = await self._channel(chat)
        view = make_view(reply)
        for n, part in enumerate(parts):
            extra: dict[str, Any] = {}
            if view is not None and n == len(parts) - 1:
                extra["view"] = view
            if reference is not None and n == 0:
                extra["reference"] = reference.to_reference(fail_if_not_exists=False)
                extra["mention_author"] = False
            try:
                await channel.send(part, allowed_mentions=discord.AllowedMentions.none(), **extra)
            except (discord.HTTPException, *_NOT_SENT):
                if n > 0:
                    raise DeliveryUncertain(f"message coupé après {n} partie(s) dans {chat.chat_id}") from None
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise DeliveryUncertain(f"envoi dans {chat.chat_id} : {type(exc).__name__}") from exc

    # -- the outbox -----------------------------------------------------------------------------------

    async def flush_outbox(self) -> tuple[int, int]:
        """Send what the outbox holds for Discord; returns (sent, given up)."""
        return await self.pump.flush()

    async def _send_out(self, message: OutMessage) -> None:
        await self.deliver(message.chat, message.reply)

    # -- scheduled events -----------------------------------------------------------------------------

    def request_event_sync(self) -> None:
        if self.cfg.events and self._event_tasks:
            self._sync_wanted.set()

    async def _sync_loop(self) -> None:
        client = self.bot
        await client.wait_until_ready()  # the guild cache comes with the gateway
        self._sync_wanted.set()  # the pass at start
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()  # a request made during the pass triggers one more pass
            try:
                await self.sync_events()
            except Exception:
                log.exception("Discord : synchronisation des évènements en échec")
            self.synced.set()

    async def _sync_clock(self) -> None:
        # Changes made by another process (the command line, another instance) are caught up here.
        while True:
            await asyncio.sleep(self.cfg.events_sync_minutes * 60)
            self._sync_wanted.set()

    async def sync_events(self) -> list[EventOp]:
        """One pass: the sessions from the database, each server's events from Discord, the difference
        (decided by `discord_events.plan`) carried out, and the event ids stored with the sessions."""
        async with self._sync_lock:
            horizon = timedelta(days=self.cfg.events_horizon_days)
            wanted = discord_events.mirrors(self.app, self.app.clock.now(), horizon)
            remote: dict[str, dict[str, RemoteEvent]] = {}
            objects: dict[str, discord.ScheduledEvent] = {}
            for guild_id in sorted({m.guild_id for m in wanted}):
                guild = self.bot.get_guild(int(guild_id))
                if guild is None:
                    log.warning("Discord : le bot n'est pas sur le serveur %s (évènements non synchronisés)", guild_id)
                    continue
                try:
                    events = await guild.fetch_scheduled_events(with_counts=False)
                except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                    log.warning("Discord : évènements du serveur %s illisibles : %s", guild_id, exc)
                    continue
                remote[guild_id] = {str(e.id): _remote(e) for e in events}
                objects.update({str(e.id): e for e in events})
            ops = discord_events.plan(wanted, remote)
            for op in ops:
                try:
                    await self._apply(op, objects)
                except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                    # Left for the next pass, which compares again: nothing is done twice.
                    log.error(
                        "Discord : évènement de la séance n°%s (%s) impossible : %s", op.session_id, op.action, exc
                    )
            return ops

    async def _apply(self, op: EventOp, objects: dict[str, discord.ScheduledEvent]) -> None:
        spec = op.spec
        if op.action == "create":
            guild = self.bot.get_guild(int(op.guild_id))
            if guild is None:
                return
            event = await guild.create_scheduled_event(
                name=spec.name,
                description=spec.description,
                start_time=spec.start,
                end_time=spec.end,
                entity_type=discord.EntityType.external,
                privacy_level=discord.PrivacyLevel.guild_only,
                location=spec.location,
                reason=f"Klub : séance n°{op.session_id}",
            )
            discord_events.record_event(self.app, op.session_id, str(event.id))
        elif op.action == "adopt" and op.event_id is not None:
            discord_events.record_event(self.app, op.session_id, op.event_id)
        elif op.action == "update" and op.event_id is not None:
            objects[op.event_id] = await objects[op.event_id].edit(
                name=spec.name,
                description=spec.description,
                start_time=spec.start,
                end_time=spec.end,
                location=spec.location,
                reason=f"Klub : séance n°{op.session_id} modifiée",
            )
        elif op.action == "cancel" and op.event_id is not None:
            await objects[op.event_id].cancel(reason=f"Klub : séance n°{op.session_id} annulée")


def _remote(event: discord.ScheduledEvent) -> RemoteEvent:
    status: Any = _STATUS.get(event.status, "completed")
    return RemoteEvent(
        event_id=str(event.id),
        status=status,
        spec=EventSpec(
            name=event.name,
            description=event.description or "",
            location=event.location or "",
            start=event.start_time,
            end=event.end_time or event.start_time,
        ),
    )


def deliver_pending(app: App, env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """Carry out what the outbox holds for Discord from a process that is not the running bot."""
    return outbox_pump.deliver_pending(app, PLATFORM, lambda: DiscordAdapter(app, env=env), DiscordSetupError)


__all__ = [
    "DeliveryUncertain",
    "DiscordAdapter",
    "DiscordSetupError",
    "deliver_pending",
    "make_view",
    "read_token",
    "render",
    "split",
]
