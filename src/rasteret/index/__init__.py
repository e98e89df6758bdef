"""The local index: Parquet schema, STAC records to Arrow, GeoParquet I/O, workspace, manifest.

Everything a build writes and a collection reads goes through this package, so the
on-disk format is defined in one place (:mod:`rasteret.index.schema`).
"""

from rasteret.index.manifest import BuildSummary, Failure, Manifest, fingerprint
from rasteret.index.records import BandRecord, ItemRecord, records_to_table, strip_secrets
from rasteret.index.schema import (
    SCHEMA_VERSION,
    band_column,
    header_to_struct,
    headers_from_array,
    index_schema,
    struct_to_header,
)
from rasteret.index.storage import read_index, read_manifest, write_index
from rasteret.index.workspace import Workspace, WorkspaceLockTimeoutError, validate_name

__all__ = [
    "SCHEMA_VERSION",
    "BandRecord",
    "BuildSummary",
    "Failure",
    "ItemRecord",
    "Manifest",
    "Workspace",
    "WorkspaceLockTimeoutError",
    "band_column",
    "fingerprint",
    "header_to_struct",
    "headers_from_array",
    "index_schema",
    "read_index",
    "read_manifest",
    "records_to_table",
    "strip_secrets",
    "struct_to_header",
    "validate_name",
    "write_index",
]
