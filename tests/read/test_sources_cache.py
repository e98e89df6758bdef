"""Collections filtered from one index share a backend and their decoded band layouts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from rasteret import Collection
from rasteret.index import schema
from rasteret.read import sources


def _aoi(coll: Collection) -> tuple[float, float, float, float]:
    bounds = coll.bounds
    assert bounds is not None
    x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    return (x, y, x + 0.003, y + 0.002)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows decoded by ``headers_from_array`` (the real function, counted)."""
    seen: list[int] = []
    real = schema.headers_from_array

    def counting(column: pa.Array) -> list:  # type: ignore[type-arg]
        seen.append(len(column))
        return real(column)

    monkeypatch.setattr(sources.schema, "headers_from_array", counting)
    return seen


def test_subsets_share_one_backend(s2_sf: Collection) -> None:
    fresh = Collection(s2_sf.to_table(), s2_sf.manifest)
    a = fresh.subset(date_range=("2024-01-01", "2024-02-15"))
    b = fresh.subset(cloud_cover_lt=50).subset(date_range=("2024-02-01", None))
    assert a._storage(None) is b._storage(None) is fresh._storage(None)
    other = Collection(s2_sf.to_table(), s2_sf.manifest)  # loaded on its own: its own pool
    assert other._storage(None) is not fresh._storage(None)


def test_layouts_are_decoded_once_per_lineage(s2_sf: Collection, decodes: list[int]) -> None:
    fresh = Collection(s2_sf.to_table(), s2_sf.manifest)
    aoi = _aoi(fresh)
    first = fresh.get_numpy(aoi, ["B04", "B08"])
    assert sum(decodes) >= 2 * len(first.ids)  # both bands of every scene read
    decodes.clear()
    early = fresh.subset(date_range=("2024-01-01", "2024-01-31"))
    again = early.get_numpy(aoi, ["B04", "B08"])
    assert decodes == []  # every layout came from the shared cache
    keep = [first.ids.index(i) for i in again.ids]
    np.testing.assert_array_equal(again.data, first.data[keep])
    np.testing.assert_array_equal(again.valid, first.valid[keep])
    early.get_numpy(aoi, ["B02"])
    assert sum(decodes) == len(again.ids)  # a new band: decoded for the rows read only


def test_repeated_ids_disable_the_cache(s2_sf: Collection, decodes: list[int]) -> None:
    ids = s2_sf.to_table().column(schema.ID).to_pylist()
    # the same ids, but row 0's twin points at row 1's files: an id no longer names a row
    twin = s2_sf.to_table().take([1, *range(1, len(ids))])
    twin = twin.set_column(0, twin.schema.field(0), pa.array(ids, pa.string()))
    assert twin.schema.field(0).name == schema.ID
    doubled = Collection(pa.concat_tables([s2_sf.to_table(), twin]), s2_sf.manifest)
    aoi = _aoi(s2_sf)
    whole = doubled.get_numpy(aoi, "B04")
    decodes.clear()
    again = doubled.get_numpy(aoi, "B04")
    assert sum(decodes) == len(whole.ids)  # decoded again: nothing was cached
    np.testing.assert_array_equal(again.data, whole.data)
