"""Serving the web app: an aiohttp runner and TCP site, shaped like a bot adapter.

`WebServer` has the same `start()` / `stop()` / `running` shape as the platform
adapters (`bot.serve.Adapter`), so `serve()` can run it next to the bots or alone.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING

from aiohttp import web

from bot.errors import ConfigError
from bot.web.app import build_web_app

if TYPE_CHECKING:
    from bot.app import Cohort

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 5.0


class WebServer:
    """The purchase webhook and click redirect on `[web] host`/`port`.

    `host` and `port` override the settings (`port=0` picks a free port; read it from
    `port` after `start()`).
    """

    def __init__(self, cohort: Cohort, *, host: str | None = None, port: int | None = None) -> None:
        self.cohort = cohort
        self.host = cohort.settings.web.host if host is None else host
        self._port = cohort.settings.web.port if port is None else port
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        runner = self._runner
        return runner is not None and runner.server is not None and bool(runner.addresses)

    @property
    def port(self) -> int:
        """The port listened on (the one actually bound once started)."""
        if self._runner is not None:
            for address in self._runner.addresses:
                if isinstance(address, tuple) and len(address) >= 2:
                    return int(address[1])
        return self._port

    @property
    def url(self) -> str:
        """The local base URL, e.g. `http://127.0.0.1:8080`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen; raise `ConfigError` if the address is taken or cannot be bound."""
        if self._runner is not None:
            return
        if not self.cohort.settings.web.webhook_secret.get_secret_value():
            log.warning(
                "[web] webhook_secret is not set: POST /hooks/purchase answers 503 "
                "(the click redirect works)"
            )
        runner = web.AppRunner(
            build_web_app(self.cohort),
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(_bind_problem(self.host, self._port, exc)) from exc
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("web server listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and finish open requests; safe to call if `start` failed."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("web server stopped")


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"web: {where} is already in use; stop the other process "
            "or set another [web] port (COHORT_WEB__PORT)"
        )
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"web: cannot listen on {where}: no such local address; check [web] host"
    if exc.errno == errno.EACCES:
        return f"web: not allowed to listen on {where}; use a port above 1023"
    return f"web: cannot listen on {where}: {exc.strerror or exc}"
