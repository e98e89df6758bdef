"""Real local servers that stand in for the cloud: nginx, an aiohttp range server, moto S3, pgstac.

The machines that run the tests have no internet, yet the code under test talks HTTP, S3 and
the STAC API. Every stand-in here is a real server listening on ``127.0.0.1`` with a free port,
so the client code runs exactly as it would against the cloud (real sockets, real Range
requests, real paging). Each class is a context manager: entering starts the server and waits
until it answers, leaving stops it by PID (terminate, then kill) and removes its temp files. A
server that fails to start raises :class:`ServerStartError` carrying the tail of its log, since
"timed out" alone never says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import os
import posixpath
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "LogEntry",
    "MotoS3Server",
    "NginxServer",
    "RangeServer",
    "ServerStartError",
    "StacApiServer",
]

logger = logging.getLogger(__name__)

_LOCALHOST = "127.0.0.1"
_START_TIMEOUT_S = 60.0
"""How long a server may take to answer before start() gives up (pgstac needs the most)."""
_STOP_TIMEOUT_S = 10.0
"""How long a process may take to exit after SIGTERM before it is killed."""
_PG_BIN = Path("/usr/lib/postgresql/15/bin")
"""Where Debian's postgresql-15 package puts initdb, pg_ctl and postgres."""


class ServerStartError(RuntimeError):
    """A local server did not come up; the message ends with the tail of its log."""


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One request as a server saw it, so tests can count requests per file."""

    method: str
    """HTTP method (GET, HEAD, ...)."""
    uri: str
    """Request target as sent, query string included."""
    range: str | None
    """The Range header, or None when the request had none."""
    status: int
    """HTTP status code of the response."""
    bytes_sent: int
    """Body bytes sent."""

    @property
    def path(self) -> str:
        """The URI without its query string."""
        return self.uri.split("?", 1)[0]


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """Ask the kernel for a currently unused TCP port on 127.0.0.1.

    The port is released before the server binds it, so another process can win the race;
    servers that spawn a process therefore retry start-up on a bind failure.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, limit: int = 4000) -> str:
    """Return the end of a log file, or a note that there is none."""
    try:
        data = path.read_bytes()
    except OSError:
        return f"(no log at {path})"
    return data[-limit:].decode("utf-8", "replace")


def _wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    proc: subprocess.Popen[bytes] | None = None,
    what: str,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it returns True; fail early if ``proc`` exits meanwhile."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            tail = _log_tail(log) if log is not None else ""
            raise ServerStartError(f"{what} exited with code {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            tail = _log_tail(log) if log is not None else ""
            raise ServerStartError(f"{what} not ready after {timeout_s:.0f} s:\n{tail}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def _http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Tell whether ``url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 (local URL)
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError):
        return False


def _stop_process(proc: subprocess.Popen[bytes] | None, *, sig: int = signal.SIGTERM) -> None:
    """Stop a process we started: ``sig`` first, SIGKILL to its process group if it lingers.

    Every child is started in its own session, so the group id equals its PID and killing
    the group reaches its workers (nginx) without touching anything we did not start.
    """
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        logger.warning("pid %d ignored signal %d; killing its process group", proc.pid, sig)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=_STOP_TIMEOUT_S)
    # Workers that outlived their master (after a SIGKILL) are in the same group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _require_binary(path: str | Path, package: str) -> str:
    """Return the binary's path or fail loudly, naming the package that provides it."""
    # Debian installs daemons in /usr/sbin, which is not on a normal user's PATH.
    found = shutil.which(str(path)) or shutil.which(str(path), path="/usr/sbin:/sbin")
    if found is None:
        raise ServerStartError(f"{path} not found: install the Debian package {package!r}")
    return found


class _Server:
    """Context-manager plumbing shared by all servers: ``with X(...) as srv`` starts it."""

    def start(self) -> None:
        """Start the server and block until it answers."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server and remove its temporary files; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- nginx

_NGINX_BARRIER = "/__rasteret_log_barrier"
"""A location that answers 204; requesting it proves earlier requests were logged."""

_NGINX_CONF = """\
{user}worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{
        image/tiff tif tiff;
        application/json json;
        application/geo+json geojson;
        application/x-ndjson ndjson;
        application/xml xml;
        text/plain txt;
        image/jpeg jpg jpeg;
        image/png png;
    }}
    default_type application/octet-stream;
    log_format rasteret escape=json
        '{{"method":"$request_method","uri":"$request_uri","range":"$http_range",'
        '"status":"$status","bytes":"$body_bytes_sent"}}';
    access_log {tmp}/access.log rasteret;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    etag on;
    server_tokens off;
    server {{
        listen {host}:{port} reuseport;
        root {root};
        disable_symlinks off;
        location = {barrier} {{ return 204; }}
        location / {{ try_files $uri =404; }}
    }}
}}
"""


class NginxServer(_Server):
    """Debian's nginx-light serving ``root`` read-only, with Range, ETag and Last-Modified.

    nginx is the fastest honest stand-in for a cloud object store's HTTP endpoint (sendfile,
    keep-alive, RFC 7233 ranges built in). It runs unprivileged with a generated config whose
    pid, log and temp paths live in a private temp dir, so any number can run side by side.

    Each request is logged as one JSON line (method, URI, Range, status, bytes) to
    :attr:`access_log`; :meth:`requests` parses it so tests can count requests per file.

    Args:
        root: Directory served at ``/``; symlinks are followed.
        workers: nginx worker processes. One keeps log order equal to request order.
    """

    def __init__(self, root: Path, *, workers: int = 1) -> None:
        self.root = Path(root).resolve()
        self.workers = workers
        self.port: int | None = None
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:41234``."""
        if self.port is None:
            raise RuntimeError("NginxServer is not running")
        return f"http://{_LOCALHOST}:{self.port}"

    @property
    def access_log(self) -> Path:
        """The JSON-lines access log (one object per request)."""
        if self._tmp is None:
            raise RuntimeError("NginxServer is not running")
        return self._tmp / "access.log"

    def start(self) -> None:
        """Start nginx on a free port (retrying if another process grabs it first)."""
        binary = _require_binary("nginx", "nginx-light")
        if not self.root.is_dir():
            raise ServerStartError(f"nginx root {self.root} is not a directory")
        self._tmp = Path(tempfile.mkdtemp(prefix="rasteret-nginx-"))
        # When the master runs as root its workers would drop to 'nobody', which cannot read
        # pytest's 0700 temp dirs; keep them as the current user instead.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        last_error: ServerStartError | None = None
        for _attempt in range(5):
            port = free_port()
            conf = self._tmp / "nginx.conf"
            conf.write_text(
                _NGINX_CONF.format(
                    user=user,
                    workers=self.workers,
                    tmp=self._tmp,
                    host=_LOCALHOST,
                    port=port,
                    root=self.root,
                    barrier=_NGINX_BARRIER,
                )
            )
            log = self._tmp / "error.log"
            with log.open("ab") as err:
                self._proc = subprocess.Popen(
                    [binary, "-p", str(self._tmp), "-c", str(conf), "-e", str(log)],
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    start_new_session=True,
                )
            barrier = f"http://{_LOCALHOST}:{port}{_NGINX_BARRIER}"
            try:
                _wait_until(
                    lambda url=barrier: _http_ok(url, 0.5),  # type: ignore[misc]
                    timeout_s=10.0,
                    proc=self._proc,
                    what="nginx",
                    log=log,
                )
            except ServerStartError as err:
                last_error = err
                _stop_process(self._proc, sig=signal.SIGQUIT)
                self._proc = None
                if "Address already in use" in str(err):
                    continue
                break
            self.port = port
            logger.info("nginx serving %s at %s", self.root, self.url)
            return
        self._cleanup_tmp()
        raise last_error or ServerStartError("nginx did not start")

    def stop(self) -> None:
        """Stop nginx (SIGQUIT lets workers finish in-flight requests) and remove its files."""
        _stop_process(self._proc, sig=signal.SIGQUIT)
        self._proc = None
        self.port = None
        self._cleanup_tmp()

    def _cleanup_tmp(self) -> None:
        """Remove the private config/log/temp dir."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _sync_log(self, timeout_s: float = 5.0) -> None:
        """Make sure every request answered so far is in the access log.

        nginx writes the log line in its log phase, just after the response went out, so a
        client can see its response before the line exists. Sending one more request and
        waiting for *its* line closes that window: the single worker handles events in order.
        """
        token = uuid.uuid4().hex
        if not _http_ok(f"{self.url}{_NGINX_BARRIER}?{token}"):
            raise RuntimeError("nginx did not answer the log barrier request")
        deadline = time.monotonic() + timeout_s
        while token not in self.access_log.read_text(encoding="utf-8", errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError("nginx access log did not show the barrier request")
            time.sleep(0.005)

    def requests(self, path_substring: str | None = None) -> list[LogEntry]:
        """Parse the access log (after syncing it) into entries, oldest first.

        Args:
            path_substring: Keep only requests whose path contains this text.

        Returns:
            The matching entries; the internal barrier requests are left out.
        """
        self._sync_log()
        entries = []
        for line in self.access_log.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            raw = json.loads(line)
            entry = LogEntry(
                method=raw["method"],
                uri=raw["uri"],
                range=raw["range"] or None,
                status=int(raw["status"]),
                bytes_sent=int(raw["bytes"]),
            )
            if entry.path == _NGINX_BARRIER:
                continue
            if path_substring is None or path_substring in entry.path:
                entries.append(entry)
        return entries

    def clear_log(self) -> None:
        """Forget the requests logged so far (nginx appends, so truncation is safe)."""
        self._sync_log()
        with self.access_log.open("r+b") as fh:
            fh.truncate(0)


# --------------------------------------------------------------------------- aiohttp


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


# --------------------------------------------------------------------------- moto S3

_DUMMY_KEY = "x"
"""moto accepts any credentials; these placeholders keep botocore and obstore signing."""


class MotoS3Server(_Server):
    """moto's S3 API in a thread on 127.0.0.1, for code paths that speak ``s3://``.

    It is slow (hundreds of requests per second), so use it for correctness, not timing.
    moto keeps its buckets in process-global state: two servers in one process share them.
    """

    region = "us-east-1"

    def __init__(self) -> None:
        self._server: Any = None
        self.port: int | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL, e.g. ``http://127.0.0.1:40123``."""
        if self.port is None:
            raise RuntimeError("MotoS3Server is not running")
        return f"http://{_LOCALHOST}:{self.port}"

    def start(self) -> None:
        """Start the threaded server on an ephemeral port and wait until S3 answers."""
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 (test-only dependency)

        self._server = ThreadedMotoServer(ip_address=_LOCALHOST, port=0, verbose=False)
        self._server.start()
        self.port = int(self._server.get_host_and_port()[1])
        try:
            _wait_until(self._ping, timeout_s=_START_TIMEOUT_S, what="moto S3 server")
        except ServerStartError:
            self.stop()
            raise

    def _ping(self) -> bool:
        """Tell whether ListBuckets succeeds."""
        try:
            self.client().list_buckets()
        except Exception:  # noqa: BLE001 (any failure means "not ready yet")
            return False
        return True

    def stop(self) -> None:
        """Shut the werkzeug server down and join its thread."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.port = None

    def client(self) -> Any:
        """A boto3 S3 client for this server with dummy credentials."""
        import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 (test-only dependency)

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=_DUMMY_KEY,
            aws_secret_access_key=_DUMMY_KEY,
            region_name=self.region,
        )

    def create_bucket(self, name: str, *, public_read: bool = False) -> None:
        """Create a bucket; ``public_read`` adds a policy that lets unsigned requests read it.

        Anonymous clients (obstore ``skip_signature=True``) need the policy, as on AWS.
        """
        client = self.client()
        client.create_bucket(Bucket=name)
        if public_read:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicRead",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                    }
                ],
            }
            client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))

    def upload_tree(self, bucket: str, root: Path, *, prefix: str = "") -> list[str]:
        """Upload every file under ``root`` (symlinks followed) keyed by its relative path.

        Returns:
            The object keys written, sorted.
        """
        client = self.client()
        root = Path(root)
        keys = []
        for path in sorted(_walk_files(root)):
            key = prefix + path.relative_to(root).as_posix()
            client.upload_file(str(path), bucket, key)
            keys.append(key)
        return keys


def _walk_files(root: Path) -> Iterator[Path]:
    """Yield regular files under ``root``, following symlinked files and directories."""
    for dirpath, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            path = Path(dirpath) / name
            if path.is_file():
                yield path


# --------------------------------------------------------------------------- pgstac


class StacApiServer(_Server):
    """A real STAC API: PostgreSQL 15 + PostGIS + pgstac, served by stac-fastapi-pgstac.

    This is the implementation behind large public STAC APIs, so paging, ``query``, CQL2,
    bbox and datetime behave as they do in production. The cluster is private (its own
    data dir, port and socket dir), runs with durability off (fsync, synchronous commit,
    full page writes) because it lives for one test session, and is removed on stop.

    PostgreSQL refuses to run as root; when we are root, the cluster's commands run as the
    ``postgres`` user and its data dir lives in a fresh temp dir that user owns (pytest's
    temp dirs are private to root, so ``workdir`` only holds the API log and load files).

    Args:
        workdir: Directory for logs; created if missing.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.pg_port: int | None = None
        self.port: int | None = None
        self.startup_s: float | None = None
        """Seconds the last start() took, for reports."""
        self._pg_dir: Path | None = None
        self._pg_started = False
        self._api: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The STAC API root URL (landing page), without a trailing slash."""
        if self.port is None:
            raise RuntimeError("StacApiServer is not running")
        return f"http://{_LOCALHOST}:{self.port}"

    @property
    def dsn(self) -> str:
        """A libpq URL for the pgstac database (superuser, trust auth)."""
        if self.pg_port is None:
            raise RuntimeError("StacApiServer is not running")
        return f"postgresql://postgres@{_LOCALHOST}:{self.pg_port}/postgres"

    @property
    def api_log(self) -> Path:
        """stdout/stderr of uvicorn."""
        return self.workdir / "stac-api.log"

    def start(self) -> None:
        """Create the cluster, migrate pgstac and start the API; about 3 s warm."""
        t0 = time.perf_counter()
        for tool in ("initdb", "pg_ctl", "postgres"):
            _require_binary(_PG_BIN / tool, "postgresql-15-postgis-3")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_postgres()
            self._migrate()
            self._start_api()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.perf_counter() - t0
        logger.info("STAC API at %s ready in %.1f s", self.url, self.startup_s)

    # -- postgres

    def _as_pg_user(self, argv: list[str]) -> list[str]:
        """Prefix a command so it runs as ``postgres`` when we are root."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _run(self, argv: list[str], what: str, log: Path) -> None:
        """Run a setup command, raising ServerStartError with its output on failure."""
        with log.open("ab") as out:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False
            )
        if proc.returncode != 0:
            raise ServerStartError(f"{what} failed with code {proc.returncode}:\n{_log_tail(log)}")

    def _start_postgres(self) -> None:
        """Create a throwaway cluster and start it on a free port (retrying on a port clash)."""
        # /dev/shm keeps the cluster in memory when it exists; durability is off anyway.
        base = "/dev/shm" if Path("/dev/shm").is_dir() else None
        self._pg_dir = Path(tempfile.mkdtemp(prefix="rasteret-pg-", dir=base))
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self._pg_dir, pg.pw_uid, pg.pw_gid)
        data = self._pg_dir / "data"
        log = self._pg_dir / "postgres.log"
        setup_log = self.workdir / "initdb.log"
        self._run(
            self._as_pg_user(
                [
                    str(_PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ]
            ),
            "initdb",
            setup_log,
        )
        for _attempt in range(5):
            port = free_port()
            options = (
                f"-c listen_addresses={_LOCALHOST} -p {port} -k {self._pg_dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=100 -c dynamic_shared_memory_type=mmap"
            )
            argv = self._as_pg_user(
                [
                    str(_PG_BIN / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "30",
                    "start",
                ]
            )
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
            if proc.returncode == 0:
                self.pg_port = port
                self._pg_started = True
                return
            tail = _log_tail(log)
            if "already in use" not in tail:
                raise ServerStartError(
                    f"pg_ctl start failed ({proc.returncode}): "
                    f"{proc.stderr.decode(errors='replace')}\n{tail}"
                )
        raise ServerStartError(f"PostgreSQL found no free port:\n{_log_tail(log)}")

    def _migrate(self) -> None:
        """Install the pgstac schema (creates PostGIS and the pgstac roles)."""
        from pypgstac.db import PgstacDB  # noqa: PLC0415 (test-only dependency)
        from pypgstac.migrate import Migrate  # noqa: PLC0415

        with PgstacDB(dsn=self.dsn) as db:
            Migrate(db).run_migration()
            # Report numberMatched like Earth Search does (pgstac's default is off).
            db.query_one(
                "INSERT INTO pgstac.pgstac_settings (name, value) VALUES ('context', 'on') "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value RETURNING name"
            )

    # -- API

    def _api_env(self) -> dict[str, str]:
        """Environment for uvicorn: the PG* names stac-fastapi-pgstac 7.2 settings read."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES_"))}
        env.update(
            PGUSER="postgres",
            PGPASSWORD="unused",  # required by the settings model; trust auth ignores it
            PGHOST=_LOCALHOST,
            PGPORT=str(self.pg_port),
            PGDATABASE="postgres",
            DB_MIN_CONN_SIZE="1",
            DB_MAX_CONN_SIZE="10",
            ENABLE_RESPONSE_MODELS="false",
        )
        return env

    def _start_api(self) -> None:
        """Start uvicorn with the app factory and poll /collections until it answers."""
        for _attempt in range(5):
            port = free_port()
            with self.api_log.open("ab") as out:
                self._api = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "stac_fastapi.pgstac.app:create_app",
                        "--factory",
                        "--host",
                        _LOCALHOST,
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                    ],
                    cwd=self.workdir,  # the settings also read a .env file from the cwd
                    env=self._api_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            url = f"http://{_LOCALHOST}:{port}/collections"
            try:
                _wait_until(
                    lambda url=url: _http_ok(url),  # type: ignore[misc]
                    timeout_s=_START_TIMEOUT_S,
                    proc=self._api,
                    what="stac-fastapi-pgstac (uvicorn)",
                    log=self.api_log,
                )
            except ServerStartError as err:
                _stop_process(self._api)
                self._api = None
                if "address already in use" in str(err).lower():
                    continue
                raise
            self.port = port
            return
        raise ServerStartError(f"uvicorn found no free port:\n{_log_tail(self.api_log)}")

    # -- loading

    def load_collections(self, collections: Iterable[Mapping[str, Any]]) -> None:
        """Upsert collection dicts (must precede their items: pgstac partitions by collection)."""
        from pypgstac.db import PgstacDB  # noqa: PLC0415
        from pypgstac.load import Loader, Methods  # noqa: PLC0415

        with PgstacDB(dsn=self.dsn) as db:
            Loader(db).load_collections(iter([dict(c) for c in collections]), Methods.upsert)

    def load_items(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Upsert item dicts; their collections must already be loaded."""
        from pypgstac.db import PgstacDB  # noqa: PLC0415
        from pypgstac.load import Loader, Methods  # noqa: PLC0415

        with PgstacDB(dsn=self.dsn) as db:
            Loader(db).load_items(iter([dict(i) for i in items]), Methods.upsert)

    # -- stop

    def stop(self) -> None:
        """Terminate uvicorn, stop PostgreSQL with ``-m fast`` and delete the cluster."""
        _stop_process(self._api)
        self._api = None
        self.port = None
        if self._pg_started and self._pg_dir is not None:
            argv = self._as_pg_user(
                [
                    str(_PG_BIN / "pg_ctl"),
                    "-D",
                    str(self._pg_dir / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ]
            )
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
            if proc.returncode != 0:
                logger.warning("pg_ctl stop failed: %s", proc.stderr.decode(errors="replace"))
                self._kill_postmaster()
            self._pg_started = False
        self.pg_port = None
        if self._pg_dir is not None:
            shutil.rmtree(self._pg_dir, ignore_errors=True)
            self._pg_dir = None

    def _kill_postmaster(self) -> None:
        """Last resort after a failed ``pg_ctl stop``: SIGKILL the PID in postmaster.pid."""
        assert self._pg_dir is not None
        pid_file = self._pg_dir / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError, ProcessLookupError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
