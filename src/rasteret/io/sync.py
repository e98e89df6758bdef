"""The one sync bridge: every blocking rasteret API runs its coroutine here.

A single daemon thread owns a single event loop (uvloop's where installed, see
:func:`new_loop`), started on first use.
:func:`run_sync` submits a coroutine to it and blocks the calling thread until the
result is ready. Because the work never runs on the caller's loop, the same call
works from a plain script and from inside Jupyter (whose loop is already running in
the calling thread) without ``nest_asyncio`` and without deadlocking.

Interpreter exit: obstore 0.12.1 runs requests on tokio worker threads that take
the GIL briefly *after* the awaiting Python future has completed (to hand over the
result and drop their task-local references to the event loop). If the interpreter
is already finalising at that moment, CPython ends the thread with
``pthread_exit``, whose forced unwind cannot cross Rust frames, and the process
aborts (SIGABRT, exit 134). Measured here, with a script reading a local file and
an HTTP server concurrently: 3 of 100 runs aborted through :func:`run_sync` and 3
of 100 under ``asyncio.run`` without this hook; 0 of 100 each with it (the test
``tests/io/test_io_sync.py`` re-checks 30 runs per mode). The ``atexit`` hook
below therefore (1) cancels and drains every task on the bridge loop, so no obstore
future is left in flight, (2) stops and joins the thread and closes the loop,
(3) runs the registered shutdown callbacks (backends drop their stores) and a
``gc.collect()``, and (4) if native async I/O was used at all in this process,
releases the GIL for a short grace period so tokio threads finish their hand-over
while the interpreter is still fully alive. Even 1 ms removed the aborts in
measurements; :data:`EXIT_GRACE_S` leaves a wide margin for loaded machines.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import gc
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from rasteret.errors import UnsupportedReadError

__all__ = ["EXIT_GRACE_S", "mark_native_io", "on_bridge", "on_shutdown", "run_sync", "shutdown"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

EXIT_GRACE_S = 0.05
"""Seconds the exit hook releases the GIL after native async I/O (see module doc)."""

_DRAIN_TIMEOUT_S = 5.0
_CANCEL_WAIT_S = 2.0
_POLL_S = 0.1


class _Escaped(Exception):  # noqa: N818 - a carrier, not an error of its own
    """Carries a KeyboardInterrupt/SystemExit raised inside a coroutine.

    If one escaped a task, asyncio would re-raise it out of ``run_forever`` and kill
    the bridge thread; wrapped, it travels back to the caller like any result.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


async def _guarded(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return await coro
    except (KeyboardInterrupt, SystemExit) as err:
        raise _Escaped(err) from err


class _Job(Generic[T]):
    """One coroutine submitted from a caller thread, with its outcome.

    Unlike ``asyncio.run_coroutine_threadsafe``, the caller holds the job *before*
    it is scheduled, so a Ctrl-C that lands at any moment (even inside the
    submission itself) can still cancel the task.
    """

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro
        self._task: asyncio.Task[T] | None = None
        self._cancel_requested = False
        self._result: T | None = None
        self._error: BaseException | None = None
        self.done = threading.Event()

    def start(self) -> None:
        """Run on the bridge loop: start the coroutine as a task."""
        if self._cancel_requested:
            return
        self._task = asyncio.ensure_future(_guarded(self._coro))
        self._task.add_done_callback(self._finish)

    def cancel(self) -> None:
        """Run on the bridge loop: cancel the task, or make sure it never starts."""
        self._cancel_requested = True
        if self._task is not None:
            self._task.cancel()
            return
        self._coro.close()
        self._error = concurrent.futures.CancelledError()
        self.done.set()

    def _finish(self, task: asyncio.Task[T]) -> None:
        if task.cancelled():
            self._error = concurrent.futures.CancelledError()
        elif (error := task.exception()) is not None:
            self._error = error.error if isinstance(error, _Escaped) else error
        else:
            self._result = task.result()
        self.done.set()

    def outcome(self) -> T:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]  # T may itself be None


class _Bridge:
    """One event loop on one daemon thread, created lazily and torn down at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._finalizing = False

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._finalizing:
                raise RuntimeError("rasteret's I/O loop is shut down (interpreter exiting)")
            if self._thread is not None and not self._thread.is_alive():
                logger.warning("rasteret I/O thread died; starting a new one")
                self._loop = self._thread = None
            if self._loop is None:
                loop = new_loop()
                started = threading.Event()
                thread = threading.Thread(
                    target=_run_loop, args=(loop, started), name="rasteret-io", daemon=True
                )
                thread.start()
                started.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def in_bridge_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def stop(self, *, final: bool) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            self._finalizing = self._finalizing or final
        if loop is None or thread is None:
            return
        if thread is threading.current_thread():
            raise RuntimeError("rasteret.io.sync.shutdown() cannot run on the I/O loop itself")
        drain = asyncio.run_coroutine_threadsafe(_drain(), loop)
        try:
            drain.result(_DRAIN_TIMEOUT_S)
        except (concurrent.futures.TimeoutError, RuntimeError) as err:
            logger.warning("rasteret I/O loop did not drain cleanly: %r", err)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_DRAIN_TIMEOUT_S)
        if thread.is_alive():  # a callback is blocking the loop; leave it to the OS
            logger.warning("rasteret I/O thread did not stop within %.0f s", _DRAIN_TIMEOUT_S)
            return
        loop.close()


def new_loop() -> asyncio.AbstractEventLoop:
    """The bridge's event loop: uvloop's where it is installed, else asyncio's own.

    Every range request crosses between obstore's tokio threads and this loop twice
    (response head, then body), and the loop also hands each tile to the decode pool,
    so its per-callback cost adds up on reads of many small files: 1,024 of them at
    20 ms took 0.55 s on uvloop against 0.63 s on asyncio's loop (medians of 6, on
    2 cores). ``RASTERET_EVENT_LOOP=asyncio`` picks asyncio's loop anyway.
    """
    if os.environ.get("RASTERET_EVENT_LOOP", "").strip().lower() != "asyncio":
        try:
            import uvloop  # noqa: PLC0415 - only when the bridge starts (1.6 ms)
        except ImportError:  # not installed (Windows has none): asyncio's loop
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _run_loop(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    loop.run_forever()


async def _drain() -> None:
    """Cancel every other task and wait for them, so no native future stays in flight."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


_BRIDGE = _Bridge()
_shutdown_callbacks: list[weakref.WeakMethod[Callable[[], None]]] = []
_callbacks_lock = threading.Lock()
_native_io_used = False


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the bridge loop and return its result (or raise its error).

    Safe to call from any thread, including one whose own event loop is running
    (Jupyter): that loop is merely blocked while ``coro`` runs on the bridge thread,
    so ``coro`` must not await objects bound to the caller's loop. A
    ``KeyboardInterrupt`` while waiting cancels ``coro`` (its pending requests are
    dropped) before being re-raised.

    Raises:
        RuntimeError: Called from a coroutine already running on the bridge loop;
            that would wait on itself forever. Await the ``*_async`` twin instead.
    """
    if _BRIDGE.in_bridge_thread():
        coro.close()
        raise RuntimeError(
            "run_sync() was called from rasteret's own I/O loop and would deadlock; "
            "await the *_async variant instead"
        )
    loop = _BRIDGE.loop()
    job = _Job(coro)
    try:
        loop.call_soon_threadsafe(job.start)
        # Wait in slices: a blocked lock wait is not woken by a signal that lands on
        # another thread (or by _thread.interrupt_main), so Ctrl-C would otherwise go
        # unnoticed until the work finished.
        while not job.done.wait(_POLL_S):
            pass
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(job.cancel)
        # Let the cancellation land so native requests are dropped now, not at exit.
        job.done.wait(_CANCEL_WAIT_S)
        raise
    return job.outcome()


async def on_bridge(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` running on the bridge loop, from whichever loop the caller is on.

    The ``*_async`` reads use this, so a read's hundreds of per-response callbacks run
    on rasteret's own thread rather than on the caller's loop: the caller's loop stays
    free for its own work (a web server, a notebook's kernel), and reads awaited from
    different loops or threads still share one pending-bytes budget and one set of
    in-flight tiles. ``coro`` must not await objects bound to the caller's loop.
    Cancelling the awaiting task cancels ``coro``.
    """
    if _BRIDGE.in_bridge_thread():
        return await coro
    future = asyncio.run_coroutine_threadsafe(_guarded(coro), _BRIDGE.loop())
    try:
        return await asyncio.wrap_future(future)
    except _Escaped as escaped:
        raise escaped.error from None


def mark_native_io() -> None:
    """Record that native (Rust) async I/O runs now, so exit waits for its threads.

    Called before every obstore request; see :func:`check_native_runtime`.

    Raises:
        UnsupportedReadError: This process was forked after its parent's native I/O.
    """
    global _native_io_used  # noqa: PLW0603 - one process-wide fact, written once
    check_native_runtime()
    _native_io_used = True


def check_native_runtime() -> None:
    """Refuse native I/O in a process forked after its parent had made some.

    obstore keeps one global Tokio runtime whose threads do not survive ``fork()``: any
    request in such a child would wait forever, so it fails at once instead.

    Raises:
        UnsupportedReadError: This process was forked after its parent's native I/O.
    """
    if _inherited_native_runtime:
        raise UnsupportedReadError(
            "this process was forked after its parent had read with obstore, whose "
            "native runtime does not survive fork(); start workers with the 'spawn' or "
            "'forkserver' method (multiprocessing.get_context, or a DataLoader's "
            "multiprocessing_context), or fork before the parent's first read"
        )


def _after_fork_in_child() -> None:
    global _inherited_native_runtime  # noqa: PLW0603 - a per-process fact set at fork
    _inherited_native_runtime = _native_io_used


_inherited_native_runtime = False
os.register_at_fork(after_in_child=_after_fork_in_child)


def on_shutdown(callback: Callable[[], None]) -> None:
    """Call bound method ``callback`` at exit, after the loop has drained.

    Only a weak reference is kept, so registering an object does not keep it alive.
    Backends use this to drop their stores while the interpreter is still intact.
    """
    with _callbacks_lock:
        _shutdown_callbacks[:] = [ref for ref in _shutdown_callbacks if ref() is not None]
        _shutdown_callbacks.append(weakref.WeakMethod(callback))


def shutdown() -> None:
    """Drain and stop the bridge loop now; a later :func:`run_sync` starts a fresh one.

    Normally not needed: the same happens automatically at interpreter exit.
    """
    _BRIDGE.stop(final=False)


def _shutdown_at_exit() -> None:
    _BRIDGE.stop(final=True)
    with _callbacks_lock:
        callbacks = [ref() for ref in _shutdown_callbacks]
        _shutdown_callbacks.clear()
    for callback in callbacks:
        if callback is not None:
            try:
                callback()
            except Exception:  # exit must go on; a failing close is only worth a log line
                logger.exception("rasteret shutdown callback failed")
    del callbacks
    gc.collect()
    if _native_io_used:
        time.sleep(EXIT_GRACE_S)  # releases the GIL: see the module docstring


atexit.register(_shutdown_at_exit)
