"""Process plumbing shared by the local servers: ports, readiness polling, stopping, errors.

Every server binds ``127.0.0.1`` on a free port, polls until it answers and, when it
fails to come up, raises :class:`ServerStartError` with the tail of its log. The
pick-a-port, start, retry-on-a-clash loop lives once here (:func:`_on_free_port`,
:func:`_spawn_on_free_port`) so every server handles the port race the same way. Children are
started in their own session and stopped by PID (signal, then SIGKILL to the group).
:class:`LogEntry` is the request record that the HTTP servers hand to tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

logger = logging.getLogger(__name__)

_LOCALHOST = "127.0.0.1"
_START_TIMEOUT_S = 60.0
"""How long a server may take to answer before start() gives up (pgstac needs the most)."""
_STOP_TIMEOUT_S = 10.0
"""How long a process may take to exit after SIGTERM before it is killed."""
_PORT_ATTEMPTS = 5
"""How many fresh ports a server tries before it gives up on a port clash."""

_T = TypeVar("_T")


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
    finished_s: float | None = None
    """Unix time the response was finished, where the server logs it (nginx)."""
    duration_s: float | None = None
    """Seconds from the request's first byte to the response's end, where logged (nginx)."""

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


def _is_port_clash(err: ServerStartError) -> bool:
    """Tell whether a start failed because another process bound the port first."""
    return "address already in use" in str(err).lower()


def _on_free_port(
    start: Callable[[int], _T],
    *,
    attempts: int = _PORT_ATTEMPTS,
    retry: Callable[[ServerStartError], bool] = _is_port_clash,
) -> tuple[int, _T]:
    """Run ``start(port)`` on a fresh free port until it succeeds; return the port and result.

    :func:`free_port` releases the port before the server binds it, so another process can
    take it in between. ``start`` raises :class:`ServerStartError` when the server did not
    come up; a failure that ``retry`` accepts (by default a port clash) is tried again on
    a new port, any other propagates at once. ``start`` must clean up after itself before
    raising, since the next attempt starts from scratch.

    Raises:
        ServerStartError: A failure ``retry`` rejects, or the last one after ``attempts``.
    """
    last: ServerStartError | None = None
    for _attempt in range(attempts):
        port = free_port()
        try:
            return port, start(port)
        except ServerStartError as err:
            if not retry(err):
                raise
            last = err
    raise last or ServerStartError(f"no attempt to start on a free port ({attempts=})")


def _spawn_on_free_port(
    argv: Callable[[int], Sequence[str]],
    ready: Callable[[int], bool],
    *,
    what: str,
    log: Path,
    timeout_s: float,
    stop_signal: int = signal.SIGTERM,
    attempts: int = _PORT_ATTEMPTS,
    retry: Callable[[ServerStartError], bool] = _is_port_clash,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, subprocess.Popen[bytes]]:
    """Start the process ``argv(port)`` on a free port and wait until ``ready(port)``.

    The child gets its own session (so :func:`_stop_process` can reach its workers) and
    appends its output to ``log``, whose tail ends any :class:`ServerStartError`. A child
    that exits or does not answer within ``timeout_s`` is stopped with ``stop_signal``
    before the next attempt, so a failed start never leaves a process behind.

    Args:
        argv: The command line for a port (may write a config file for it first).
        ready: Whether the server on that port answers yet.
        what: The server's name in error messages.
        log: File the child's stdout and stderr are appended to.
        timeout_s: How long one attempt may take to become ready.
        stop_signal: The signal that stops this server cleanly (see :func:`_stop_process`).
        attempts: How many ports to try.
        retry: Which start failures are worth another port (see :func:`_on_free_port`).
        cwd: Working directory of the child (default: ours).
        env: Environment of the child (default: ours).

    Returns:
        The port and the running process.
    """

    def start(port: int) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(argv(port)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                cwd=cwd,
                env=env,
            )
        try:
            _wait_until(lambda: ready(port), timeout_s=timeout_s, proc=proc, what=what, log=log)
        except BaseException:  # also on Ctrl-C: the caller never saw this process
            _stop_process(proc, sig=stop_signal)
            raise
        return proc

    return _on_free_port(start, attempts=attempts, retry=retry)


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
