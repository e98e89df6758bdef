"""nginx as a local cloud object store: Range, ETag and a JSON access log per request."""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from rasteret_sandbox.servers._process import (
    _LOCALHOST,
    LogEntry,
    ServerStartError,
    _http_ok,
    _require_binary,
    _Server,
    _spawn_on_free_port,
    _stop_process,
)

logger = logging.getLogger(__name__)

_NGINX_BARRIER = "/__rasteret_log_barrier"
"""A location that answers 204; requesting it proves earlier requests were logged."""

_ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
"""Debian's libnginx-mod-http-echo: its ``echo_sleep`` delays a request without blocking."""

_NGINX_CONF = """\
{modules}{user}worker_processes {workers};
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
        '"status":"$status","bytes":"$body_bytes_sent","end":"$msec","took":"$request_time"}}';
    access_log {tmp}/access.log rasteret;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    # TCP_CORK (tcp_nopush) stalls responses on reused connections for a delayed ACK
    # (about 40 ms each), which no object store does
    tcp_nopush off;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    etag on;
    server_tokens off;
    server {{
        listen {host}:{port} reuseport;
        root {root};
        disable_symlinks off;
        location = {barrier} {{ return 204; }}
{files}
    }}
}}
"""

_FILES_PLAIN = "        location / { try_files $uri =404; }"
_FILES_DELAYED = """\
        location / {{ echo_sleep {delay_s}; echo_exec @file; }}
        location @file {{ try_files $uri =404; }}"""
"""Files answered at once, or after a first-byte delay (then served by the same handler)."""


class NginxServer(_Server):
    """Debian's nginx-light serving ``root`` read-only, with Range, ETag and Last-Modified.

    nginx is the fastest honest stand-in for a cloud object store's HTTP endpoint (sendfile,
    keep-alive, RFC 7233 ranges built in). It runs unprivileged with a generated config whose
    pid, log and temp paths live in a private temp dir, so any number can run side by side.

    Each request is logged as one JSON line (method, URI, Range, status, bytes) to
    :attr:`access_log`; :meth:`requests` parses it so tests can count requests per file.

    With ``latency_ms`` every file request waits that long before nginx starts answering
    (echo_sleep from Debian's libnginx-mod-http-echo, a timer: no worker is blocked), which
    is how an object store looks from a client: time to first byte dominated by a round
    trip and service time, then the body at full speed. Doing it inside nginx rather than
    in a relaying proxy keeps the body on nginx's sendfile path, so a benchmark on a small
    machine does not pay a second copy of every byte on its own cores.

    Args:
        root: Directory served at ``/``; symlinks are followed.
        workers: nginx worker processes. One keeps log order equal to request order.
        latency_ms: First-byte delay added to every file request, in whole milliseconds
            (nginx timers have that resolution; 0: none).
    """

    def __init__(
        self,
        root: Path,
        *,
        workers: int = 1,
        latency_ms: float = 0.0,
    ) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms!r}")
        self.root = Path(root).resolve()
        self.workers = workers
        self.latency_ms = latency_ms
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
        self._tmp = tmp = Path(tempfile.mkdtemp(prefix="rasteret-nginx-"))
        # When the master runs as root its workers would drop to 'nobody', which cannot read
        # pytest's 0700 temp dirs; keep them as the current user instead.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        modules, files = self._files_config()
        conf = tmp / "nginx.conf"
        log = tmp / "error.log"

        def argv(port: int) -> list[str]:
            conf.write_text(
                _NGINX_CONF.format(
                    modules=modules,
                    files=files,
                    user=user,
                    workers=self.workers,
                    tmp=tmp,
                    host=_LOCALHOST,
                    port=port,
                    root=self.root,
                    barrier=_NGINX_BARRIER,
                )
            )
            return [binary, "-p", str(tmp), "-c", str(conf), "-e", str(log)]

        try:
            # SIGQUIT is nginx's graceful stop: workers finish in-flight requests first.
            self.port, self._proc = _spawn_on_free_port(
                argv,
                lambda port: _http_ok(f"http://{_LOCALHOST}:{port}{_NGINX_BARRIER}", 0.5),
                what="nginx",
                log=log,
                timeout_s=10.0,
                stop_signal=signal.SIGQUIT,
            )
        except BaseException:
            self._cleanup_tmp()
            raise
        logger.info("nginx serving %s at %s", self.root, self.url)

    def _files_config(self) -> tuple[str, str]:
        """The ``load_module`` line (or nothing) and the locations that serve files."""
        if not self.latency_ms:
            return "", _FILES_PLAIN
        if not _ECHO_MODULE.is_file():
            raise ServerStartError(
                f"a first-byte delay needs nginx's echo module ({_ECHO_MODULE}); install the "
                "Debian package libnginx-mod-http-echo"
            )
        delay = _FILES_DELAYED.format(delay_s=f"{self.latency_ms / 1000:.3f}")
        return f"load_module {_ECHO_MODULE};\n", delay

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
                finished_s=float(raw["end"]),
                duration_s=float(raw["took"]),
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
