"""The contract every platform adapter fulfils. Adapters convert and render; they decide nothing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from bot.messages import ChatRef, Reply


class AdapterSetupError(Exception):
    """The adapter cannot start (missing token, bad setting): one clear line for the person running Klub."""


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
