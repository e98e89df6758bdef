"""JSON-ready descriptions of collections and datasets, shared by several commands."""

from __future__ import annotations

from typing import Any

from rasteret.collection import Collection
from rasteret.stac import DataSource


def collection_summary(collection: Collection) -> dict[str, Any]:
    """The short form: what ``collections list`` and ``build`` print."""
    span = collection.datetime_range
    return {
        "name": collection.name,
        "path": str(collection.path) if collection.path is not None else None,
        "scenes": len(collection),
        "bands": list(collection.bands),
        "bounds": list(collection.bounds) if collection.bounds is not None else None,
        "date_range": [span[0].isoformat(), span[1].isoformat()] if span else None,
        "crs": [f"EPSG:{code}" for code in collection.crs],
    }


def collection_details(collection: Collection) -> dict[str, Any]:
    """The long form of ``collections info``: build parameters, summary, failures."""
    manifest = collection.manifest
    return {
        **collection_summary(collection),
        "created": manifest.created,
        "rasteret_version": manifest.rasteret_version,
        "schema_version": manifest.schema_version,
        "params": dict(manifest.params),
        "summary": manifest.summary.to_dict(),
        "failures": [failure.to_dict() for failure in manifest.failures],
        "scene_ids": [scene.id for scene in collection],
    }


def dataset_summary(entry: DataSource, *, builtin: bool) -> dict[str, Any]:
    """One line of ``datasets list``."""
    return {
        "id": entry.id,
        "title": entry.title,
        "collection": entry.collection,
        "stac_api": entry.stac_api,
        "license": entry.license,
        "builtin": builtin,
    }


def dataset_details(entry: DataSource, *, builtin: bool) -> dict[str, Any]:
    """Everything ``datasets info`` shows: the entry as stored, plus its id."""
    return {"id": entry.id, "builtin": builtin, **entry.to_dict()}
