"""Storage: URL routing to obstore stores, cloud settings, and the sync bridge.

Public surface: :class:`StorageBackend` (what users plug in), :class:`MetaRangeBackend`
(its optional size/ETag extension), :class:`ObjectMeta`, :class:`ObstoreBackend` and
:func:`create_backend` (the built-in backend), :class:`CloudConfig`. The sync bridge
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

__all__ = [
    "CloudConfig",
    "MetaRangeBackend",
    "ObjectMeta",
    "ObstoreBackend",
    "StorageBackend",
    "create_backend",
    "s3_https_rewrites",
]
