"""Pandas-free Arrow conversions of the read path, against pyarrow's own conversions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from rasteret import Collection
from rasteret.index.arrow_np import (
    array_of,
    bool_array,
    datetimes,
    micros,
    numeric_values,
    string_array,
    timestamp_micros,
)


@pytest.mark.parametrize("type_", [pa.int32(), pa.uint64(), pa.int8(), pa.float32()])
def test_numeric_values_match_pyarrow_with_offsets_and_nulls(type_: pa.DataType) -> None:
    arr = pa.array([5, None, 7, 9, None, 11], type=type_).slice(1, 4)  # offset 1
    got = numeric_values(arr, null=-1 if pa.types.is_signed_integer(type_) else 0)
    want = arr.fill_null(-1 if pa.types.is_signed_integer(type_) else 0).to_numpy()
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="nulls"):
        numeric_values(arr)
    chunked = pa.chunked_array([arr.slice(0, 2), arr.slice(2)])
    assert np.array_equal(numeric_values(chunked, null=0), arr.fill_null(0).to_numpy())


def test_bool_array_round_trips() -> None:
    mask = np.random.default_rng(3).random(37) > 0.5
    assert bool_array(mask).to_pylist() == mask.tolist()


def test_datetimes_match_to_pylist() -> None:
    when = [datetime(2024, 1, 5, 10, 30, 1, 250, tzinfo=UTC), None]
    for tz in ("UTC", None):
        for unit in ("s", "ms", "us", "ns"):
            values = when if tz else [w.replace(tzinfo=None) if w else None for w in when]
            arr = pa.array(values, type=pa.timestamp("us", tz=tz)).cast(
                pa.timestamp(unit, tz=tz), safe=False
            )
            assert datetimes(arr) == arr.to_pylist()


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint64", "float32", "float64"])
def test_array_of_matches_pa_array(dtype: str) -> None:
    values = (np.arange(11) * 7 % 5).astype(dtype)
    valid = np.arange(11) % 3 != 0
    assert array_of(values).equals(pa.array(values))
    assert array_of(values, valid=valid).equals(pa.array(values, mask=~valid))
    assert array_of(values[::2]).equals(pa.array(values[::2]))  # not contiguous


def test_string_array_and_timestamps() -> None:
    words = ["", "S2A_10SEG", "ümlaut", "x" * 300]
    assert string_array(words).equals(pa.array(words, pa.string()))
    assert string_array([]).equals(pa.array([], pa.string()))
    when = [datetime(2024, 1, 5, 10, 30, 1, 250, tzinfo=UTC), datetime(1969, 7, 20, 20, 17)]
    stamps = np.array([micros(w) for w in when])
    typed = array_of(stamps, pa.timestamp("us", tz="UTC"))
    assert typed.to_pylist() == [when[0], when[1].replace(tzinfo=UTC)]
    for unit in ("s", "ms", "us", "ns"):
        arr = pa.array([when[0], None, when[1]], pa.timestamp("us", tz="UTC"))
        arr = arr.cast(pa.timestamp(unit, tz="UTC"), safe=False).slice(1)  # offset 1
        got, valid = timestamp_micros(arr)
        assert valid.tolist() == [False, True]
        scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}[unit]
        assert got[1] == stamps[1] // scale * scale


def _cold_read(coll: Collection, report: str, env: dict[str, str] | None = None) -> str:
    """Run a user's first read of ``coll`` in a fresh process; what ``report`` prints.

    Loading, filtering by dates, cloud cover and ids, the repr, a window and points.
    ``report`` runs after the load (``loaded``) and at the end of the reads.
    """
    assert coll.path is not None
    bounds = coll.bounds
    assert bounds is not None
    x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    script = textwrap.dedent(
        f"""
        import sys
        import pyarrow as pa
        import rasteret
        coll = rasteret.load({str(coll.path)!r})
        loaded = pa.default_memory_pool().num_allocations()
        coll = coll.subset(date_range=("2000-01-01", None), cloud_cover_lt=101)
        coll = coll.subset(ids=[s.id for s in coll] + ["not-an-item"])
        assert "scenes" in repr(coll) and coll.datetime_range is not None
        result = coll.get_numpy(({x}, {y}, {x + 0.002}, {y + 0.002}), "B04")
        assert result.data.size > 0
        table = coll.sample_points([({x}, {y}), ({x + 0.001}, {y})], ["B04"])
        assert table.num_rows > 0
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script + report],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )
    return out.stdout.strip().splitlines()[-1]


def test_a_cold_read_imports_neither_pandas_nor_the_stac_client(s2_sf: Collection) -> None:
    # neither pandas nor the STAC client (needed only to build an index) is imported
    report = 'print("pandas" in sys.modules, "pystac_client" in sys.modules)'
    assert _cold_read(s2_sf, report) == "False False"


def test_reads_allocate_nothing_from_the_default_arrow_pool(s2_sf: Collection) -> None:
    """Filtering and reading allocate Arrow buffers from rasteret's pool only.

    The default pool here is mimalloc's, whose first allocations on a thread set aside
    segments of memory (see rasteret.index.pool). Loading the index still allocates a
    little from it (the Parquet reader decompresses pages with the default pool).
    """
    try:
        pa.mimalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow has no mimalloc pool")
    report = "print(loaded, pa.default_memory_pool().num_allocations())"
    env = {"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}
    loaded, after = _cold_read(s2_sf, report, env).split()
    assert after == loaded
