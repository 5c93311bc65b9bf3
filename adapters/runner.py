"""`klub run`: every enabled adapter, the web dashboard and the reminder alarm in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from adapters.base import Adapter, AdapterSetupError
from adapters.console_adapter import ConsoleAdapter, ConsoleRunner, stdout_writer
from bot import instances
from bot.bootstrap import App, bootstrap
from bot.clock import SystemClock
from bot.config import Config
from bot.scheduler import LiveScheduler

log = logging.getLogger(__name__)


def enabled_platforms(config: Config, interactive: bool, only: Sequence[str] = ()) -> list[str]:
    """The platforms this process serves: the configured ones, or those of `only` (`klub run
    --platform`, each one configured) when several instances share the platforms of one config."""
    platforms = [name for name in ("telegram", "discord") if getattr(config.adapters, name).enabled]
    if config.adapters.console.enabled and interactive:
        platforms.append("console")
    if only:
        missing = sorted(set(only) - set(platforms))
        if missing:
            raise AdapterSetupError(
                f"--platform {', '.join(missing)} : plateforme non activée dans la configuration (adapters.*.enabled)"
            )
        platforms = [p for p in platforms if p in only]
    return platforms


def build_adapters(app: App, platforms: list[str]) -> list[Adapter]:
    adapters: list[Adapter] = []
    if "telegram" in platforms:
        adapters.append(importlib.import_module("adapters.telegram_adapter").TelegramAdapter(app))
    if "discord" in platforms:
        adapters.append(importlib.import_module("adapters.discord_adapter").DiscordAdapter(app))
    if "console" in platforms:
        runner = ConsoleRunner(app.config, app.config.database.url, stdout_writer, echo=False, app=app)
        adapters.append(ConsoleAdapter(runner, live=True))
    return adapters


async def run(config: Config, only: Sequence[str] = ()) -> int:
    interactive = sys.stdin.isatty()
    try:
        platforms = enabled_platforms(config, interactive, only)
    except AdapterSetupError as exc:
        print(f"klub : {exc}", file=sys.stderr)
        return 2
    app = bootstrap(config, clock=SystemClock(), platforms=platforms)
    try:
        adapters = build_adapters(app, platforms)
    except AdapterSetupError as exc:
        app.close()
        print(f"klub : {exc}", file=sys.stderr)
        return 2
    if not adapters and not config.web.enabled:
        app.close()
        print("Aucun adaptateur activé : activez telegram, discord ou le tableau de bord web dans la configuration,"
              " ou lancez « klub console ».", file=sys.stderr)  # fmt: skip
        return 2
    # Before anything starts: our rows from a previous life (same instance name) are ours again now.
    found = instances.recover(app.sessions, app.instance, app.clock.now())
    if found:
        log.warning(
            "reprise après arrêt brutal : %d envoi(s) repris, %d incertain(s), %d message(s) reçu(s) à traiter",
            found.released,
            found.uncertain,
            found.inbox,
        )
    await asyncio.to_thread(instances.beat, app.sessions, app.instance, platforms, app.clock.now())
    heart = asyncio.create_task(_heartbeat(app, platforms), name="klub-heartbeat")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    scheduler = LiveScheduler(app)
    started: list[Adapter] = []
    tasks: list[asyncio.Task[Any]] = []
    try:
        for adapter in adapters:
            # A platform that cannot be reached is retried in the background (its start returns); what
            # raises here is a setup error (a refused token): one line, code 2, like a missing token.
            try:
                await adapter.start()
            except AdapterSetupError as exc:
                print(f"klub : {exc}", file=sys.stderr)
                return 2
            started.append(adapter)
            log.info("adaptateur %s démarré", adapter.name)
            done = getattr(adapter, "done", None)
            if isinstance(done, asyncio.Event):  # the console ends the run on Ctrl-D
                tasks.append(asyncio.create_task(_set_when(done, stop)))
        if config.web.enabled:
            web = importlib.import_module("bot.web")
            tasks.append(asyncio.create_task(web.serve(app)))
        scheduler.start(catch_up=False)
        tasks.append(asyncio.create_task(asyncio.to_thread(scheduler.run_due)))  # missed while down: now
        print(f"Klub est lancé ({', '.join(platforms) or 'web'}). Ctrl-C pour arrêter.", file=sys.stderr)
        await stop.wait()
    finally:
        scheduler.shutdown()
        for task in tasks:
            task.cancel()
        # Stop taking work, finish what is in flight; then give back what we still hold, at once.
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("arrêt de l'adaptateur %s", adapter.name)
        heart.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heart
        try:
            instances.leave(app.sessions, app.instance, app.clock.now())
        except Exception:
            log.exception("départ de l'instance %s non enregistré", app.instance)
        app.close()
    return 0


async def _heartbeat(app: App, platforms: list[str]) -> None:
    """Say we are alive; take over from instances that are not; pick up updates they left."""
    cfg = app.config.delivery
    dead_after = timedelta(seconds=cfg.dead_after)
    while True:
        await asyncio.sleep(cfg.heartbeat)
        try:
            now = app.clock.now()
            await asyncio.to_thread(instances.beat, app.sessions, app.instance, platforms, now)
            found = await asyncio.to_thread(instances.reap, app.sessions, app.instance, now, dead_after)
        except Exception:
            log.exception("battement de cœur de l'instance %s manqué", app.instance)
            continue
        if found.released or found.uncertain:
            app.outbox.notify(*platforms)
        app.inbox.released()  # released updates (a dead instance's, or a stopped one's) are taken


async def _set_when(done: asyncio.Event, stop: asyncio.Event) -> None:
    await done.wait()
    stop.set()
