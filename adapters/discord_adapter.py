"""Discord, through discord.py 2: slash commands, mentions, DMs and buttons in; replies, outbox messages,
role changes and scheduled events out.

The adapter converts and renders; it decides nothing. What to answer is `Core.handle`'s call; who is
let in is the gate's (a `GateReply` naming Discord groups: the adapter grants the role configured for
each group); who is removed comes from the outbox (`MemberAction`: the adapter removes the role); which
sessions become which server events is `bot.discord_events`' (the adapter makes the REST calls).

Interactions (slash commands, buttons) and addressed messages (mentions, DMs) are stored in the inbox
before Discord is told anything (`adapters.discord_intake`: grouped commits), then interactions are
deferred, ephemeral or not as the core expects its answer to be (`Core.personal`); each is handled once,
off the event loop (`adapters.discord_handling`), and its answers are outbox rows written in the
handling's transaction, sent at once through the interaction's webhook, each ephemeral or not as its
reply's `personal` flag says (`adapters.discord_replies`). Slash commands and their typed options are
rendered from the command table by `adapters.discord_commands`; the server's scheduled events follow
the sessions in `adapters.discord_events_sync`.

No privileged intent is needed: slash commands and buttons arrive as interactions, and Discord sends
the text of private messages and of messages mentioning the bot without the message-content intent.
Two optional ones (adapters.discord.members_intent, message_content_intent) add the greeting of
newcomers and the reading of channel messages that do not mention Klub.

Delivery rules for the outbox: discord.py already waits out 429s and retries 5xx answers; a failure
that certainly did not reach Discord is reported "failed" when Discord refused it (4xx), "later" when
Discord cannot be reached (refused connection, DNS, 5xx, a refused token: the row waits, pending); one
that may have reached it (timeout, dropped connection, a message half sent) "uncertain". An outbox
message is acknowledged once, after Discord accepted it, and never sent twice.

Discord unreachable at start (network, DNS, 5xx) does not stop Klub: `start` returns, and the login is
tried again in the background with a capped, growing wait, one French line per attempt; the outbox waits
meanwhile. After a drop, the gateway reconnects the same way (`adapters.discord_gateway`). A token
Discord refuses at start is a setup error (`klub run` exits 2, like a missing token); refused later
(first reached after an outage, or reset in the portal while running), the adapter says so in one line
and stops, its rows kept for the next start, and the other platforms go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import aiohttp
import yarl

with warnings.catch_warnings():
    # discord.py imports audioop for voice (deprecated in 3.11, gone in 3.13); Klub has no voice.
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord

from adapters import discord_commands, discord_incoming, outbox_pump
from adapters.base import Adapter, AdapterSetupError, PlatformUnreachable, TokenRefused
from adapters.discord_commands import SlashTable
from adapters.discord_event_rows import EventRows
from adapters.discord_events_sync import EventSync
from adapters.discord_gateway import GatewayClient, cause, not_delivered
from adapters.discord_handling import Handling
from adapters.discord_intake import Acknowledging, GroupCommit, Stored
from adapters.discord_replies import ReplySender, make_view, render, split
from adapters.outbox_pump import DeliveryUncertain, OutboxPump
from adapters.reconnect import Backoff, keep_trying
from bot import discord_events
from bot.app import App
from bot.config import DiscordConfig
from bot.messages import EVENT_SYNC, ChatRef, Incoming, OutMessage

log = logging.getLogger(__name__)

PLATFORM = "discord"
# Answers to interactions in flight at once. 1: they take turns with the pump's rows, so a crash leaves at
# most one row uncertain, as on every platform. More sends answers in parallel (each through its own
# webhook; about 20 % off the back of a 1,000 burst) at the price of up to that many + 1 uncertain rows
# (docs/discord.md, « Garanties »).
FOLLOW_UPS = 1


class DiscordSetupError(AdapterSetupError):
    """The adapter cannot start: a clear French line (never containing the token)."""


class DiscordTokenRefused(TokenRefused, DiscordSetupError):
    """Discord refuses the token (401 at login, 4004 on the gateway)."""


def read_token(cfg: DiscordConfig, env: Mapping[str, str]) -> str:
    token = env.get(cfg.token_env, "").strip()
    if not token:
        raise DiscordSetupError(f"la variable d'environnement {cfg.token_env} (jeton du bot Discord) n'est pas définie")
    return token


def intents_for(cfg: DiscordConfig) -> discord.Intents:
    """The default intents, plus the two privileged ones only when the configuration asks for them."""
    intents = discord.Intents.default()
    intents.members = cfg.members_intent  # newcomers (on_member_join)
    intents.message_content = cfg.message_content_intent  # channel messages that do not mention Klub
    return intents


# -- the adapter --------------------------------------------------------------------------------------


class DiscordAdapter(Handling, ReplySender, EventSync, Adapter):
    name: ClassVar[str] = PLATFORM

    def __init__(
        self,
        app: App,
        *,
        env: Mapping[str, str] | None = None,
        guild_ready_timeout: float = 2.0,
        follow_ups: int | None = None,
    ) -> None:
        self.app = app
        self.cfg = app.config.adapters.discord
        self._token = read_token(self.cfg, dict(os.environ) if env is None else env)
        self.guild_ready_timeout = guild_ready_timeout
        self.backoff = Backoff.from_config(app.config.adapters.reconnect)
        self._stopping = asyncio.Event()
        self.client: discord.Client | None = None
        self.slashes = SlashTable(app.core.table)
        self.intake = GroupCommit(app.inbox)
        self.acks = Acknowledging()
        self._workers: list[ThreadPoolExecutor] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._connect_task: asyncio.Task[None] | None = None
        self._event_tasks: list[asyncio.Task[None]] = []
        self._sync_wanted = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self.synced = asyncio.Event()  # set after each scheduled-events pass (tests and logs wait on it)
        # Each change of a session is a row of its own ("sync the event of session N"): no pass after a batch.
        self.event_rows = EventRows(app, lambda: self.bot, self._sync_lock, self.request_event_sync)
        self.pump = OutboxPump(
            app,
            PLATFORM,
            self._send_out,
            self.execute,
            expected=(Exception,),
            kinds={EVENT_SYNC: self.event_rows.carry_out},
            fast_slots=FOLLOW_UPS if follow_ups is None else follow_ups,
            unreachable=lambda exc: not_delivered(exc, self.cfg.token_env),
        )

    # -- lifecycle ----------------------------------------------------------------------------------

    def _build(self) -> discord.Client:
        client = GatewayClient(
            backoff=self.backoff,
            intents=intents_for(self.cfg),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=self.guild_ready_timeout,
            chunk_guilds_at_startup=False,  # no member list needed, even with the members intent
        )
        client.setup_hook = functools.partial(self.publish_commands, client)  # type: ignore[method-assign]
        client.event(self.on_message)
        client.event(self.on_interaction)
        client.event(self.on_ready)
        client.event(self.on_resumed)
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
        """Log in, publish the commands, connect the gateway in the background. Discord unreachable: one
        line, and the login is tried again in the background (this returns at once); a refused token
        raises DiscordTokenRefused (nothing else has started then)."""
        self._stopping.clear()
        client = self._build()
        try:
            await self._login(client)
        except PlatformUnreachable as exc:
            self._connect_task = asyncio.create_task(self._reach(str(exc)), name="discord-login")
            return
        self._logged_in(client)

    async def _reach(self, why: str) -> None:
        """Log in again and again, waiting longer each time, until Discord answers; then carry on as a
        start that worked at once. A refused token ends it: said once, the adapter stays stopped."""
        async def attempt() -> discord.Client:
            client = self._build()
            await self._login(client)
            return client

        ok, client = await keep_trying(
            "Discord", why, self.backoff, self._stopping, attempt, DiscordTokenRefused, self._refused
        )
        if not ok or client is None:
            return
        log.warning("Discord de nouveau joignable : connexion")
        self._logged_in(client)

    def _logged_in(self, client: discord.Client) -> None:
        """Logged in (the commands published): the gateway, the outbox, what waits in the inbox."""
        self.client = client
        self.start_workers()
        self.intake.start()
        self._connect_task = asyncio.create_task(self._connect(client), name="discord-gateway")
        self.pump.start()
        self.app.inbox.on_released(self._on_released)
        self.resume_inbox()  # stored before a crash (or a stop) and not handled: now, once
        if self.cfg.events:
            self._event_tasks = [
                asyncio.create_task(self._sync_loop(), name="discord-events"),
                asyncio.create_task(self._sync_clock(), name="discord-events-clock"),
            ]
        log.info("Discord : %s connecté", client.user)

    def _refused(self, why: str) -> None:
        # Nothing is lost: the rows wait, pending, for a start with a good token.
        self.pump.suspend()
        for running in self._event_tasks:
            running.cancel()
        log.error("%s ; Discord est arrêté (les autres plateformes continuent), redémarrez Klub après correction", why)

    async def open(self) -> discord.Client:
        """Log in over REST only, without the gateway nor the command sync: enough to change roles and
        send messages from a process that is not the running bot (the command line uses this)."""
        client = discord.Client(intents=intents_for(self.cfg), allowed_mentions=discord.AllowedMentions.none())
        await self._login(client)
        self.client = client
        return client

    async def _login(self, client: discord.Client) -> None:
        """REST login and the commands. Raises DiscordTokenRefused, or PlatformUnreachable with a short
        French cause; the client is closed when it fails."""
        if self.cfg.api_base_url:  # a fake Discord (tests): discord.py keeps both addresses on its classes
            discord.http.Route.BASE = self.cfg.api_base_url
        if self.cfg.gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.cfg.gateway_url)
        try:
            await client.login(self._token)
        except discord.LoginFailure as exc:
            await client.close()
            raise DiscordTokenRefused(self._token_refused()) from exc
        except Exception as exc:
            await client.close()
            why = cause(exc)
            if why is None:
                raise
            raise PlatformUnreachable(why) from exc
        except BaseException:
            await client.close()
            raise

    def _token_refused(self) -> str:
        return f"jeton refusé par Discord : vérifiez la variable d'environnement {self.cfg.token_env}"

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
        except discord.LoginFailure:
            self._refused(self._token_refused())
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
        self._stopping.set()
        reaching = self._connect_task if self.client is None else None
        if reaching is not None:  # still trying to log in (`_reach`): nothing of it to finish
            self._connect_task = None
            reaching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaching
        await self.pump.stop()
        try:
            # Interactions being handled get their answers before the connection closes.
            await asyncio.wait_for(self.settle(), timeout=outbox_pump.STOP_GRACE)
        except TimeoutError:
            log.warning("Discord : interactions sans réponse à l'arrêt")
        await self.intake.stop()
        self.stop_workers()
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

    async def on_ready(self) -> None:
        log.info("Discord : passerelle prête (%d serveur(s))", len(self.bot.guilds))
        self.pump.resume()  # Discord is back: what waited goes now
        self.request_event_sync()  # also after a new session: events may have changed meanwhile

    async def on_resumed(self) -> None:
        self.pump.resume()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Slash commands, their autocompletion and button presses.

        An interaction must be acknowledged within 3 seconds, and a burst takes longer than that to
        handle: each one is stored in the inbox (grouped with the others arriving meanwhile, one commit),
        deferred as soon as its row is committed, then handled off the loop; its answers are outbox rows."""
        incoming, private = discord_incoming.from_interaction(interaction, self.slashes)
        if incoming is None:
            return
        self._track()
        if interaction.type == discord.InteractionType.autocomplete:
            await self._autocomplete(interaction, incoming)  # read only: nothing to store
            return
        in_guild = interaction.guild_id is not None
        # The core says from the command alone whether the answer will be for the speaker only; the
        # first answer follows the deferral's visibility (see `discord_replies.interaction_layout`).
        hidden = in_guild and (private or self.app.core.personal(incoming))
        stored = Stored(
            incoming,
            "interaction",
            channel_id=str(interaction.channel_id or ""),
            application_id=str(interaction.application_id),
            token=interaction.token,
            interaction_id=str(interaction.id),
            hidden=hidden,
            private=private,
            in_guild=in_guild,
        )
        with self.acks.one():
            if not await self._store(stored):
                return
            await self._acknowledge(interaction, hidden)
        # Handled even if the deferral failed: the answers then reach the person another way.
        await self.handle_stored(stored)

    async def _acknowledge(self, interaction: discord.Interaction, hidden: bool) -> None:
        try:
            await interaction.response.defer(ephemeral=hidden, thinking=True)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.error("interaction %s non acquittée : %s", interaction.id, exc)

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
        incoming = discord_incoming.from_message(message, me.id, mentioned, self.app.core.table)
        self._track()
        stored = Stored(incoming, "message", channel_id="" if private else str(message.channel.id))
        if await self._store(stored):
            await self.handle_stored(stored)

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
        # A row like every message Klub decides: a crash after this does not lose it, nor send it twice.
        await asyncio.to_thread(self.app.outbox.put, OutMessage(where, greeting))

    # -- the outbox -----------------------------------------------------------------------------------

    async def flush_outbox(self) -> tuple[int, int]:
        """Send what the outbox holds for Discord; returns (sent, given up)."""
        return await self.pump.flush()


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
