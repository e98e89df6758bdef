"""Collection names and dataset ids cannot make rasteret write outside the workspace."""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

import rasteret
from rasteret.errors import CollectionNotFoundError, InvalidInputError, RasteretError
from rasteret.index.workspace import Workspace
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.catalog import SampleCatalog

HOSTILE_NAMES = [
    "../escape",
    "a/../../escape",
    "..",
    ".",
    "./x",
    "/tmp/rasteret-abs-escape",
    "C:\\Windows\\escape",
    "nul\x00byte",
    "x" * 300,
    "a/b",
    "~root",
    ".hidden",
    "",
    " ",
    "new\nline",
]
"""Names that are a path, a parent reference, hidden, NUL-bearing, or far too long."""


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*")) if root.exists() else set()


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A workspace and a sibling 'outside' folder whose contents must never change."""
    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    workspace.mkdir()
    outside.mkdir()
    monkeypatch.setenv("RASTERET_WORKSPACE", str(workspace))
    monkeypatch.chdir(outside)  # relative paths would land here
    return workspace, outside


def _build(static: str, workspace: Path, name: Any) -> rasteret.Collection:
    return rasteret.build_from_stac(
        name=name,
        stac_api=static,
        collection="sentinel-2-l2a",
        data_source="pc/sentinel-2-l2a",
        bbox=cat.SF_BBOX,
        date_range=cat.JAN_MAR,
        workspace_dir=workspace,
        static_catalog=True,
    )


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_hostile_collection_names_are_refused_before_any_write(
    name: str, sandbox: tuple[Path, Path], sample_catalog: SampleCatalog
) -> None:
    workspace, _outside = sandbox
    before = _files(workspace.parent)
    with pytest.raises(InvalidInputError) as info:
        _build(str(sample_catalog.static_catalog), workspace, name)
    assert info.value.parameter == "name"
    assert "\x00" not in str(info.value) or "\\x00" in str(info.value)
    assert _files(workspace.parent) == before
    assert not Path("/tmp/rasteret-abs-escape").exists()


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if "/" not in n and n != "x" * 300])
def test_hostile_names_cannot_load_or_locate(name: str, sandbox: tuple[Path, Path]) -> None:
    workspace, _ = sandbox
    ws = Workspace(workspace)
    with pytest.raises(InvalidInputError):
        ws.collection_dir(name)
    with pytest.raises((InvalidInputError, CollectionNotFoundError)):
        rasteret.load(name, workspace_dir=workspace)


def test_symlink_planted_in_workspace_is_not_followed(
    sandbox: tuple[Path, Path], sample_catalog: SampleCatalog
) -> None:
    workspace, outside = sandbox
    (workspace / "trap").symlink_to(outside, target_is_directory=True)
    before = _files(outside)
    with pytest.raises(InvalidInputError, match="outside the workspace"):
        _build(str(sample_catalog.static_catalog), workspace, "trap")
    assert _files(outside) == before


def test_symlinked_index_file_is_not_overwritten(
    sandbox: tuple[Path, Path], sample_catalog: SampleCatalog
) -> None:
    workspace, outside = sandbox
    victim = outside / "victim.txt"
    victim.write_text("precious")
    (workspace / "coll").mkdir()
    (workspace / "coll" / "index.parquet").symlink_to(victim)
    with warnings.catch_warnings(), contextlib.suppress(RasteretError):
        warnings.simplefilter("ignore", rasteret.RasteretWarning)  # "cache unreadable"
        _build(str(sample_catalog.static_catalog), workspace, "coll")  # may refuse, not write
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("dataset_id", ["../../escape", "/abs/escape", "a\x00b", "x" * 500])
def test_hostile_dataset_ids_do_not_write_outside(
    dataset_id: str, sandbox: tuple[Path, Path]
) -> None:
    workspace, outside = sandbox
    before = _files(outside)
    try:
        rasteret.register_dataset(
            dataset_id,
            collection="sentinel-2-l2a",
            band_map={"B04": "red"},
            stac_api="https://example.invalid/stac",
            workspace_dir=workspace,
        )
    except RasteretError as err:
        assert isinstance(err, InvalidInputError)
    written = _files(workspace)
    assert all(p.parent == workspace for p in written), written  # only datasets.json
    assert _files(outside) == before
    assert not Path("/abs/escape").exists()


def test_export_writes_only_where_it_is_told(
    sandbox: tuple[Path, Path], sample_catalog: SampleCatalog
) -> None:
    """export() writes exactly where it is told (a path the caller chose), atomically."""
    workspace, outside = sandbox
    coll = _build(str(sample_catalog.static_catalog), workspace, "ok")
    (outside / "copy").mkdir()
    target = coll.export(outside / "copy")
    assert target == outside / "copy" / "index.parquet"
    assert sorted(p.name for p in (outside / "copy").iterdir()) == ["index.parquet"]
    assert os.path.commonpath([target, outside]) == str(outside)
