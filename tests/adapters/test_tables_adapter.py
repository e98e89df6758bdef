"""The index as plain GeoParquet in DuckDB (spatial), Polars and GeoPandas, and back."""

from __future__ import annotations

from pathlib import Path

import duckdb
import duckdb_extension_spatial
import geopandas
import numpy as np
import polars as pl
import pytest

import rasteret

AOI = (-122.30, 37.72, -122.28, 37.74)
SPATIAL = (
    Path(duckdb_extension_spatial.__file__).parent
    / "extensions"
    / f"v{duckdb.__version__}"
    / "spatial.duckdb_extension"
)


def _same_read(a: rasteret.Collection, b: rasteret.Collection) -> None:
    left, right = a.get_numpy(AOI, "B04"), b.get_numpy(AOI, "B04")
    assert not isinstance(left, list) and not isinstance(right, list)
    assert left.ids == right.ids
    np.testing.assert_array_equal(left.data, right.data)
    np.testing.assert_array_equal(left.valid, right.valid)


def test_duckdb_sql_then_read_equals_subset(s2: rasteret.Collection) -> None:
    con = duckdb.connect()
    con.install_extension(str(SPATIAL))
    con.load_extension("spatial")
    rel = con.sql(
        f"""SELECT * FROM read_parquet('{s2.path}')
            WHERE "eo:cloud_cover" < 30
              AND ST_Intersects(geometry,
                                ST_MakeEnvelope({AOI[0]}, {AOI[1]}, {AOI[2]}, {AOI[3]}))
            ORDER BY datetime"""
    )
    chosen = rasteret.as_collection(rel, like=s2)
    expected = s2.subset(cloud_cover_lt=30, bbox=AOI)
    assert 0 < len(chosen) < len(s2)
    assert sorted(s.id for s in chosen) == sorted(s.id for s in expected)
    _same_read(chosen, expected)


def test_polars_and_geopandas_round_trip(s2: rasteret.Collection) -> None:
    frame = pl.read_parquet(s2.path).filter(pl.col("eo:cloud_cover") < 30)
    from_polars = rasteret.Collection.from_table(frame, like=s2)
    gdf = geopandas.read_parquet(s2.path)
    assert gdf.crs.equals("OGC:CRS84") or gdf.crs.to_epsg() == 4326
    from_gpd = rasteret.as_collection(gdf[gdf["eo:cloud_cover"] < 30], like=s2)
    expected = s2.subset(cloud_cover_lt=30)
    _same_read(from_polars, expected)
    _same_read(from_gpd, expected)
    assert rasteret.as_collection(s2.to_table(), like=s2).to_table().equals(s2.to_table())


def test_missing_columns_are_named(s2: rasteret.Collection) -> None:
    frame = pl.read_parquet(s2.path).drop("band:B08")
    with pytest.raises(rasteret.InvalidInputError, match="band:B08"):
        rasteret.as_collection(frame, like=s2)
    with pytest.raises(rasteret.InvalidInputError, match="DuckDB"):
        rasteret.as_collection(42, like=s2)
