"""Storage: URL routing to obstore stores, cloud settings, and the sync bridge.

Public surface: :class:`StorageBackend` (what users plug in), :class:`MetaRangeBackend`
(its optional size/ETag extension), :class:`ObjectMeta`, :class:`ObstoreBackend` and
:func:`create_backend` (the built-in backend), :class:`CloudConfig`, and read-time Azure
signing (:class:`SasTokenProvider`, :class:`PlanetaryComputerSas`). The sync bridge
lives in :mod:`rasteret.io.sync`.
"""

from rasteret.io.backend import (
    MetaRangeBackend,
    ObjectMeta,
    ObstoreBackend,
    StorageBackend,
    create_backend,
)
from rasteret.io.cloud import CloudConfig, s3_https_rewrites
from rasteret.io.signing import PlanetaryComputerSas, SasToken, SasTokenProvider

__all__ = [
    "CloudConfig",
    "MetaRangeBackend",
    "ObjectMeta",
    "ObstoreBackend",
    "PlanetaryComputerSas",
    "SasToken",
    "SasTokenProvider",
    "StorageBackend",
    "create_backend",
    "s3_https_rewrites",
]
