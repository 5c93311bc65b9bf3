"""The contract every platform adapter fulfils. Adapters convert and render; they decide nothing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from bot.messages import ChatRef, Reply


class AdapterSetupError(Exception):
    """The adapter cannot start (missing token, bad setting): one clear line for the person running Klub."""


class PlatformUnreachable(Exception):
    """The platform cannot be reached now (network down, DNS, refused connection, 5xx): the running bot
    tries again (`adapters.reconnect`); never a reason to stop Klub. The text is a short French cause."""


class TokenRefused(AdapterSetupError):
    """The platform refuses the bot's token: it will never work until someone changes it. The text names
    the environment variable that holds it."""


class Adapter(ABC):
    name: ClassVar[str]

    @abstractmethod
    async def start(self) -> None:
        """Connect and begin receiving; returns without blocking."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop receiving and release connections."""

    @abstractmethod
    async def send(self, chat: ChatRef, reply: Reply) -> None:
        """Deliver one reply to a chat (group or private)."""
