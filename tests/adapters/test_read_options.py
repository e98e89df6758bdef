"""Read options are checked once, the same way, on every read path.

get_numpy (and the eager get_xarray), the lazy dask read (``get_xarray(chunks=...)``) and
the torch dataset take the same options; a value one path refuses with an
:class:`~rasteret.errors.InvalidInputError` naming it must not reach a worker on another,
where it would fail later with a bare ``TypeError`` or be silently misread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import shapely

import rasteret
from rasteret.errors import InvalidInputError

AOI = shapely.box(-122.30, 37.72, -122.28, 37.74)
CHIP = 32


def _eager(c: rasteret.Collection, **options: Any) -> Any:
    return c.get_xarray(AOI, "B04", **options)


def _numpy(c: rasteret.Collection, **options: Any) -> Any:
    return c.get_numpy(AOI, "B04", **options)


def _lazy(c: rasteret.Collection, **options: Any) -> Any:
    return c.get_xarray(AOI, "B04", chunks=64, **options)


def _torch(c: rasteret.Collection, **options: Any) -> Any:
    return c.to_torchgeo_dataset("B04", CHIP, geometries=AOI, **options)


PATHS: dict[str, Callable[..., Any]] = {
    "numpy": _numpy,
    "eager": _eager,
    "lazy": _lazy,
    "torch": _torch,
}

BAD_OPTIONS = [
    ("fill_value", "5"),
    ("fill_value", [1]),
    ("fill_value", True),
    ("overview", "1"),
    ("overview", -1),
    ("overview", True),
    ("overview", 1.0),
    ("apply_scale", "no"),
    ("apply_scale", 0),
    ("all_touched", "yes"),
    ("all_touched", None),
    ("resampling", "average"),
    ("resampling", "mode"),
    ("resampling", "bogus"),
    ("max_concurrent", 0),
]


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS, ids=[f"{n}={v!r}" for n, v in BAD_OPTIONS])
def test_every_path_refuses_the_same_bad_options(
    s2: rasteret.Collection, path: str, name: str, value: Any
) -> None:
    with pytest.raises(InvalidInputError) as info:
        PATHS[path](s2, **{name: value})
    assert info.value.parameter == name
    assert info.value.value == value


@pytest.mark.parametrize("value", ["average", "mode", "lanczos9"])
def test_resampling_error_lists_what_warp_implements(s2: rasteret.Collection, value: str) -> None:
    """The AOI's scenes are all on the output grid, so nothing would be warped: ``average``
    used to pass unnoticed there, and fail only on a read that needs a warp."""
    with pytest.raises(InvalidInputError, match="nearest, bilinear, cubic") as info:
        s2.get_numpy(AOI, "B04", resampling=value)
    assert "average" not in info.value.reason.split("one of", 1)[1]


@pytest.mark.parametrize("path", list(PATHS))
def test_good_options_still_pass(s2: rasteret.Collection, path: str) -> None:
    PATHS[path](
        s2,
        fill_value=7,
        overview=np.int64(0),
        apply_scale=np.bool_(False),
        all_touched=True,
        resampling="bilinear",
        max_concurrent=4,
    )


@pytest.mark.parametrize("path", ["lazy", "torch"])
def test_pieces_accept_on_stale_raise(s2: rasteret.Collection, path: str) -> None:
    """The default of get_numpy is what the pieces do too (they raise StaleSourceError)."""
    PATHS[path](s2, on_stale="raise")


def test_lazy_read_with_on_stale_raise_equals_eager(s2: rasteret.Collection) -> None:
    lazy = s2.get_xarray(AOI, "B04", chunks=64, on_stale="raise").compute()
    assert lazy.identical(s2.get_xarray(AOI, "B04"))


@pytest.mark.parametrize("path", ["lazy", "torch"])
def test_pieces_refuse_on_stale_reindex(s2: rasteret.Collection, path: str) -> None:
    with pytest.raises(InvalidInputError, match="force=True") as info:
        PATHS[path](s2, on_stale="reindex")
    assert info.value.parameter == "on_stale"
    assert "re-index" in info.value.reason


@pytest.mark.parametrize("path", ["lazy", "torch"])
def test_pieces_refuse_an_unknown_on_stale(s2: rasteret.Collection, path: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        PATHS[path](s2, on_stale="ignore")
    assert info.value.parameter == "on_stale"


@pytest.mark.parametrize("path", ["lazy", "torch"])
@pytest.mark.parametrize("factory", ["not-callable", 42])
def test_a_backend_factory_must_be_callable(
    s2: rasteret.Collection, path: str, factory: object
) -> None:
    with pytest.raises(InvalidInputError) as info:
        PATHS[path](s2, backend_factory=factory)
    assert info.value.parameter == "backend_factory"


def test_eager_get_xarray_reads_with_the_backend_factory(s2: rasteret.Collection) -> None:
    """Credentials passed as a factory are used without chunks too, not dropped."""
    made: list[object] = []

    def factory() -> rasteret.StorageBackend:
        backend = rasteret.create_backend()
        made.append(backend)
        return backend

    got = s2.get_xarray(AOI, "B04", backend_factory=factory)
    assert len(made) == 1
    assert got.identical(s2.get_xarray(AOI, "B04"))
    with pytest.raises(InvalidInputError) as info:
        s2.get_xarray(AOI, "B04", backend_factory="not-callable")
    assert info.value.parameter == "backend_factory"


def test_eager_get_xarray_refuses_backend_and_factory_together(s2: rasteret.Collection) -> None:
    with pytest.raises(InvalidInputError, match="not both") as info:
        s2.get_xarray(
            AOI, "B04", backend=rasteret.create_backend(), backend_factory=rasteret.create_backend
        )
    assert info.value.parameter == "backend_factory"


def test_dataset_crs_without_geometries_is_refused(s2: rasteret.Collection) -> None:
    """``crs`` names the CRS of ``geometries``; the default AOI is in CRS84."""
    with pytest.raises(InvalidInputError, match="target_crs") as info:
        s2.to_torchgeo_dataset("B04", CHIP, crs="EPSG:32610")
    assert info.value.parameter == "crs"
    ds = s2.to_torchgeo_dataset("B04", CHIP, target_crs="EPSG:32610")
    assert len(ds) > 0
