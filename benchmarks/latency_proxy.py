"""A loopback HTTP/1.1 proxy that adds cloud-like first-byte latency in front of nginx.

This kernel has no ``tc netem``, so latency is added at the HTTP level: every request
waits ``--latency-ms`` before it is forwarded, which is what a client sees from an object
store (time to first byte dominated by a round trip plus service time). An optional
per-connection bandwidth cap paces the body. Requests on one client connection are
served in order (HTTP/1.1 without pipelining), so concurrency comes from connections, as
with S3.

It is written on asyncio protocols (uvloop when installed) rather than streams or a web
framework, because the proxy must not be the bottleneck of what it measures: response
bytes go from the upstream socket's ``data_received`` straight to the client transport,
with flow control (a slow client pauses reading from nginx), and idle keep-alive
connections to nginx are pooled. ``GET /__stats`` returns request and byte counters as
JSON (``POST /__reset`` clears them), which the harness records per run.

Run: ``python -m benchmarks.latency_proxy --upstream 127.0.0.1:PORT --port 0
--latency-ms 20``; the chosen port is printed as ``listening PORT`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
from dataclasses import dataclass, field
from typing import cast

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024


@dataclass
class Stats:
    """Counters since start or the last reset."""

    requests: int = 0
    bytes_out: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    header_requests: int = 0
    objects: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "bytes": self.bytes_out,
            "max_in_flight": self.max_in_flight,
            "distinct_objects": len(self.objects),
            "header_requests": self.header_requests,
        }


def _fields(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
    return lines[0], fields


def _no_delay(transport: asyncio.Transport) -> None:
    """Send small writes at once (TCP_NODELAY).

    A response goes out as its head and then its body, two writes; with Nagle's
    algorithm the body waits for the ACK of the head, which the client delays by up to
    40 ms, so every request would take two extra round trips' worth of time.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Upstream(asyncio.Protocol):
    """One keep-alive connection to nginx, relaying one response at a time."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.head = bytearray()
        self.remaining = -1  # body bytes still to relay; -1 while reading the head
        self.is_head = False
        self.keep_alive = True
        self.closed = False
        self.sock: socket.socket | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        _no_delay(self.transport)
        self.sock = self.transport.get_extra_info("socket")

    def start(self, client: Client, request: bytes, is_head: bool) -> None:
        """Send ``request`` and relay its response to ``client``."""
        assert self.transport is not None
        self.client, self.head, self.remaining, self.is_head = client, bytearray(), -1, is_head
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        if self.sock is not None:
            # ACK at once: Linux leaves quick-ACK mode on a busy keep-alive connection, and
            # a delayed ACK (40 ms) then stalls nginx after its first 64 KiB of a response
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        client = self.client
        if client is None:
            return
        if self.remaining < 0:
            self.head += data
            end = self.head.find(_HEAD_END)
            if end < 0:
                return
            head = bytes(self.head[: end + 4])
            rest = bytes(self.head[end + 4 :])
            _, fields = _fields(head)
            self.keep_alive = fields.get("connection", "").lower() != "close"
            self.remaining = 0 if self.is_head else int(fields.get("content-length", "0"))
            client.send(head)
            data = rest
        if data:
            part = data[: self.remaining]
            self.remaining -= len(part)
            self.proxy.stats.bytes_out += len(part)
            client.send(part)
        if self.remaining == 0:
            self.client = None
            self.proxy.release(self, reusable=self.keep_alive)
            client.response_done()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.client is not None:
            self.client.abort()
            self.client = None
        self.proxy.forget(self)


class Client(asyncio.Protocol):
    """One client connection: read a request, wait, forward, relay, repeat."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False
        self.upstream: Upstream | None = None
        self.pace_until = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.set_write_buffer_limits(high=4 << 20)
        _no_delay(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _MAX_HEAD and _HEAD_END not in self.buffer:
            self.abort()
            return
        self._next()

    def _next(self) -> None:
        if self.busy:
            return
        end = self.buffer.find(_HEAD_END)
        if end < 0:
            return
        head = bytes(self.buffer[: end + 4])
        del self.buffer[: end + 4]
        request_line, fields = _fields(head)
        method, _, rest = request_line.partition(" ")
        path = rest.split(" ")[0]
        if path in ("/__stats", "/__reset"):
            if path == "/__reset":
                self.proxy.stats = Stats()
            body = json.dumps(self.proxy.stats.as_dict()).encode()
            self.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            self._next()
            return
        self.busy = True
        stats = self.proxy.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        stats.objects.add(path)
        if fields.get("range", "").startswith("bytes=0-"):
            stats.header_requests += 1
        loop = asyncio.get_running_loop()
        loop.call_later(
            self.proxy.latency_s, lambda: loop.create_task(self._forward(head, method == "HEAD"))
        )

    async def _forward(self, head: bytes, is_head: bool) -> None:
        try:
            upstream = await self.proxy.acquire()
        except OSError:
            self.abort()
            return
        if self.transport is None or self.transport.is_closing():
            self.proxy.release(upstream, reusable=True)
            return
        self.upstream = upstream
        upstream.start(self, head, is_head)

    def send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        bandwidth = self.proxy.bandwidth
        if bandwidth > 0 and self.upstream is not None and self.upstream.transport is not None:
            # pace: stop reading from nginx for as long as these bytes take at the cap
            upstream = self.upstream.transport
            upstream.pause_reading()
            asyncio.get_running_loop().call_later(len(data) / bandwidth, upstream.resume_reading)

    def response_done(self) -> None:
        self.proxy.stats.in_flight -= 1
        self.upstream = None
        self.busy = False
        self._next()

    def pause_writing(self) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            if self.upstream.transport is not None:
                self.upstream.transport.abort()  # mid-response: the connection is unusable
            self.proxy.stats.in_flight -= 1
            self.upstream = None
        self.transport = None


class Proxy:
    """Shared state: upstream address, the idle pool, settings and counters."""

    def __init__(self, host: str, port: int, latency_s: float, bandwidth: float) -> None:
        self.host, self.port = host, port
        self.latency_s = latency_s
        self.bandwidth = bandwidth
        self.stats = Stats()
        self.idle: list[Upstream] = []

    async def acquire(self) -> Upstream:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: Upstream(self), self.host, self.port)
        return protocol

    def release(self, conn: Upstream, *, reusable: bool) -> None:
        if reusable and not conn.closed:
            self.idle.append(conn)
        elif conn.transport is not None:
            conn.transport.close()

    def forget(self, conn: Upstream) -> None:
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)


async def serve(args: argparse.Namespace) -> None:
    """Start the proxy and run until cancelled."""
    host, _, port = args.upstream.rpartition(":")
    bandwidth = args.bandwidth_mbps * 125_000  # Mbit/s -> bytes/s
    proxy = Proxy(host, int(port), args.latency_ms / 1000.0, bandwidth)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Client(proxy), "127.0.0.1", args.port, backlog=1024, reuse_port=True
    )
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="nginx host:port")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--bandwidth-mbps", type=float, default=0.0, help="per-connection cap, 0 = none"
    )
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(args))


if __name__ == "__main__":
    sys.exit(main())
