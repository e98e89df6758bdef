"""A loopback HTTP proxy that breaks chosen requests on purpose, in its own process.

Clouds fail in a handful of ways that a well-behaved local server never shows: a 5xx,
a 429 with ``Retry-After``, a connection reset, a response that stalls past the
client's timeout, a body cut off mid-stream, a ``Content-Length`` that disagrees with
the range asked for. :class:`FaultProxy` sits in front of any upstream (nginx, the
STAC API) and injects exactly those faults on the requests a schedule names, so the
tests can prove that rasteret either recovers with the same pixels or fails with an
error naming what failed, and never returns garbage.

The proxy is an aiohttp app run by ``python -m rasteret_sandbox.servers.fault_proxy``
in a child process (a real socket peer: a reset or a stall there is what a client
sees from a cloud). The schedule is set through a small control endpoint,
``/__faults__`` (POST a JSON list of rules, GET the request log, DELETE to clear),
which :meth:`FaultProxy.set_faults` and :meth:`FaultProxy.requests` wrap.

The ``Host`` header is forwarded unchanged, so an upstream that writes absolute links
(a STAC API's ``next`` page) points them back at the proxy and later pages can fail too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rasteret_sandbox.servers._process import (
    _LOCALHOST,
    _START_TIMEOUT_S,
    _http_ok,
    _Server,
    _spawn_on_free_port,
    _stop_process,
)

logger = logging.getLogger(__name__)

CONTROL_PATH = "/__faults__"
"""Control endpoint: POST rules (JSON), GET the log, DELETE to clear rules and log."""

FaultKind = Literal["status", "reset", "stall", "truncate", "bad_length", "latency"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One rule of the schedule: which requests to break, and how.

    A request matches when its path (query string included) matches ``path``. Matching
    requests are numbered from 1 per rule; numbers ``skip + 1`` to ``skip + times`` are
    broken (``times=None``: every one after ``skip``), or only every ``every``-th of them.
    The first rule that breaks a request wins; ``latency`` rules add their delay and let
    later rules apply too.
    """

    kind: FaultKind
    """``status``: answer ``status`` without forwarding; ``reset``: TCP RST before any
    response; ``stall``: wait ``delay_s`` then answer normally (past a client timeout);
    ``truncate``: send the true Content-Length, then half the body, then close;
    ``bad_length``: a Content-Length (and body) of half the range, Content-Range unchanged;
    ``latency``: wait ``delay_s`` before forwarding."""
    path: str = ".*"
    """Regular expression searched in the request path and query."""
    times: int | None = 1
    """How many matching requests to break (None: all)."""
    skip: int = 0
    """Matching requests to let through before breaking any."""
    status: int = 503
    """Status code for ``kind="status"``."""
    retry_after: float | str | None = None
    """``Retry-After`` header sent with ``kind="status"``: a number is sent as seconds, a
    string verbatim (an HTTP date, or garbage to test a client's parser)."""
    delay_s: float = 0.0
    """Delay of ``stall`` and ``latency``."""
    method: str | None = None
    """Only requests with this method match (None: any)."""
    every: int = 1
    """Break only every ``every``-th request of the window (a sprinkle of faults in a soak)."""
    window_s: float | None = None
    """Break only during this many seconds after the schedule was set (None: no limit): a
    throttle that lifts after a while, however many requests arrive meanwhile."""


@dataclass
class _RuleState:
    rule: Fault
    pattern: re.Pattern[str]
    seen: int = 0


@dataclass
class _Schedule:
    rules: list[_RuleState] = field(default_factory=list)
    latency_s: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def decide(self, method: str, target: str) -> tuple[Fault | None, float]:
        """Return the breaking fault for this request (if any) and the added latency."""
        chosen: Fault | None = None
        delay = self.latency_s
        elapsed = time.monotonic() - self.started
        for state in self.rules:
            rule = state.rule
            if rule.method is not None and rule.method != method:
                continue
            if rule.window_s is not None and elapsed > rule.window_s:
                continue
            if not state.pattern.search(target):
                continue
            state.seen += 1
            last = None if rule.times is None else rule.skip + rule.times
            if state.seen <= rule.skip or (last is not None and state.seen > last):
                continue
            if (state.seen - rule.skip) % max(1, rule.every):
                continue
            if rule.kind == "latency":
                delay += rule.delay_s
            elif chosen is None:
                chosen = rule
        return chosen, delay


def _rules_from_json(data: Iterable[dict[str, Any]]) -> list[_RuleState]:
    rules = [Fault(**item) for item in data]
    return [_RuleState(rule=r, pattern=re.compile(r.path)) for r in rules]


# ------------------------------------------------------------------------ the app (child)


def _abort_with_reset(transport: Any) -> None:
    """Close the client's socket with a TCP RST (SO_LINGER 0), as a crashed peer does."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if transport is not None:
        transport.abort()


def _make_app(upstream: str) -> Any:
    from aiohttp import ClientSession, ClientTimeout, TCPConnector, web  # noqa: PLC0415

    schedule = _Schedule()
    session_box: list[ClientSession] = []

    async def control(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            body = await request.json()
            schedule.rules = _rules_from_json(body.get("rules", []))
            schedule.latency_s = float(body.get("latency_s", 0.0))
            schedule.started = time.monotonic()
            schedule.log.clear()
            return web.json_response({"rules": len(schedule.rules)})
        if request.method == "DELETE":
            schedule.rules = []
            schedule.latency_s = 0.0
            schedule.log.clear()
            return web.json_response({"rules": 0})
        return web.json_response({"log": schedule.log})

    async def proxy(request: web.Request) -> web.StreamResponse:
        target = request.path_qs
        fault, delay = schedule.decide(request.method, target)
        entry: dict[str, Any] = {
            "method": request.method,
            "uri": target,
            "range": request.headers.get("Range"),
            "fault": fault.kind if fault is not None else ("latency" if delay else None),
            "status": None,
            "time": time.time(),
        }
        schedule.log.append(entry)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None and fault.kind == "status":
            entry["status"] = fault.status
            headers = {}
            if isinstance(fault.retry_after, str):
                headers["Retry-After"] = fault.retry_after
            elif fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            return web.Response(status=fault.status, headers=headers, text="injected fault")
        if fault is not None and fault.kind == "reset":
            _abort_with_reset(request.transport)
            entry["status"] = 0
            return web.Response(status=500)  # never sent: the socket is gone
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.delay_s)

        if not session_box:
            session_box.append(
                ClientSession(
                    auto_decompress=False,
                    connector=TCPConnector(limit=256),
                    timeout=ClientTimeout(total=120),
                )
            )
        forwarded = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        body = await request.read()
        async with session_box[0].request(
            request.method,
            upstream + target,
            headers=forwarded,
            data=body if body else None,
            allow_redirects=False,
        ) as upstream_resp:
            payload = await upstream_resp.read()
            headers = {
                k: v for k, v in upstream_resp.headers.items() if k.lower() not in _HOP_BY_HOP
            }
            status = upstream_resp.status
        entry["status"] = status
        if request.method == "HEAD":
            resp = web.StreamResponse(status=status, headers=headers)
            resp.content_length = int(upstream_resp.headers.get("Content-Length", "0"))
            await resp.prepare(request)
            return resp
        if fault is not None and fault.kind in ("truncate", "bad_length") and len(payload) > 1:
            half = len(payload) // 2
            resp = web.StreamResponse(status=status, headers=headers)
            resp.content_length = len(payload) if fault.kind == "truncate" else half
            await resp.prepare(request)
            await resp.write(payload[:half])
            if fault.kind == "truncate":
                _abort_with_reset(request.transport)
                return resp
            await resp.write_eof()
            return resp
        return web.Response(status=status, headers=headers, body=payload)

    async def close_session(_: web.Application) -> None:
        if session_box:
            await session_box[0].close()

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", CONTROL_PATH, control)
    app.router.add_route("*", "/{tail:.*}", proxy)
    app.on_cleanup.append(close_session)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run the proxy in this process until SIGTERM (the child side of :class:`FaultProxy`)."""
    from aiohttp import web  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # Quiet the expected noise of aborted transports.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    web.run_app(
        _make_app(args.upstream.rstrip("/")),
        host=_LOCALHOST,
        port=args.port,
        access_log=None,
        print=None,
        backlog=1024,
        handle_signals=True,  # SIGTERM exits cleanly
    )


# ------------------------------------------------------------------------ the parent side


class FaultProxy(_Server):
    """A fault-injecting reverse proxy in front of ``upstream``, run as a child process.

    Args:
        upstream: Base URL of the real server (nginx, the STAC API).
        faults: Initial schedule (also settable later with :meth:`set_faults`).
        latency_s: Delay added to every proxied request.
    """

    def __init__(
        self, upstream: str, *, faults: Sequence[Fault] = (), latency_s: float = 0.0
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.port: int | None = None
        self._initial = (tuple(faults), latency_s)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._tmp: Path | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL without a trailing slash."""
        if self.port is None:
            raise RuntimeError("FaultProxy is not running")
        return f"http://{_LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the proxy process (None when stopped)."""
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        """Start the proxy process on a free port and wait until its control endpoint answers."""
        self._tmp = Path(tempfile.mkdtemp(prefix="rasteret-fault-proxy-"))
        self._log_path = self._tmp / "proxy.log"
        self.port, self._proc = _spawn_on_free_port(
            lambda port: [
                sys.executable,
                "-m",
                "rasteret_sandbox.servers.fault_proxy",
                "--upstream",
                self.upstream,
                "--port",
                str(port),
            ],
            lambda port: _http_ok(f"http://{_LOCALHOST}:{port}{CONTROL_PATH}", 0.5),
            what="fault proxy",
            log=self._log_path,
            timeout_s=_START_TIMEOUT_S,
        )
        faults, latency = self._initial
        self.set_faults(faults, latency_s=latency)
        logger.info("fault proxy for %s at %s", self.upstream, self.url)

    def stop(self) -> None:
        """Stop the proxy process by PID; safe to call twice."""
        _stop_process(self._proc)
        self._proc = None
        self.port = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _control(self, method: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(  # noqa: S310 (local URL)
            self.url + CONTROL_PATH,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with self._lock, urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())

    def set_faults(self, faults: Iterable[Fault] = (), *, latency_s: float = 0.0) -> None:
        """Replace the schedule (rule counters and the request log start from zero)."""
        self._control("POST", {"rules": [asdict(f) for f in faults], "latency_s": latency_s})

    def clear(self) -> None:
        """Remove every rule and the latency, and empty the log."""
        self._control("DELETE")

    def requests(self, path_substring: str | None = None) -> list[dict[str, Any]]:
        """Proxied requests since the last schedule change, in arrival order.

        Each is a dict of method, uri, range, fault, status and time (``time.time()``
        when the proxy received it, so tests can measure the waits between retries).
        """
        log: list[dict[str, Any]] = self._control("GET")["log"]
        return [e for e in log if path_substring is None or path_substring in e["uri"]]


if __name__ == "__main__":
    main()
