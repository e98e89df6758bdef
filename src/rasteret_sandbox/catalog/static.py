"""The PC-style static Sentinel-2 catalog on disk, and atomic writes of its JSON files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rasteret_sandbox.catalog._stac import _collection


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a concurrent reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _write_static_catalog(folder: Path, items: list[dict[str, Any]]) -> Path:
    """Write ``catalog.json -> sentinel-2-l2a/collection.json -> items/*.json``, relative links.

    Relative links make the same tree readable from disk and over HTTP.
    """
    coll_dir = folder / "sentinel-2-l2a"
    items_dir = coll_dir / "items"
    items_dir.mkdir(parents=True, exist_ok=True)
    catalog = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "pc-sample",
        "description": "Planetary-Computer-style static Sentinel-2 L2A catalog (offline).",
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            {"rel": "child", "href": "./sentinel-2-l2a/collection.json",
             "type": "application/json"},
        ],
    }  # fmt: skip
    collection = _collection("sentinel-2-l2a", items)
    collection["links"] = [
        {"rel": "root", "href": "../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
    ] + [
        {"rel": "item", "href": f"./items/{i['id']}.json", "type": "application/geo+json"}
        for i in items
    ]
    for item in items:
        doc = dict(item)
        doc["links"] = [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        ]
        _atomic_write(items_dir / f"{item['id']}.json", json.dumps(doc, indent=1))
    _atomic_write(coll_dir / "collection.json", json.dumps(collection, indent=1))
    _atomic_write(folder / "catalog.json", json.dumps(catalog, indent=1))
    return folder / "catalog.json"
