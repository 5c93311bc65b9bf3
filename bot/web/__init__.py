"""The office's web dashboard: `build_app(app)` gives the Starlette app, `serve(app)` runs it with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from bot.app import App

log = logging.getLogger(__name__)


def build_app(app: App, *, secret: bytes | None = None) -> Starlette:
    from bot.web.app import build_app as build

    return build(app, secret=secret)


class Server(uvicorn.Server):
    """A uvicorn server that leaves the signals alone: `klub run` owns SIGINT/SIGTERM for all its parts."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()  # set once listening: a thread can wait for it without polling

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: App, host: str | None = None, port: int | None = None, *, secret: bytes | None = None) -> Server:
    web = app.config.web
    config = uvicorn.Config(
        build_app(app, secret=secret),
        host=host or web.host,
        port=web.port if port is None else port,
        lifespan="off",
        access_log=False,  # login and calendar URLs carry secrets: keep them out of the logs
        log_level="warning",
        proxy_headers=True,
        server_header=False,
    )
    return Server(config)


async def serve(
    app: App,
    host: str | None = None,
    port: int | None = None,
    *,
    sockets: list[socket.socket] | None = None,
    secret: bytes | None = None,
) -> None:
    """Serve until cancelled; a cancel (klub run stopping) closes the listening socket cleanly."""
    server = make_server(app, host, port, secret=secret)
    try:
        await server.serve(sockets=sockets)
    except asyncio.CancelledError:
        server.should_exit = True
        if server.started:
            await server.shutdown(sockets=sockets)
        raise
    except SystemExit:
        # uvicorn exits when it cannot bind: the rest of Klub keeps running, and says why.
        log.error(
            "tableau de bord : impossible d'écouter sur %s:%s (port déjà pris ? changez web.port)",
            server.config.host,
            server.config.port,
        )


__all__ = ["Server", "build_app", "make_server", "serve"]
