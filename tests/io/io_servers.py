"""Helpers for the io tests' local servers (imported by tests/io/conftest.py and the tests).

A uniquely named module, so it never collides with another folder's conftest.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field

from aiohttp import web

DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable mod 256
BUCKET = "rasteret-test"
PAYER_BUCKET = "rasteret-payer"


@dataclass
class Recorder:
    """Requests seen by a server: (method, path_qs, headers)."""

    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request: web.Request) -> None:
        with self.lock:
            self.requests.append((request.method, request.path_qs, dict(request.headers)))

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()


class LoopThread:
    """An event loop on a thread, serving aiohttp apps for the whole session."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners: list[web.AppRunner] = []

    def run(self, coro: Awaitable[object]) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)  # type: ignore[arg-type]

    def serve(self, app: web.Application) -> int:
        async def start() -> int:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.runners.append(runner)
            server = site._server
            assert server is not None
            return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

        port = self.run(start())
        assert isinstance(port, int)
        return port

    def stop(self) -> None:
        for runner in self.runners:
            self.run(runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class HttpServer:
    """The aiohttp range server: static files under /, plus misbehaving endpoints."""

    base: str
    recorder: Recorder


@dataclass
class S3Server:
    """moto's S3, reached through a header-recording proxy."""

    endpoint: str
    """The proxy in front of moto: what the backend talks to."""
    moto_endpoint: str
    recorder: Recorder
