"""Staying connected to Discord: the gateway's reconnection loop, and what an error says about Discord.

discord.py's own loop (`Client.connect(reconnect=True)`) is kept in substance — RESUME after a drop, a
fresh IDENTIFY when the session is gone — with three changes Klub needs:

- the wait between attempts is Klub's (`adapters.reconnect`: 1 s doubling to 60 s, jittered) instead of
  up to 17 minutes, and it ends at once when the adapter stops;
- each attempt is one French line in the log, without the traceback discord.py logs;
- a first connection that fails does not end the loop (discord.py 2.7 then reads the sequence of a
  websocket that never existed and raises AttributeError: the bot stayed up without its gateway).

A gateway that closes with 4004 (authentication failed) raises `discord.LoginFailure`: the token will
never work, and the adapter says so instead of retrying.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any

import aiohttp

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord
    from discord.gateway import DiscordWebSocket, ReconnectWebSocket

from adapters.reconnect import Backoff, network_cause, pause, seconds

log = logging.getLogger("adapters.discord_adapter")

AUTHENTICATION_FAILED = 4004  # the gateway's close code for a token it refuses
_CONNECTION_RESET = (54, 10054)  # errno: resume at once, as discord.py does


def not_delivered(exc: BaseException, token_env: str) -> str | None:
    """Why Discord cannot be reached, when `exc` says so of a call that certainly did nothing (the outbox
    then keeps the row for later); None otherwise. A refused token is here too: the row must wait for a
    good one, not be given up."""
    if isinstance(exc, discord.HTTPException):
        if exc.status >= 500:
            return f"erreur {exc.status} du serveur Discord"
        if exc.status == 401:
            return f"jeton refusé, vérifiez {token_env}"
        return None
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, unreachable network: never left here
        return network_cause(exc) or "connexion impossible"
    return None


def cause(exc: BaseException) -> str | None:
    """Why logging in or connecting the gateway failed, when it is Discord being unreachable (these calls
    are safe to repeat, so any transport failure counts); None for anything else (a bug)."""
    if isinstance(exc, discord.HTTPException):
        return f"erreur {exc.status} du serveur Discord" if exc.status >= 500 else f"réponse {exc.status} de Discord"
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"passerelle : réponse {exc.status}"
    if isinstance(exc, discord.GatewayNotFound):
        return "passerelle introuvable"
    if isinstance(exc, discord.ConnectionClosed):
        return f"passerelle fermée (code {exc.code})"
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        return network_cause(exc) or type(exc).__name__
    return None


class GatewayClient(discord.Client):
    """A discord.Client whose `connect` retries the way Klub does (see the module's docstring)."""

    def __init__(self, *, backoff: Backoff, **options: Any) -> None:
        super().__init__(**options)
        self.backoff = backoff
        self._stopping = asyncio.Event()

    async def close(self) -> None:
        self._stopping.set()  # a wait between two attempts ends now
        await super().close()

    async def connect(self, *, reconnect: bool = True) -> None:
        ws_params: dict[str, Any] = {"initial": True, "shard_id": self.shard_id}
        while not self.is_closed():
            try:
                self.ws = await asyncio.wait_for(DiscordWebSocket.from_client(self, **ws_params), timeout=60.0)
                ws_params["initial"] = False
                self.backoff.reset()  # the gateway answered: the next drop starts from the first wait
                while True:
                    await self.ws.poll_event()
            except ReconnectWebSocket as e:
                # Discord asked for it (or a drop it can resume): at once, as discord.py does.
                self.dispatch("disconnect")
                ws_params.update(sequence=self.ws.sequence, resume=e.resume, session=self.ws.session_id)
                if e.resume:
                    ws_params["gateway"] = self.ws.gateway
                continue
            except (
                OSError,
                discord.HTTPException,
                discord.GatewayNotFound,
                discord.ConnectionClosed,
                aiohttp.ClientError,
                TimeoutError,
            ) as exc:
                self.dispatch("disconnect")
                if self.is_closed():
                    return
                if isinstance(exc, discord.ConnectionClosed):
                    if exc.code == 4014:
                        raise discord.PrivilegedIntentsRequired(exc.shard_id) from None
                    if exc.code == AUTHENTICATION_FAILED:
                        await self.close()
                        raise discord.LoginFailure("la passerelle refuse le jeton") from None
                    if exc.code != 1000:  # a state no retry repairs (sharding, intents, API version)
                        await self.close()
                        raise
                if not reconnect:
                    await self.close()
                    raise
                if self.ws is not None and isinstance(exc, OSError) and exc.errno in _CONNECTION_RESET:
                    ws_params.update(
                        sequence=self.ws.sequence,
                        gateway=self.ws.gateway,
                        initial=False,
                        resume=True,
                        session=self.ws.session_id,
                    )
                    continue
                delay = self.backoff.next()
                why = cause(exc) or type(exc).__name__
                log.warning("Discord injoignable (%s) : nouvel essai dans %s s", why, seconds(delay))
                if await pause(delay, self._stopping):
                    return
                if self.ws is not None:  # there is a session to resume (none before the first connection)
                    ws_params.update(
                        sequence=self.ws.sequence,
                        gateway=self.ws.gateway,
                        resume=True,
                        session=self.ws.session_id,
                    )
