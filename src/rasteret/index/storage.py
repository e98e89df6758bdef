"""GeoParquet 1.1 write and read of the index, with the manifest in the footer.

Writes are atomic: the table goes to a temporary file in the target directory, is
fsynced, and replaces the old index with :func:`os.replace`; the directory is then
fsynced so the rename survives a crash. A reader therefore sees the old index or the
new one, never half a file, and a failed write leaves the old index untouched.

The ``geo`` metadata omits ``crs``, which GeoParquet defines as OGC:CRS84 (longitude,
latitude); GeoPandas and DuckDB both read it so. The ``bbox`` struct column is declared as
the geometry's covering so engines can skip row groups by bounding box.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rasteret.errors import IndexFormatError
from rasteret.index import schema
from rasteret.index.manifest import Manifest
from rasteret.index.pool import POOL

logger = logging.getLogger(__name__)

GEO_KEY = b"geo"
"""Parquet key-value metadata key of the GeoParquet metadata."""
MANIFEST_KEY = b"rasteret"
"""Parquet key-value metadata key of the manifest JSON."""
GEOPARQUET_VERSION = "1.1.0"
TEMP_SUFFIX = ".tmp"
"""Suffix of in-flight temporary files (``.<name>.<random>.tmp`` next to the target)."""

ROW_GROUP_SIZE = 1024
"""Rows per row group: small enough for bbox/datetime statistics to prune, large enough
that per-group overhead stays negligible (one row can hold thousands of tile offsets)."""


def temp_files(path: Path) -> list[Path]:
    """Leftover temporary files of interrupted writes to ``path`` (for cleanup under a lock)."""
    parent = Path(path).parent
    if not parent.is_dir():
        return []
    return sorted(parent.glob(f".{Path(path).name}.*{TEMP_SUFFIX}"))


def geo_metadata(table: pa.Table) -> dict[str, Any]:
    """GeoParquet 1.1 ``geo`` metadata for an index table (bbox over all rows when known)."""
    column: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": [],
        "covering": {
            "bbox": {name: [schema.BBOX, name] for name in schema.BBOX_FIELDS},
        },
    }
    if table.num_rows:
        bbox = table.column(schema.BBOX)
        lows = [pc.min(pc.struct_field(bbox, [i])).as_py() for i in (0, 1)]
        highs = [pc.max(pc.struct_field(bbox, [i])).as_py() for i in (2, 3)]
        if None not in lows and None not in highs:
            column["bbox"] = [*lows, *highs]
    return {
        "version": GEOPARQUET_VERSION,
        "primary_column": schema.GEOMETRY,
        "columns": {schema.GEOMETRY: column},
    }


def _fsync_dir(directory: Path) -> None:
    """Persist a rename in ``directory`` (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_index(path: Path, table: pa.Table, manifest: Manifest) -> None:
    """Atomically write ``table`` with ``manifest`` as a GeoParquet file at ``path``.

    The parent directory must exist: creating and cleaning collection directories is
    the workspace's job, so a failed build leaves no empty directory behind.

    Raises:
        IndexFormatError: ``table`` does not follow the index schema, or its band columns
            disagree with ``manifest.band_codes``.
    """
    path = Path(path)
    schema.check_schema(table.schema, source=str(path))
    codes = schema.band_codes_of(table.schema)
    if codes != tuple(manifest.band_codes):
        raise IndexFormatError(
            f"{path}: table bands {list(codes)} differ from manifest bands "
            f"{list(manifest.band_codes)}"
        )
    if manifest.schema_version != schema.SCHEMA_VERSION:
        raise IndexFormatError(
            f"{path}: manifest says schema version {manifest.schema_version}, this writer "
            f"writes version {schema.SCHEMA_VERSION}"
        )
    metadata = {
        GEO_KEY: json.dumps(geo_metadata(table)).encode(),
        MANIFEST_KEY: manifest.to_json().encode(),
    }
    table = table.replace_schema_metadata(metadata)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as sink:
            pq.write_table(
                table,
                sink,
                compression="zstd",
                row_group_size=ROW_GROUP_SIZE,
                # Statistics on the filterable columns only: tile-offset lists would bloat
                # the footer without ever pruning anything.
                write_statistics=[
                    schema.ID,
                    schema.DATETIME,
                    schema.START_DATETIME,
                    schema.END_DATETIME,
                    schema.CLOUD_COVER,
                    schema.EPSG,
                    *(f"{schema.BBOX}.{name}" for name in schema.BBOX_FIELDS),
                ],
            )
            sink.flush()
            os.fsync(sink.fileno())
        tmp.replace(path)  # os.replace: atomic within one filesystem
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    logger.debug("wrote index %s (%d rows)", path, table.num_rows)


def _open(path: Path) -> pq.ParquetReader:
    """The Parquet reader of ``path``, allocating from rasteret's pool.

    ``pq.ParquetFile`` and ``pq.read_metadata`` wrap this same reader but take no memory
    pool, so the footer and the table would come from pyarrow's default one (see
    :mod:`rasteret.index.pool`). One open serves both the footer and the table.
    """
    if not path.is_file():
        raise IndexFormatError(f"{path}: no index file there")
    reader = pq.ParquetReader(memory_pool=POOL)
    try:
        reader.open(str(path))
    except (OSError, pa.ArrowException) as err:
        raise IndexFormatError(f"{path}: not a readable Parquet file ({err})") from err
    return reader


def _manifest_of(path: Path, meta: pq.FileMetaData) -> Manifest:
    """The manifest in the footer ``meta`` of ``path``, checked for the schema version."""
    kv = meta.metadata or {}
    if MANIFEST_KEY not in kv:
        raise IndexFormatError(f"{path}: Parquet file has no rasteret manifest")
    raw = kv[MANIFEST_KEY]
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise IndexFormatError(f"{path}: rasteret manifest is not valid JSON") from err
    if not isinstance(data, dict):
        raise IndexFormatError(f"{path}: rasteret manifest is not a JSON object")
    version = data.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        raise IndexFormatError(
            f"{path}: index schema version {version!r} is not supported; this rasteret "
            f"reads version {schema.SCHEMA_VERSION} (rebuild the collection with force=True)"
        )
    try:
        return Manifest.from_dict(data)
    except IndexFormatError as err:
        raise IndexFormatError(f"{path}: {err}") from err


def read_manifest(path: Path) -> Manifest:
    """The manifest of the index at ``path``, reading only the footer.

    Raises:
        IndexFormatError: The file is missing, not Parquet, has no manifest, or was written
            with a schema version this rasteret does not read.
    """
    path = Path(path)
    reader = _open(path)
    try:
        return _manifest_of(path, reader.metadata)
    finally:
        reader.close()


def read_index(path: Path) -> tuple[pa.Table, Manifest]:
    """The index table (schema metadata dropped) and its manifest.

    Raises:
        IndexFormatError: As :func:`read_manifest`, or the columns do not match the schema.
    """
    path = Path(path)
    # a reader of its own, not read_table: that goes through pyarrow.dataset, whose
    # import pulls in pandas (~0.3 s), a cost every cold read would pay
    reader = _open(path)
    try:
        manifest = _manifest_of(path, reader.metadata)
        try:
            table = reader.read_all()
        except (OSError, pa.ArrowException) as err:
            raise IndexFormatError(f"{path}: could not read the index ({err})") from err
    finally:
        reader.close()
    schema.check_schema(table.schema, source=str(path))
    codes = schema.band_codes_of(table.schema)
    if codes != tuple(manifest.band_codes):
        raise IndexFormatError(
            f"{path}: band columns {list(codes)} differ from manifest {list(manifest.band_codes)}"
        )
    return table.replace_schema_metadata(None), manifest
