"""Helpers for the build tests: static catalogs written from sample items."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest


def write_static_catalog(
    root: Path,
    collection: Mapping[str, Any],
    items: Iterable[Mapping[str, Any]],
    *,
    href_map: Callable[[str], str] | None = None,
) -> Path:
    """Write a minimal static catalog (catalog -> collection -> items), return catalog.json."""
    root.mkdir(parents=True, exist_ok=True)
    coll_id = collection["id"]
    coll_dir = root / coll_id
    (coll_dir / "items").mkdir(parents=True, exist_ok=True)
    item_links = []
    for original in items:
        item = json.loads(json.dumps(original))
        if href_map is not None:
            for asset in item["assets"].values():
                asset["href"] = href_map(asset["href"])
        item["links"] = [
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
        ]
        (coll_dir / "items" / f"{item['id']}.json").write_text(json.dumps(item))
        item_links.append(
            {"rel": "item", "href": f"./items/{item['id']}.json", "type": "application/geo+json"}
        )
    coll = {k: v for k, v in collection.items() if k != "links"}
    coll["links"] = [
        {"rel": "root", "href": "../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
        *item_links,
    ]
    (coll_dir / "collection.json").write_text(json.dumps(coll))
    catalog = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "test-root",
        "description": "build tests",
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            {"rel": "child", "href": f"./{coll_id}/collection.json", "type": "application/json"},
        ],
    }
    path = root / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


@pytest.fixture
def static_catalog_writer() -> Callable[..., Path]:
    """``write_static_catalog`` as a fixture, for tests that need their own catalog."""
    return write_static_catalog
