"""rasteret --help, datasets, build and collections, run as real processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import rasteret
from rasteret_sandbox.catalog import DEM_SF_COUNT, JAN_MAR, SF_BBOX, SF_JAN_MAR_COUNT
from rasteret_sandbox.servers import StacApiServer

Runner = Callable[..., Any]  # the ``cli`` fixture of tests/cli/conftest.py

BBOX = [str(v) for v in SF_BBOX]


def test_help_has_commands_examples_and_exit_codes(cli: Runner) -> None:
    done = cli("--help", script=True)
    assert done.returncode == 0
    for word in ("build", "collections", "datasets", "read", "sample", "examples:"):
        assert word in done.stdout
    for code in ("0  success", "2  usage", "3  not found", "4  remote"):
        assert code in done.stdout
    for command in ("build", "sample"):
        sub = cli(command, "--help")
        assert sub.returncode == 0 and "examples:" in sub.stdout, command


def test_usage_errors_exit_2(cli: Runner) -> None:
    assert cli("frobnicate").returncode == 2
    done = cli("read", "s2", "--bands", "B04")  # no AOI
    assert done.returncode == 2 and "--bbox" in done.stderr


def test_datasets_list_and_info(cli: Runner) -> None:
    done = cli("datasets", "list", "--json", script=True)
    assert done.returncode == 0, done.stderr
    rows = {row["id"]: row for row in done.json()}
    for dataset_id in ("earthsearch/sentinel-2-l2a", "pc/naip", "pc/esa-worldcover"):
        assert rows[dataset_id]["license"] and rows[dataset_id]["stac_api"]
        assert rows[dataset_id]["builtin"] is True
    info = cli("datasets", "info", "earthsearch/landsat-c2-l2", "--json").json()
    assert info["cloud"]["requester_pays"] is True
    assert info["band_map"]["B04"] == "red"
    text = cli("datasets", "list")
    assert "pc/sentinel-2-l2a" in text.stdout and not text.stdout.lstrip().startswith("[")


def test_unknown_dataset_exits_3_with_suggestions(cli: Runner) -> None:
    done = cli("--json", "datasets", "info", "pc/sentinel2-l2a")
    assert done.returncode == 3
    error = done.json()["error"]
    assert error["parameter"] == "dataset"
    assert "pc/sentinel-2-l2a" in error["message"]
    built = cli("build", "nope/nothing", "--name", "x")
    assert built.returncode == 3 and "unknown dataset" in built.stderr


def test_build_from_builtin_dataset_and_collections(
    cli: Runner, stac_api: StacApiServer, tmp_path: Path
) -> None:
    ws = str(tmp_path / "ws")
    done = cli(
        "build", "earthsearch/cop-dem-glo-30", "--name", "dem", "--stac-api", stac_api.url,
        "--bbox", *BBOX, "--workspace", ws, "--json", script=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = done.json()
    assert summary["scenes"] == DEM_SF_COUNT and summary["bands"] == ["DEM"]
    assert Path(summary["path"]).is_file()

    # one unreadable index hides none of the others; --json may follow the group too
    (tmp_path / "ws" / "broken").mkdir()
    (tmp_path / "ws" / "broken" / "index.parquet").write_bytes(b"garbage")
    listed = cli("collections", "--json", "list", "--workspace", ws).json()
    assert [row["name"] for row in listed] == ["broken", "dem"]
    assert "error" in listed[0] and listed[1]["scenes"] == DEM_SF_COUNT
    conflict = cli("build", "earthsearch/cop-dem-glo-30", "--name", "x", "--static-catalog",
                   "--workspace", ws, "--json")  # fmt: skip
    assert conflict.json()["error"]["parameter"] == "--static-catalog"
    info = cli("collections", "info", "dem", "--json", "--workspace", ws).json()
    assert info["params"]["data_source"] == "earthsearch/cop-dem-glo-30"
    assert len(info["scene_ids"]) == DEM_SF_COUNT

    assert cli("collections", "delete", "dem", "--workspace", ws).returncode == 0
    assert cli("collections", "info", "dem", "--workspace", ws).returncode == 3
    assert not Path(summary["path"]).exists()


def test_build_explicit_stac_api_with_band_map(
    cli: Runner, stac_api: StacApiServer, tmp_path: Path
) -> None:
    done = cli(
        "build", "--stac-api", stac_api.url, "--collection", "sentinel-2-l2a",
        "--band", "B04=red", "--name", "s2", "--bbox", *BBOX, "--date-range", *JAN_MAR,
        "--workspace", str(tmp_path), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = done.json()
    assert summary["scenes"] == SF_JAN_MAR_COUNT and summary["bands"] == ["B04"]
    again = cli("collections", "info", "s2", "--workspace", str(tmp_path), "--json").json()
    assert again["params"]["band_map"] == {"B04": "red"}


def test_registered_dataset_seen_by_a_new_process(
    cli: Runner, stac_api: StacApiServer, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    rasteret.register_dataset(
        "me/s2-red",
        collection="sentinel-2-l2a",
        stac_api=stac_api.url,
        band_map={"RED": "red"},
        title="my red band",
        workspace_dir=ws,
    )
    rows = cli("datasets", "list", "--json", "--workspace", str(ws)).json()
    mine = [row for row in rows if row["id"] == "me/s2-red"]
    assert mine and mine[0]["builtin"] is False and mine[0]["title"] == "my red band"
    done = cli(
        "build", "me/s2-red", "--name", "red", "--bbox", *BBOX, "--date-range", *JAN_MAR,
        "--workspace", str(ws), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.json()["bands"] == ["RED"] and done.json()["scenes"] == SF_JAN_MAR_COUNT


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["build", "--collection", "sentinel-2-l2a", "--name", "x"], 2),  # no endpoint
        (["build", "--stac-api", "http://127.0.0.1:9", "--collection", "c", "--name", "x"], 4),
        (["build", "--stac-api", "http://127.0.0.1:9", "--collection", "c", "--name", "../x"], 2),
    ],
)
def test_build_failures_have_meaningful_codes(
    cli: Runner, tmp_path: Path, args: list[str], code: int
) -> None:
    done = cli(*args, "--workspace", str(tmp_path), "--json")
    assert done.returncode == code, done.stderr
    assert done.json()["error"]["exit_code"] == code
    assert "Traceback" not in done.stderr
