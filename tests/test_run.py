"""`klub run`: the composition of adapters, the live console and the scheduler, started and stopped cleanly."""

from __future__ import annotations

import asyncio

import pytest

from adapters.base import AdapterSetupError
from adapters.console_adapter import ConsoleAdapter, ConsoleRunner
from adapters.runner import enabled_platforms
from bot.bootstrap import App
from bot.config import Config
from bot.scheduler import LiveScheduler


def test_enabled_platforms_follow_the_config(config: Config) -> None:
    assert enabled_platforms(config, interactive=True) == ["console"]
    assert enabled_platforms(config, interactive=False) == []
    both = config.model_copy(
        update={"adapters": config.adapters.model_copy(update={
            "telegram": config.adapters.telegram.model_copy(update={"enabled": True})})}
    )  # fmt: skip
    assert enabled_platforms(both, interactive=False) == ["telegram"]


def test_run_platform_serves_some_of_the_configured_platforms(config: Config) -> None:
    adapters = config.adapters.model_copy(update={
        "telegram": config.adapters.telegram.model_copy(update={"enabled": True}),
        "discord": config.adapters.discord.model_copy(update={"enabled": True})})  # fmt: skip
    both = config.model_copy(update={"adapters": adapters})
    assert enabled_platforms(both, interactive=False) == ["telegram", "discord"]
    assert enabled_platforms(both, interactive=False, only=["discord"]) == ["discord"]
    with pytest.raises(AdapterSetupError, match="--platform console"):
        enabled_platforms(both, interactive=False, only=["console"])  # not interactive: not served here
    with pytest.raises(AdapterSetupError, match="--platform telegram"):
        enabled_platforms(config, interactive=False, only=["telegram"])  # not in this configuration


async def test_live_console_prints_replies_and_pushed_messages(app: App) -> None:
    lines: list[str] = []
    typed = iter(["/prochain", "@as camille-ant@equipe", "/annuler 1 neige", "@advance 2h"])

    def read(prompt: str) -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    runner = ConsoleRunner(app.config, "unused", lines.append, echo=False, app=app)
    console = ConsoleAdapter(runner, read=read, live=True)
    live = LiveScheduler(app)
    live.start()
    await console.start()
    await asyncio.wait_for(console.done.wait(), timeout=10)
    await asyncio.sleep(0)  # let the outbox wake-up callback run
    await console.stop()
    live.shutdown()
    text = "\n".join(lines)
    assert "n°1 · Klub numérique" in text
    assert "Séance n°1 annulée" in text
    assert "[prestataires] bot: ❌ « Klub numérique » du jeudi 3 décembre 2026 à 18h30 est annulé : neige." in text
    assert "le temps réel ne se commande pas" in text
    assert text.rstrip().endswith("À bientôt !")
