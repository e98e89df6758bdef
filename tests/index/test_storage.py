"""GeoParquet write/read: interop with pyarrow, GeoPandas and DuckDB; atomic replace."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import duckdb_extension_spatial
import geopandas
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from factories import BANDS, make_item, make_record

from rasteret.errors import IndexFormatError
from rasteret.index import schema, storage
from rasteret.index.manifest import Manifest
from rasteret.index.records import records_to_table
from rasteret.index.storage import read_index, read_manifest, write_index

SPATIAL = (
    Path(duckdb_extension_spatial.__file__).parent
    / "extensions"
    / f"v{duckdb.__version__}"
    / "spatial.duckdb_extension"
)


def spatial_connection() -> duckdb.DuckDBPyConnection:
    """DuckDB with the spatial extension from the offline wheel (it cannot be downloaded)."""
    con = duckdb.connect()
    con.install_extension(str(SPATIAL))
    con.load_extension("spatial")
    return con


def make_table() -> pa.Table:
    items = [
        make_item("west", day=1, bbox=(-122.5, 37.5, -122.0, 38.0)),
        make_item("east", day=2, bbox=(10.0, 45.0, 11.0, 46.0), epsg=32632),
        make_item("mid", day=3, bbox=(0.0, 0.0, 1.0, 1.0), epsg=32631),
    ]
    return records_to_table([make_record(i) for i in items], tuple(BANDS))


def make_manifest(name: str = "t") -> Manifest:
    return Manifest.create(name=name, params={"collection": "s2"}, bands=BANDS)


@pytest.fixture
def index_file(tmp_path: Path) -> Path:
    path = tmp_path / "index.parquet"
    write_index(path, make_table(), make_manifest())
    return path


def test_roundtrip_table_and_manifest(index_file: Path) -> None:
    written = make_manifest()
    write_index(index_file, make_table(), written)
    table, manifest = read_index(index_file)
    assert table.equals(make_table())
    assert table.schema.metadata is None  # footer keys are not carried into memory
    assert manifest == written
    assert read_manifest(index_file).name == "t"


def test_geoparquet_metadata(index_file: Path) -> None:
    meta = pq.read_metadata(index_file)
    geo = json.loads(meta.metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    assert geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB"
    assert col["geometry_types"] == []
    assert "crs" not in col  # absent means OGC:CRS84 in GeoParquet
    assert col["bbox"] == [-122.5, 0.0, 11.0, 46.0]
    assert col["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert meta.row_group(0).column(0).compression == "ZSTD"
    stats = {
        meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i).is_stats_set
        for i in range(meta.num_columns)
    }
    assert stats["bbox.xmin"] and stats["datetime"]  # row-group pruning by space and time
    assert not stats["band:B04.ifds.list.element.tile_offsets.list.element"]  # footer stays small
    assert json.loads(meta.metadata[b"rasteret"])["schema_version"] == schema.SCHEMA_VERSION


def test_geopandas_reads_it(index_file: Path) -> None:
    gdf = geopandas.read_parquet(index_file)
    assert gdf.crs is not None and gdf.crs.equals("OGC:CRS84")
    assert gdf.crs.equals("EPSG:4326", ignore_axis_order=True)
    by_id = dict(zip(gdf["id"], gdf.geometry, strict=True))
    assert by_id["east"].equals(shapely.box(10.0, 45.0, 11.0, 46.0))
    assert len(gdf) == 3


def test_duckdb_reads_it_as_geometry(index_file: Path) -> None:
    con = spatial_connection()
    described = con.sql(f"DESCRIBE SELECT * FROM read_parquet('{index_file}')").fetchall()
    kinds = {row[0]: row[1] for row in described}
    assert str(kinds["geometry"]).startswith("GEOMETRY")
    (count,) = con.sql(
        f"SELECT count(*) FROM read_parquet('{index_file}') "
        "WHERE ST_Intersects(geometry, ST_MakeEnvelope(-123, 37, -121, 39))"
    ).fetchone()  # type: ignore[misc]
    assert count == 1
    (tiles,) = con.sql(
        f"SELECT \"band:B04\".ifds[1].tiles_across FROM read_parquet('{index_file}') LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    assert tiles == 4


def test_replace_keeps_old_file_when_rename_fails(
    index_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulates the last step failing (disk full, crash): patching the rename is the only
    # portable way to fail *after* the temp file is fully written.
    before = index_file.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("simulated failure at rename")

    monkeypatch.setattr(os, "replace", boom)
    monkeypatch.setattr(Path, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        write_index(index_file, make_table().slice(0, 1), make_manifest("new"))
    assert index_file.read_bytes() == before
    assert storage.temp_files(index_file) == []
    assert sorted(p.name for p in index_file.parent.iterdir()) == ["index.parquet"]


def test_failed_serialisation_leaves_no_temp(
    index_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = index_file.read_bytes()

    def broken_writer(*args: object, **kwargs: object) -> None:
        sink = args[1]
        sink.write(b"PAR1 half a file")  # type: ignore[attr-defined]
        raise pa.ArrowInvalid("simulated serialisation failure")

    monkeypatch.setattr(storage.pq, "write_table", broken_writer)
    with pytest.raises(pa.ArrowInvalid):
        write_index(index_file, make_table(), make_manifest())
    assert index_file.read_bytes() == before
    assert storage.temp_files(index_file) == []


def test_table_not_matching_schema_is_refused_before_writing(index_file: Path) -> None:
    before = index_file.read_bytes()
    with pytest.raises(IndexFormatError):
        write_index(index_file, make_table().drop_columns(["bbox"]), make_manifest())
    with pytest.raises(IndexFormatError, match="bands"):
        write_index(index_file, make_table(), Manifest.create(name="t", params={}, bands={}))
    assert index_file.read_bytes() == before


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.parquet"
    meta = make_manifest().to_dict() | {"schema_version": 99}
    table = make_table().replace_schema_metadata({b"rasteret": json.dumps(meta).encode()})
    pq.write_table(table, path)
    with pytest.raises(IndexFormatError, match=r"version 99 .*reads version 1"):
        read_index(path)
    with pytest.raises(IndexFormatError, match="99"):
        read_manifest(path)


@pytest.mark.parametrize("content", [None, b"", b"garbage", b"PAR1" + b"\0" * 20])
def test_missing_or_corrupt_files(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "x.parquet"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IndexFormatError):
        read_index(path)


def test_plain_parquet_without_manifest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": [1]}), path)
    with pytest.raises(IndexFormatError, match="manifest"):
        read_manifest(path)


def test_empty_index_roundtrips(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    write_index(path, records_to_table([], tuple(BANDS)), make_manifest())
    table, _ = read_index(path)
    assert table.num_rows == 0
    assert "bbox" not in json.loads(pq.read_metadata(path).metadata[b"geo"])["columns"]["geometry"]
