"""Run the real command line in a child process, against the local servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rasteret import Collection, build_from_stac
from rasteret_sandbox.catalog import JAN_MAR, SF_BBOX
from rasteret_sandbox.servers import StacApiServer

SCRIPT = Path(sys.executable).with_name("rasteret")
"""The console script pip installed beside this interpreter."""


@dataclass(frozen=True)
class Run:
    """One finished command."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Runner = Callable[..., Run]


@pytest.fixture
def cli(tmp_path: Path) -> Runner:
    """Run ``rasteret ARGS`` (``python -m rasteret``, or the console script with
    ``script=True``) with the workspace and the user datasets file in ``tmp_path``."""

    def run(*args: str, script: bool = False, env: dict[str, str] | None = None) -> Run:
        command = [str(SCRIPT)] if script else [sys.executable, "-m", "rasteret"]
        full_env = {
            **os.environ,
            "RASTERET_WORKSPACE": str(tmp_path / "default-ws"),
            "RASTERET_DATASETS": str(tmp_path / "datasets.json"),
            **(env or {}),
        }
        done = subprocess.run(
            [*command, *args],
            check=False,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=180,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(scope="session")
def cli_s2(stac_api: StacApiServer, tmp_path_factory: pytest.TempPathFactory) -> Collection:
    """A three-band Sentinel-2 collection in a workspace of its own, for read/sample."""
    return build_from_stac(
        name="s2",
        stac_api=stac_api.url,
        collection="sentinel-2-l2a",
        band_map={"B02": "blue", "B03": "green", "B04": "red"},
        bbox=SF_BBOX,
        date_range=JAN_MAR,
        workspace_dir=tmp_path_factory.mktemp("cli-ws"),
    )
