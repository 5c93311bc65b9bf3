"""`klub console`: the interactive terminal chat, or a transcript with --script."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from bot.cli.common import CliError, load


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("console", help="discuter avec Klub dans le terminal")
    parser.add_argument("--script", help="jouer une conversation écrite (transcript) et afficher les réponses")
    parser.add_argument("--db", help="URL de la base (défaut : une base neuve pour --script, sinon la configuration)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from adapters.console_adapter import ConsoleAdapter, ConsoleRunner, play_script, stdout_writer
    from bot.clock import ManualClock, SystemClock

    config = load(args)
    if args.script:
        try:
            script = Path(args.script).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CliError(
                f"{args.script} : le fichier doit être encodé en UTF-8 (octet illisible en position {exc.start})"
            ) from exc
        except OSError as exc:
            raise CliError(f"{args.script} : lecture impossible ({exc.strerror})") from exc
        # A bad line is a bad file: exit code 2, like every other refused input.
        if args.db:
            return 2 if play_script(config, args.db, script, stdout_writer, args.script) else 0
        with tempfile.TemporaryDirectory(prefix="klub-") as tmp:
            url = f"sqlite:///{os.path.join(tmp, 'transcript.db')}"
            return 2 if play_script(config, url, script, stdout_writer, args.script) else 0

    runner = ConsoleRunner(
        config, args.db or config.database.url, stdout_writer, clock=ManualClock(SystemClock().now()), echo=False
    )
    adapter = ConsoleAdapter(runner)

    async def main() -> None:
        dashboard: asyncio.Task[None] | None = None
        if config.web.enabled:
            # The dashboard beside the console, so that « /tableau » gives a link that opens here.
            from bot.web import serve

            # A secret for this console's lifetime: logins are meant to end with it, nothing to warn about.
            dashboard = asyncio.create_task(serve(runner.app, secret=secrets.token_bytes(32)))
            print(f"Tableau de bord : {config.web.base_url} (lien de connexion : /tableau en privé)")
        await adapter.start()
        await adapter.done.wait()
        await adapter.stop()
        if dashboard is not None:
            dashboard.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dashboard

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("\nÀ bientôt !")
    return 0
