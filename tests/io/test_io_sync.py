"""The sync bridge: results, errors, running loops, interrupts, and a clean interpreter exit."""

from __future__ import annotations

import _thread
import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from io_servers import DATA, HttpServer

from rasteret.io import sync
from rasteret.io.sync import run_sync


async def _value(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


async def _thread_name() -> str:
    return threading.current_thread().name


async def _sleep_until_cancelled(started: threading.Event, cancelled: threading.Event) -> None:
    started.set()
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        cancelled.set()
        raise


def test_returns_result_from_the_bridge_thread() -> None:
    assert run_sync(_value(21)) == 42
    assert run_sync(_thread_name()) == "rasteret-io"


def test_one_loop_is_reused() -> None:
    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    assert run_sync(loop_id()) == run_sync(loop_id())


def test_exceptions_propagate_with_type() -> None:
    async def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_sync(fail())


def test_keyboard_interrupt_inside_coroutine_keeps_the_bridge_alive() -> None:
    async def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sync(interrupted())
    assert run_sync(_value(1)) == 2


def test_system_exit_inside_coroutine_reaches_the_caller() -> None:
    async def leave() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit) as info:
        run_sync(leave())
    assert info.value.code == 3
    assert run_sync(_value(1)) == 2


def test_works_inside_a_running_loop() -> None:
    """As in Jupyter: the calling thread already runs an event loop."""

    async def notebook_cell() -> int:
        asyncio.get_running_loop()  # a loop is running here
        return run_sync(_value(5))

    assert asyncio.run(notebook_cell()) == 10


def test_concurrent_callers_from_many_threads() -> None:
    results: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        value = run_sync(_value(i))
        with lock:
            results.append(value)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [2 * i for i in range(16)]


def test_calling_from_the_bridge_loop_refuses_instead_of_deadlocking() -> None:
    async def nested() -> None:
        run_sync(_value(1))

    with pytest.raises(RuntimeError, match="deadlock"):
        run_sync(nested())


def test_keyboard_interrupt_while_waiting_cancels_the_coroutine() -> None:
    """Ctrl-C in the waiting thread cancels the work on the bridge loop."""
    started = threading.Event()
    cancelled = threading.Event()

    def interrupt_when_started() -> None:
        started.wait(10)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_sync(_sleep_until_cancelled(started, cancelled))
    assert cancelled.wait(5)
    assert run_sync(_value(2)) == 4


def test_on_bridge_runs_on_the_bridge_from_any_loop() -> None:
    async def caller() -> tuple[str, int, str]:
        name = await sync.on_bridge(_thread_name())
        value = await sync.on_bridge(_value(5))
        return name, value, threading.current_thread().name

    name, value, caller_thread = asyncio.run(caller())
    assert (name, value) == ("rasteret-io", 10)
    assert caller_thread != "rasteret-io"

    async def on_the_bridge_already() -> str:
        return await sync.on_bridge(_thread_name())  # awaited directly: no deadlock

    assert run_sync(on_the_bridge_already()) == "rasteret-io"


def test_on_bridge_propagates_errors_and_cancellation() -> None:
    async def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        asyncio.run(sync.on_bridge(fail()))

    started = threading.Event()
    cancelled = threading.Event()

    async def cancel_the_caller() -> None:
        task = asyncio.ensure_future(sync.on_bridge(_sleep_until_cancelled(started, cancelled)))
        assert await asyncio.to_thread(started.wait, 5)  # set on the bridge thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_the_caller())
    assert cancelled.wait(5)  # the work on the bridge loop was cancelled too


def test_shutdown_then_restart() -> None:
    assert run_sync(_value(3)) == 6
    sync.shutdown()
    assert run_sync(_value(4)) == 8


# -- interpreter exit ---------------------------------------------------------------------

EXIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, atexit, sys
    from rasteret.io import create_backend, CloudConfig
    from rasteret.io import sync
    from rasteret.io.sync import run_sync

    local_path, http_url, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode.startswith("unprotected-"):  # to measure the trap itself: no exit hook
        atexit.unregister(sync._shutdown_at_exit)
        mode = mode.removeprefix("unprotected-")
    backend = create_backend(cloud_config=CloudConfig(allow_http=True))

    async def work():
        for _ in range(3):
            reads = [backend.get_range_async(u, i, i + 64) for u in (local_path, http_url)
                     for i in range(0, 2000, 100)]
            out = await asyncio.gather(*reads)
            assert all(len(b) == 64 for b in out)
            await backend.get_ranges_async(http_url, [0, 5000], [10, 20000])
        return "ok"

    if mode == "asyncio_run":
        print(asyncio.run(work()))
    else:
        print(run_sync(work()))
        print(backend.get_range(http_url, 0, 4))
    """
)


def _run_exit_script(
    tmp_path: Path, served_dir: Path, http_server: HttpServer, mode: str, runs: int
) -> list[int]:
    script = tmp_path / "exit_script.py"
    script.write_text(EXIT_SCRIPT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    codes = []
    for _ in range(runs):
        proc = subprocess.run(
            [
                sys.executable,
                str(script),
                str(served_dir / "data.bin"),
                f"{http_server.base}/files/data.bin",
                mode,
            ],
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        if proc.returncode not in (0, -6, 134):  # anything but the known abort is a bug
            pytest.fail(f"exit script failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        codes.append(proc.returncode)
    return codes


@pytest.mark.parametrize("mode", ["run_sync", "asyncio_run"])
def test_interpreter_exits_cleanly_after_native_io(
    tmp_path: Path, served_dir: Path, http_server: HttpServer, mode: str
) -> None:
    """obstore 0.12.1 can abort at exit (SIGABRT); the exit hook must prevent it, 30 of 30."""
    assert (served_dir / "data.bin").read_bytes() == DATA
    codes = _run_exit_script(tmp_path, served_dir, http_server, mode, runs=30)
    assert codes == [0] * 30, f"aborts: {sum(c != 0 for c in codes)} of 30"


@pytest.mark.parametrize(("choice", "module"), [("", "uvloop"), ("asyncio", "asyncio")])
def test_the_bridge_loop_is_uvloop_unless_asyncio_is_asked_for(
    choice: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RASTERET_EVENT_LOOP", choice)
    loop = sync.new_loop()
    try:
        assert type(loop).__module__.split(".")[0] == module
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()


def test_reads_run_on_uvloop() -> None:
    async def loop_kind() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_sync(loop_kind()).startswith("uvloop")


def test_a_child_forked_after_a_read_fails_at_once(tmp_path: Path) -> None:
    # obstore's runtime threads do not survive fork(): a request in the child would wait
    # forever, so it must raise instead; a child forked before any read works
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 64)
    script = textwrap.dedent(
        f"""
        import os, sys
        from rasteret.io import create_backend
        url = {blob.as_uri()!r}

        def child() -> str:
            try:
                return "ok" if create_backend().get_range(url, 0, 4) == bytes(range(4)) else "bad"
            except Exception as err:
                return type(err).__name__

        def in_a_fork() -> str:
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(write, child().encode())
                os._exit(0)
            os.close(write)
            answer = os.read(read, 100).decode()
            os.waitpid(pid, 0)
            return answer

        before = in_a_fork()
        create_backend().get_range(url, 0, 4)  # the parent reads: obstore's runtime starts
        print(before, in_a_fork(), child())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "UnsupportedReadError", "ok"]
