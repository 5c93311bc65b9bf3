"""Outbox rows "sync the event of session N" (`bot.messages.EventSync`), carried out on Discord.

The core writes such a row whenever a session is created, moved, changed or cancelled, in the
transaction of the change (`bot.klubs.events`). The Discord pump of whichever instance claims it calls
`EventRows.carry_out`: what to do is planned now, for that session alone, by `discord_events.plan` from
the database and the server's current events, then done. So a row is safe to carry out late, or after
another row or pass already did the work (the plan is then empty).

Outcomes, as for any row (never tried twice): an update or a cancel that fails is "failed" and the next
row or pass re-plans it; a create that may have reached Discord (timeout, dropped connection, or created
but its id not stored) is "uncertain". It is not created again blindly: the next plan finds the event
on the server without a session pointing at it, same name and start, and *adopts* it. A full pass is
asked for right away in that case, so the adoption does not wait for the periodic one.

The periodic reconcile (`adapters.discord.events_sync_minutes`) stays as the safety net: sessions that
enter the horizon as days pass, events changed or deleted by hand on Discord.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp

with warnings.catch_warnings():
    # discord.py imports audioop for voice (deprecated in 3.11, gone in 3.13); Klub has no voice.
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord

from adapters.outbox_pump import DeliveryUncertain
from bot import discord_events
from bot.app import App
from bot.discord_events import EventOp, EventStatus, RemoteEvent
from bot.messages import EventSync, OutMessage

log = logging.getLogger(__name__)

_NOT_SENT = (aiohttp.ClientConnectorError,)  # the request never left this machine
_MAYBE_SENT = (aiohttp.ClientError, TimeoutError, OSError)
_STATUS: dict[discord.EventStatus, EventStatus] = {
    discord.EventStatus.scheduled: "scheduled",
    discord.EventStatus.active: "active",
    discord.EventStatus.completed: "completed",
    discord.EventStatus.cancelled: "cancelled",
}


class EventRows:
    def __init__(
        self,
        app: App,
        client: Callable[[], discord.Client],
        lock: asyncio.Lock,
        full_pass: Callable[[], None],
    ) -> None:
        """`client` gives the logged-in client (REST is enough: the guild is fetched when it is not in
        the gateway's cache); `lock` is the one the periodic pass holds, so that a row and a pass never
        plan from the same stale view; `full_pass` asks for a whole reconcile (a no-op where none runs)."""
        self.app = app
        self._client = client
        self._lock = lock
        self._full_pass = full_pass
        self.horizon = timedelta(days=app.config.adapters.discord.events_horizon_days)

    async def carry_out(self, message: OutMessage) -> None:
        """Raises on failure (the pump records the row failed), DeliveryUncertain when a create may
        have happened."""
        sync = EventSync.from_out(message)
        if sync is None:
            raise ValueError(f"ligne {message.ledger_id} : pas une synchronisation d'évènement")
        if not self.app.config.adapters.discord.events:
            return  # written before events were turned off: nothing to mirror any more
        try:
            async with self._lock:
                ops = await self._sync(sync.session_id)
        except DeliveryUncertain:
            self._full_pass()  # adopt (or create) now rather than at the next periodic pass
            raise
        if ops:
            log.info("Discord : évènement de la séance n°%s : %s", sync.session_id, ", ".join(o.action for o in ops))

    async def _sync(self, session_id: int) -> list[EventOp]:
        now = self.app.clock.now()
        wanted = await asyncio.to_thread(discord_events.mirrors, self.app, now, self.horizon)
        mine = next((m for m in wanted if m.session_id == session_id), None)
        if mine is None:
            return []  # nothing to mirror (staff only, beyond the horizon, past, cancelled and never shown)
        client = self._client()
        guild = client.get_guild(int(mine.guild_id)) or await client.fetch_guild(int(mine.guild_id))
        found = await guild.fetch_scheduled_events(with_counts=False)
        objects = {str(e.id): e for e in found}
        remote = {mine.guild_id: {key: remote_event(e) for key, e in objects.items()}}
        # The whole server's sessions go into the plan (an event another session holds is never adopted
        # here); only this session's operations are carried out.
        same_guild = [m for m in wanted if m.guild_id == mine.guild_id]
        ops = [op for op in discord_events.plan(same_guild, remote) if op.session_id == session_id]
        for op in ops:
            await apply_op(self.app, guild, op, objects)
        return ops


async def apply_op(app: App, guild: discord.Guild, op: EventOp, objects: dict[str, discord.ScheduledEvent]) -> None:
    """One operation of a plan, on `guild` (`objects`: its events by id), for a row or a whole pass.
    Raises DeliveryUncertain when a create may have happened; other errors mean it did not."""
    spec = op.spec
    # The id is stored on the loop (one short UPDATE), not in a thread: a pass cancelled at stop must
    # not leave a thread holding a connection of an engine that is being disposed.
    if op.action == "adopt" and op.event_id is not None:
        discord_events.record_event(app, op.session_id, op.event_id)
    elif op.action == "create":
        try:
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
        except (discord.HTTPException, *_NOT_SENT):
            raise  # refused, or never sent: certainly not created
        except _MAYBE_SENT as exc:
            raise DeliveryUncertain(f"évènement de la séance n°{op.session_id} : {type(exc).__name__}") from exc
        try:
            discord_events.record_event(app, op.session_id, str(event.id))
        except Exception as exc:
            raise DeliveryUncertain(f"évènement {event.id} créé, pas enregistré avec sa séance") from exc
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


def remote_event(event: discord.ScheduledEvent) -> RemoteEvent:
    status: Any = _STATUS.get(event.status, "completed")
    return RemoteEvent(
        event_id=str(event.id),
        status=status,
        spec=discord_events.EventSpec(
            name=event.name,
            description=event.description or "",
            location=event.location or "",
            start=event.start_time,
            end=event.end_time or event.start_time,
        ),
    )
