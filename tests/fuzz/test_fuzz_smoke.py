"""A short, seeded run of the fuzz targets: the same rules as ``fuzz/run.py``, a few seconds."""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Iterator

import fuzz_seeds
import fuzz_targets
import numpy as np
import pytest
import run
from fuzz_targets import Allowance, check_input

from rasteret.errors import TiffFormatError


@pytest.fixture(scope="module")
def tracing() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


@pytest.fixture(scope="module")
def header_seeds() -> dict[str, bytes]:
    return fuzz_seeds.header_seeds(cog_names=["deflate_u16", "lzw_pred_i16_be_planar", "lerc_f32"])


@pytest.fixture(scope="module")
def decode_seeds() -> dict[str, bytes]:
    return fuzz_seeds.decode_seeds(bomb_bytes=8 * 1024 * 1024)


def test_seeds_obey_the_rules(
    tracing: None, header_seeds: dict[str, bytes], decode_seeds: dict[str, bytes]
) -> None:
    for target, seeds in (
        (fuzz_targets.header_target, header_seeds),
        (fuzz_targets.decode_target, decode_seeds),
    ):
        statuses = {name: check_input(target, data) for name, data in seeds.items()}
        bad = {k: v for k, v in statuses.items() if v.status not in ("ok", "rejected")}
        assert not bad
        # Real files decode; every bomb and hostile header is refused.
        assert all(v.status == "ok" for k, v in statuses.items() if k.startswith("cog_"))
        assert all(v.status == "rejected" for k, v in statuses.items() if "bomb" in k)
    # A bomb expanding to 8 MiB is refused within the 16x16 tile's budget.
    out = check_input(fuzz_targets.decode_target, decode_seeds["bomb_deflate"])
    assert out.peak_bytes < 1024 * 1024


@pytest.mark.parametrize("target", ["header", "decode"])
def test_seeded_random_fuzz(
    target: str, header_seeds: dict[str, bytes], decode_seeds: dict[str, bytes]
) -> None:
    seeds = header_seeds if target == "header" else decode_seeds
    summary = run.run_random(target, seeds, seconds=4.0, seed=1234)
    assert summary.findings == []
    assert summary.crashes == summary.hangs == summary.alloc_breaches == 0
    assert summary.executed > 200
    assert summary.replay_max_seconds < fuzz_targets.TIME_CAP_S


def test_checker_reports_each_kind_of_violation(tracing: None) -> None:
    def crashes(data: bytes, allowance: Allowance) -> None:
        raise KeyError(data)

    def refuses_quietly(data: bytes, allowance: Allowance) -> None:
        raise TiffFormatError()

    def balloons(data: bytes, allowance: Allowance) -> None:
        np.ones(64 * 1024 * 1024, dtype=np.uint8)

    def entitled(data: bytes, allowance: Allowance) -> None:
        allowance.allow(64 * 1024 * 1024)
        np.ones(64 * 1024 * 1024, dtype=np.uint8)

    def slow(data: bytes, allowance: Allowance) -> None:
        time.sleep(0.05)

    assert check_input(crashes, b"x").status == "crash"
    assert check_input(refuses_quietly, b"x").status == "crash"
    assert check_input(balloons, b"x").status == "alloc"
    assert check_input(entitled, b"x").status == "ok"
    assert check_input(slow, b"x", time_cap=0.01).status == "hang"


def test_mutator_is_deterministic() -> None:
    data = bytes(range(256))
    one = [run.mutate(data, random.Random(7)) for _ in range(3)]
    two = [run.mutate(data, random.Random(7)) for _ in range(3)]
    assert one == two and any(m != data for m in one)
