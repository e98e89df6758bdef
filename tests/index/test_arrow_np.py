"""Pandas-free Arrow conversions of the read path, against pyarrow's own conversions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from rasteret import Collection
from rasteret.index.arrow_np import bool_array, datetimes, numeric_values


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


def test_a_cold_read_does_not_import_pandas(s2_sf: Collection) -> None:
    assert s2_sf.path is not None
    bounds = s2_sf.bounds
    assert bounds is not None
    x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    script = textwrap.dedent(
        f"""
        import sys
        import rasteret
        coll = rasteret.load({str(s2_sf.path)!r})
        result = coll.get_numpy(({x}, {y}, {x + 0.002}, {y + 0.002}), "B04")
        assert result.data.size > 0
        print("pandas" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
