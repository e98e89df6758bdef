"""A loopback HTTP/1.1 proxy that adds cloud-like first-byte latency in front of nginx.

This kernel has no ``tc netem``, so latency is added at the HTTP level: every request
waits ``--latency-ms`` before it is forwarded, which is what a client sees from an object
store (time to first byte dominated by a round trip plus service time). An optional
per-connection bandwidth cap paces the body. Requests on one client connection are
served in order (HTTP/1.1 without pipelining), so concurrency comes from connections, as
with S3.

It is written on bare asyncio streams (uvloop when installed) rather than a web
framework, because the proxy must not be the bottleneck of the thing it measures: it
forwards each request over a pooled keep-alive connection to nginx and copies the body
through in large chunks. ``GET /__stats`` returns request and byte counters as JSON
(``POST /__reset`` clears them), which the harness records per run.

Run: ``python -m benchmarks.latency_proxy --upstream 127.0.0.1:PORT --port 0
--latency-ms 20``; the chosen port is printed as ``listening PORT`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass, field

_CHUNK = 1 << 20


@dataclass
class Stats:
    """Counters since start or the last reset."""

    requests: int = 0
    bytes_out: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    paths: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "bytes": self.bytes_out,
            "max_in_flight": self.max_in_flight,
            "distinct_objects": len(self.paths),
            "header_requests": self.paths.get("__range0__", 0),
        }


class Upstream:
    """A pool of keep-alive connections to nginx."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer = self.idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
        return await asyncio.open_connection(self.host, self.port, limit=_CHUNK)

    def release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append(conn)


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.strip()
    return lines[0], fields


async def _pace(writer: asyncio.StreamWriter, data: bytes, bandwidth: float) -> None:
    """Write ``data``; with a bandwidth cap (bytes/s), sleep so the rate is not exceeded."""
    if bandwidth <= 0:
        writer.write(data)
        await writer.drain()
        return
    step = max(16_384, int(bandwidth / 50))
    for i in range(0, len(data), step):
        part = data[i : i + step]
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(len(part) / bandwidth)


class Proxy:
    """The proxy server: latency, forwarding, counters."""

    def __init__(self, upstream: Upstream, latency_s: float, bandwidth: float) -> None:
        self.upstream = upstream
        self.latency_s = latency_s
        self.bandwidth = bandwidth
        self.stats = Stats()

    async def _control(self, request_line: str, writer: asyncio.StreamWriter) -> None:
        if request_line.startswith("POST /__reset"):
            self.stats = Stats()
        body = json.dumps(self.stats.as_dict()).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, fields = _headers(head)
                if " /__stats" in request_line or " /__reset" in request_line:
                    await self._control(request_line, writer)
                    continue
                await self._forward(head, request_line, fields, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _forward(
        self,
        head: bytes,
        request_line: str,
        fields: dict[str, str],
        writer: asyncio.StreamWriter,
    ) -> None:
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        path = request_line.split(" ")[1] if " " in request_line else ""
        stats.paths[path] = stats.paths.get(path, 0) + 1
        if fields.get("range", "").startswith("bytes=0-"):
            stats.paths["__range0__"] = stats.paths.get("__range0__", 0) + 1
        try:
            if self.latency_s > 0:
                await asyncio.sleep(self.latency_s)
            conn = await self.upstream.acquire()
            up_reader, up_writer = conn
            up_writer.write(head)
            await up_writer.drain()
            resp_head = await up_reader.readuntil(b"\r\n\r\n")
            _, resp_fields = _headers(resp_head)
            length = int(resp_fields.get("content-length", "0"))
            if request_line.startswith("HEAD "):
                length = 0
            writer.write(resp_head)
            remaining = length
            while remaining > 0:
                chunk = await up_reader.read(min(remaining, _CHUNK))
                if not chunk:
                    raise ConnectionResetError("upstream closed mid-body")
                remaining -= len(chunk)
                stats.bytes_out += len(chunk)
                await _pace(writer, chunk, self.bandwidth)
            await writer.drain()
            if resp_fields.get("connection", "").lower() == "close":
                up_writer.close()
            else:
                self.upstream.release(conn)
        finally:
            stats.in_flight -= 1


async def serve(args: argparse.Namespace) -> None:
    """Start the proxy and run until cancelled."""
    host, _, port = args.upstream.rpartition(":")
    proxy = Proxy(
        Upstream(host, int(port)), args.latency_ms / 1000.0, args.bandwidth_mbps * 125_000
    )
    server = await asyncio.start_server(
        proxy.handle, "127.0.0.1", args.port, limit=_CHUNK, backlog=1024
    )
    sock_port = server.sockets[0].getsockname()[1]
    print(f"listening {sock_port}", flush=True)
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
