"""The server's scheduled events, kept in step with the sessions (a mixin of the Discord adapter).

Which sessions become which events is `bot.discord_events`' decision (`plan`); this code reads each
server's events over REST, carries out the plan and records the event ids. Each change of a session
travels as an outbox row of its own, carried out for that session alone (`adapters.discord_event_rows`,
which also holds the calls both use); this whole pass is the safety net: at start, after a row whose
create may have happened (`request_event_sync`), and every `events_sync_minutes` (sessions entering
the horizon, events changed or deleted by hand on Discord).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord

from adapters.discord_event_rows import apply_op, remote_event
from adapters.outbox_pump import DeliveryUncertain
from bot import discord_events
from bot.discord_events import EventOp, RemoteEvent

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import DiscordConfig

log = logging.getLogger("adapters.discord_adapter")


class EventSync:
    """Mixed into `DiscordAdapter`, which provides the attributes declared here."""

    app: App
    cfg: DiscordConfig
    _event_tasks: list[asyncio.Task[None]]
    _sync_wanted: asyncio.Event
    _sync_lock: asyncio.Lock
    synced: asyncio.Event

    @property
    def bot(self) -> discord.Client:
        raise NotImplementedError

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
                remote[guild_id] = {str(e.id): remote_event(e) for e in events}
                objects.update({str(e.id): e for e in events})
            ops = discord_events.plan(wanted, remote)
            for op in ops:
                try:
                    await self._apply(op, objects)
                except (discord.HTTPException, aiohttp.ClientError, OSError, DeliveryUncertain) as exc:
                    # Left for the next pass, which compares again: nothing is done twice.
                    log.error(
                        "Discord : évènement de la séance n°%s (%s) impossible : %s", op.session_id, op.action, exc
                    )
            return ops

    async def _apply(self, op: EventOp, objects: dict[str, discord.ScheduledEvent]) -> None:
        guild = self.bot.get_guild(int(op.guild_id))
        if guild is not None:
            await apply_op(self.app, guild, op, objects)
