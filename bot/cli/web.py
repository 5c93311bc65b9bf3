"""`klub web`: serve the office dashboard on its own (klub run serves it too when web.enabled is true)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from bot.bootstrap import App, bootstrap
from bot.cli.argfr import bounded_int
from bot.cli.common import check_web_secret, load
from bot.clock import SystemClock


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("web", help="servir le tableau de bord web de l'office")
    parser.add_argument("--host", help="adresse d'écoute (défaut : web.host de la configuration)")
    parser.add_argument(
        "--port", type=bounded_int(1, 65535), help="port d'écoute (défaut : web.port de la configuration)"
    )
    parser.set_defaults(func=run_web)


def run_web(args: argparse.Namespace) -> int:
    config = load(args)
    check_web_secret(config)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s : %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = bootstrap(config, clock=SystemClock(), platforms=())
    host = args.host or config.web.host
    port = args.port or config.web.port
    print(f"Tableau de bord sur http://{host}:{port} (liens envoyés : {config.web.base_url}). Ctrl-C pour arrêter.")
    if not config.web.enabled:
        print("Attention : web.enabled vaut false, la commande /tableau n'enverra pas de lien de connexion.")
    try:
        asyncio.run(_serve(app, host, port))
    finally:
        app.close()
    return 0


async def _serve(app: App, host: str, port: int) -> None:
    from bot.web import serve

    task = asyncio.create_task(serve(app, host, port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, waiter):
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
