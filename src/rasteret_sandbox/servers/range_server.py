"""An aiohttp range server that can add latency, fail on purpose and count concurrency."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import posixpath
import threading
from pathlib import Path
from typing import Any

from rasteret_sandbox.servers._process import (
    _LOCALHOST,
    _START_TIMEOUT_S,
    _STOP_TIMEOUT_S,
    LogEntry,
    ServerStartError,
    _Server,
)

logger = logging.getLogger(__name__)


class RangeServer(_Server):
    """A small aiohttp file server that can be slow, fail on purpose and count concurrency.

    nginx is faster, but it cannot hold a request open for a chosen time or tell how many
    requests were in flight at once; this server can, which is how tests prove that a client
    bounds its concurrency (``max_in_flight <= max_concurrent``) and survives 500s and 404s.
    It runs its own event loop in a daemon thread so synchronous tests can use it.

    Args:
        root: Directory served at ``/`` (symlinks followed, ``..`` refused).
        latency_s: Delay added to every request before it is answered.
    """

    def __init__(self, root: Path, latency_s: float = 0.0) -> None:
        self.root = Path(root)
        self.latency_s = latency_s
        self.fail_paths: set[str] = set()
        """URL paths (``/data/x.tif``, a leading slash optional) answered with HTTP 500."""
        self.port: int | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._max_in_flight = 0
        self._log: list[LogEntry] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash."""
        if self.port is None:
            raise RuntimeError("RangeServer is not running")
        return f"http://{_LOCALHOST}:{self.port}"

    @property
    def request_count(self) -> int:
        """Requests answered (or failed) since start or the last :meth:`reset_counters`."""
        with self._lock:
            return len(self._log)

    @property
    def max_in_flight(self) -> int:
        """Most requests being handled at the same moment since the last reset."""
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        with self._lock:
            return self._in_flight

    def requests(self, path_substring: str | None = None) -> list[LogEntry]:
        """Requests seen since the last reset, oldest first, optionally filtered by path."""
        with self._lock:
            log = list(self._log)
        return [e for e in log if path_substring is None or path_substring in e.path]

    def reset_counters(self) -> None:
        """Zero the request log and the in-flight maximum (not the current in-flight count)."""
        with self._lock:
            self._log.clear()
            self._max_in_flight = self._in_flight

    def start(self) -> None:
        """Start the event loop thread and bind a free port."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as err:  # noqa: BLE001 (reported to the starting thread)
                failure.append(err)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="rasteret-range-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=_START_TIMEOUT_S) or failure:
            self._thread.join(timeout=1.0)
            raise ServerStartError(f"RangeServer failed to start: {failure!r}")
        logger.info("RangeServer serving %s at %s", self.root, self.url)

    async def _serve(self) -> None:
        """Bind the aiohttp app on port 0 and remember the port the kernel chose."""
        from aiohttp import web  # noqa: PLC0415 (test-only dependency)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, _LOCALHOST, 0, backlog=1024)
        await site.start()
        server: Any = site._server  # aiohttp has no public accessor for the bound port
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Stop the loop, close the listener and join the thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_STOP_TIMEOUT_S)
        self._thread = None
        self._loop = None
        self.port = None

    def _resolve(self, url_path: str) -> Path | None:
        """Map a URL path to a file under root, refusing ``..`` escapes."""
        norm = posixpath.normpath("/" + url_path.lstrip("/"))
        if ".." in norm.split("/"):
            return None
        path = self.root / norm.lstrip("/")
        return path if path.is_file() else None

    async def _handle(self, request: Any) -> Any:
        """Serve one request, counting it as in flight until its response is sent.

        The request leaves the in-flight count and enters the log *before* the response
        goes out: a client that has seen its response must find it counted, and must not
        find it still in flight when it sends its next request.
        """
        from aiohttp import web  # noqa: PLC0415

        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        done = False
        try:
            if self.latency_s > 0:
                await asyncio.sleep(self.latency_s)
            status, headers, body = await self._respond(request)
            self._finish(request, status, 0 if request.method == "HEAD" else len(body))
            done = True
            if request.method == "HEAD":
                # A StreamResponse keeps our Content-Length; web.Response would say 0.
                return web.StreamResponse(status=status, headers=headers)
            return web.Response(status=status, headers=headers, body=body)
        finally:
            if not done:
                self._finish(request, 500, 0)

    def _finish(self, request: Any, status: int, sent: int) -> None:
        """Take a request out of the in-flight count and append it to the log."""
        with self._lock:
            self._in_flight -= 1
            self._log.append(
                LogEntry(
                    method=request.method,
                    uri=request.path_qs,
                    range=request.headers.get("Range"),
                    status=status,
                    bytes_sent=sent,
                )
            )

    async def _respond(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        """Compute status, headers and body per RFC 9110 single-range semantics."""
        path = request.path
        fail = {"/" + p.lstrip("/") for p in self.fail_paths}
        if path in fail:
            return 500, {}, b"injected failure"
        if request.method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD"}, b""
        file = self._resolve(path)
        if file is None:
            return 404, {}, b"not found"
        stat = file.stat()
        size = stat.st_size
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": f'"{stat.st_mtime_ns:x}-{size:x}"',
            "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
            "Content-Type": "image/tiff"
            if path.endswith((".tif", ".tiff"))
            else "application/octet-stream",
        }
        byte_range = _parse_range(request.headers.get("Range"), size)
        if isinstance(byte_range, str):  # "unsatisfiable"
            headers["Content-Range"] = f"bytes */{size}"
            return 416, headers, b""
        if byte_range is None:
            body = b"" if request.method == "HEAD" else await asyncio.to_thread(file.read_bytes)
            headers["Content-Length"] = str(size)
            return 200, headers, body
        start, end = byte_range
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        body = (
            b""
            if request.method == "HEAD"
            else await asyncio.to_thread(_read_slice, file, start, end)
        )
        return 206, headers, body


def _read_slice(path: Path, start: int, end: int) -> bytes:
    """Read bytes ``[start, end)`` of a file."""
    with path.open("rb") as fh:
        fh.seek(start)
        return fh.read(end - start)


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """Parse a single ``bytes=`` range into ``[start, end)``.

    Returns None when the whole file should be sent (no header, several ranges, or a form
    we do not honour, all of which RFC 9110 lets a server ignore) and ``"unsatisfiable"``
    for a range that starts past the end.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].strip().partition("-")
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                return "unsatisfiable"
            return max(0, size - suffix), size
        start = int(first)
        end = size if last == "" else min(int(last) + 1, size)
    except ValueError:
        return None
    if start >= size or end <= start:
        return "unsatisfiable"
    return start, end
