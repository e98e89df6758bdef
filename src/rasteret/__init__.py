"""rasteret: index COG headers from STAC once, then read satellite pixels fast.

``build_from_stac`` searches a STAC API or static catalog, parses every matching
Cloud-Optimized GeoTIFF header once and keeps scene metadata plus each asset's tile
layout in a local GeoParquet index; the returned :class:`Collection` filters that
index without touching the network. ``build_from_stac_distributed`` builds the same
index from date/space shards on Dask workers.
"""

from rasteret._version import __version__
from rasteret.adapters.dask_build import build_from_stac_distributed
from rasteret.build.datasets import (
    build,
    dataset_info,
    datasets,
    register_dataset,
    unregister_dataset,
)
from rasteret.build.pipeline import build_from_stac, build_from_stac_async
from rasteret.collection import Collection, as_collection, load
from rasteret.errors import (
    BandMappingError,
    BuildError,
    CollectionNotFoundError,
    FetchError,
    IndexFormatError,
    InputFileNotFoundError,
    InvalidInputError,
    MissingDependencyError,
    MixedGridWarning,
    NoItemsError,
    PartialBuildWarning,
    RasteretError,
    RasteretWarning,
    ShardFailedError,
    StacSearchError,
    StaleSourceError,
    TiffFormatError,
    UnsupportedReadError,
    UnsupportedTiffError,
)
from rasteret.io import CloudConfig, ObjectMeta, StorageBackend, create_backend

__all__ = [
    "BandMappingError",
    "BuildError",
    "CloudConfig",
    "Collection",
    "CollectionNotFoundError",
    "FetchError",
    "IndexFormatError",
    "InputFileNotFoundError",
    "InvalidInputError",
    "MissingDependencyError",
    "MixedGridWarning",
    "NoItemsError",
    "ObjectMeta",
    "PartialBuildWarning",
    "RasteretError",
    "RasteretWarning",
    "ShardFailedError",
    "StacSearchError",
    "StaleSourceError",
    "StorageBackend",
    "TiffFormatError",
    "UnsupportedReadError",
    "UnsupportedTiffError",
    "__version__",
    "as_collection",
    "build",
    "build_from_stac",
    "build_from_stac_async",
    "build_from_stac_distributed",
    "create_backend",
    "dataset_info",
    "datasets",
    "load",
    "register_dataset",
    "unregister_dataset",
]
