"""Workspace names, paths, listing, deletion and the cross-process build lock."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from factories import BANDS

from rasteret.errors import CollectionNotFoundError, InvalidInputError
from rasteret.index.manifest import Manifest
from rasteret.index.records import records_to_table
from rasteret.index.storage import write_index
from rasteret.index.workspace import Workspace, WorkspaceLockTimeoutError, validate_name


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ok-name_1.2", True),
        ("a", True),
        ("x" * 128, True),
        ("../x", False),
        ("..", False),
        ("a..b", False),
        ("/abs", False),
        ("a/b", False),
        ("a\\b", False),
        (".hidden", False),
        ("", False),
        ("x" * 200, False),
        ("space name", False),
        ("nul\0", False),
        ("üñí", False),
    ],
)
def test_validate_name(name: str, ok: bool) -> None:
    if ok:
        assert validate_name(name) == name
    else:
        with pytest.raises(InvalidInputError, match="name="):
            validate_name(name)


def test_root_defaults_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RASTERET_WORKSPACE", raising=False)
    assert Workspace().root == Path("~/rasteret_workspace").expanduser()
    monkeypatch.setenv("RASTERET_WORKSPACE", str(tmp_path / "env"))
    assert Workspace().root == tmp_path / "env"
    assert Workspace(tmp_path / "explicit").root == tmp_path / "explicit"
    assert not (tmp_path / "env").exists()  # constructing touches nothing


def test_symlink_escaping_the_root_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.root.mkdir()
    (ws.root / "evil").symlink_to(tmp_path)
    with pytest.raises(InvalidInputError, match="outside"):
        ws.index_path("evil")


def _write(ws: Workspace, name: str) -> None:
    with ws.lock(name):
        write_index(
            ws.index_path(name),
            records_to_table([], tuple(BANDS)),
            Manifest.create(name=name, params={}, bands=BANDS),
        )


def test_index_list_exists_delete(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert ws.list() == []
    _write(ws, "b")
    _write(ws, "a")
    (tmp_path / "not-a-collection").mkdir()
    assert ws.list() == ["a", "b"]
    assert ws.exists("a") and not ws.exists("c")
    assert ws.index_path("a") == tmp_path / "a" / "index.parquet"
    ws.delete("a")
    assert ws.list() == ["b"]
    assert not (tmp_path / "a").exists()
    with pytest.raises(CollectionNotFoundError):
        ws.delete("a")


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")

    class BuildFailedError(Exception):
        pass

    with pytest.raises(BuildFailedError), ws.lock("x") as directory:
        assert directory.is_dir()
        raise BuildFailedError
    assert not (tmp_path / "ws" / "x").exists()
    # an existing collection keeps its directory and index after a failed rebuild
    _write(ws, "y")
    with pytest.raises(BuildFailedError), ws.lock("y"):
        raise BuildFailedError
    assert ws.exists("y")


def test_remove_partial_cleans_temp_files_on_lock(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    _write(ws, "c")
    stale = tmp_path / "c" / ".index.parquet.abc123.tmp"
    stale.write_bytes(b"half")
    with ws.lock("c"):
        assert not stale.exists()  # a crashed writer's leftovers go when the lock is taken
    stale.write_bytes(b"half")
    assert ws.remove_partial("c") == [stale]


def test_lock_times_out(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    # flock locks belong to the open file description, so a second open in the same
    # process contends just like another process would
    with ws.lock("t"), pytest.raises(WorkspaceLockTimeoutError), ws.lock("t", timeout=0.2):
        pass


def _hold(root: str, name: str, log: str, tag: str, hold_s: float) -> None:
    ws = Workspace(root)
    with ws.lock(name, timeout=30):
        with open(log, "a") as f:  # noqa: PTH123
            f.write(f"{tag} start {time.monotonic()}\n")
        time.sleep(hold_s)
        with open(log, "a") as f:  # noqa: PTH123
            f.write(f"{tag} end {time.monotonic()}\n")


def test_lock_serialises_two_processes(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_hold, args=(str(tmp_path / "ws"), "same", str(log), tag, 0.5))
        for tag in ("p1", "p2")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[1] for e in events] == ["start", "end", "start", "end"]
    assert events[0][0] == events[1][0] and events[2][0] == events[3][0]
    assert float(events[2][2]) >= float(events[1][2])  # second began after first ended
    assert not (tmp_path / "ws" / "same").exists()  # neither wrote an index


def test_lock_survives_holder_deleting_the_lock_file(tmp_path: Path) -> None:
    # The first holder removes dir + .lock on exit (no index written); a waiter that had
    # opened the old file must notice and lock the new one, not the unlinked inode.
    ws = Workspace(tmp_path)
    log = tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_hold, args=(str(tmp_path), "d", str(log), f"p{i}", 0.3))
        for i in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    events = [line.split() for line in log.read_text().splitlines()]
    kinds = [e[1] for e in events]
    assert kinds == ["start", "end"] * 3, kinds
    assert ws.list() == []
    assert [p.name for p in tmp_path.iterdir()] == ["log.txt"]
