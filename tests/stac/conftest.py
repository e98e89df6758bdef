"""Fixtures for the stac tests: a static catalog on disk, a tiny scripted STAC API,
an HTTP file server, and a progress recorder.

The scripted API (``fake_stac_api``) exists so paging, retries, duplicate handling and
error wrapping can be tested deterministically without the pgstac server; behaviour
against a real STAC implementation is covered by the ``stac_api``-marked tests.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

STAC_VERSION = "1.0.0"


# --------------------------------------------------------------------------- progress


@dataclass
class RecordingProgress:
    updates: list[int] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    def update(self, n: int) -> None:
        self.updates.append(n)

    def set_total(self, n: int) -> None:
        self.totals.append(n)


@pytest.fixture
def progress() -> RecordingProgress:
    return RecordingProgress()


# --------------------------------------------------------------------------- static catalog


def _polygon(minx: float, miny: float, maxx: float, maxy: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]],
    }


def _item(
    item_id: str,
    box: tuple[float, float, float, float],
    properties: dict[str, Any],
    *,
    collection: str,
    depth: int,
    assets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    up = "../" * depth
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "id": item_id,
        "collection": collection,
        "geometry": _polygon(*box),
        "bbox": list(box),
        "properties": properties,
        "links": [
            {"rel": "root", "href": f"{up}../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": f"{up}collection.json", "type": "application/json"},
            {"rel": "collection", "href": f"{up}collection.json", "type": "application/json"},
        ],
        "assets": assets
        if assets is not None
        else {
            "red": {
                "href": f"./{item_id}_red.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
            },
            "shared": {"href": "../../shared/mask.tif", "type": "image/tiff"},
            "remote": {"href": "https://example.com/data/x.tif", "type": "image/tiff"},
            "thumbnail": {"href": "./thumb.png", "type": "image/png", "roles": ["thumbnail"]},
        },
    }


def _collection(
    collection_id: str, item_links: list[str], child_links: list[str]
) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": collection_id,
        "description": f"test collection {collection_id}",
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [["2023-01-01T00:00:00Z", None]]},
        },
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
            *({"rel": "item", "href": h, "type": "application/json"} for h in item_links),
            *({"rel": "child", "href": h, "type": "application/json"} for h in child_links),
        ],
    }


# id -> (bbox, properties); "f" sits in a sub-catalog below the collection.
STATIC_ITEMS: dict[str, tuple[tuple[float, float, float, float], dict[str, Any]]] = {
    "a": (
        (10, 10, 11, 11),
        {
            "datetime": "2024-01-15T10:00:00Z",
            "eo:cloud_cover": 5,
            "platform": "sentinel-2a",
            "tags": ["x", "y"],
        },
    ),
    "b": (
        (20, 20, 21, 21),
        {"datetime": "2024-02-20T10:00:00Z", "eo:cloud_cover": 50, "platform": "sentinel-2b"},
    ),
    "c": (
        (179, 0, 180, 1),
        {"datetime": "2024-03-31T23:00:00Z", "eo:cloud_cover": 20, "platform": "sentinel-2a"},
    ),
    "d": (
        (-180, 0, -179, 1),
        {"datetime": "2024-04-01T00:00:00Z", "eo:cloud_cover": 10, "platform": "landsat-8"},
    ),
    "e": (
        (30, -5, 31, -4),
        {
            "datetime": None,
            "start_datetime": "2023-12-01T00:00:00Z",
            "end_datetime": "2024-01-05T00:00:00Z",
            "platform": "sentinel-2b",
        },
    ),
    "f": (
        (40, 40, 41, 41),
        {"datetime": "2024-03-01T00:00:00Z", "eo:cloud_cover": 0, "platform": "landsat-9"},
    ),
}


def write_static_catalog(root: Path) -> Path:
    """Write catalog.json -> {s2, other}/collection.json -> items, all links relative."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "catalog.json").write_text(
        json.dumps(
            {
                "type": "Catalog",
                "stac_version": STAC_VERSION,
                "id": "root",
                "description": "test root catalog",
                "links": [
                    {"rel": "root", "href": "./catalog.json", "type": "application/json"},
                    {"rel": "child", "href": "./s2/collection.json", "type": "application/json"},
                    {"rel": "child", "href": "./other/collection.json", "type": "application/json"},
                ],
            }
        )
    )
    top = [i for i in STATIC_ITEMS if i != "f"]
    s2 = root / "s2"
    (s2 / "sub").mkdir(parents=True)
    (s2 / "collection.json").write_text(
        json.dumps(
            _collection("s2", [f"./items/{i}/{i}.json" for i in top], ["./sub/catalog.json"])
        )
    )
    for item_id in top:
        box, props = STATIC_ITEMS[item_id]
        folder = s2 / "items" / item_id
        folder.mkdir(parents=True)
        item = _item(item_id, box, props, collection="s2", depth=2)
        (folder / f"{item_id}.json").write_text(json.dumps(item))
    # A sub-catalog inside the collection, holding item "f".
    (s2 / "sub" / "catalog.json").write_text(
        json.dumps(
            {
                "type": "Catalog",
                "stac_version": STAC_VERSION,
                "id": "sub",
                "description": "nested",
                "links": [
                    {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
                    {"rel": "parent", "href": "../collection.json", "type": "application/json"},
                    {"rel": "item", "href": "./f/f.json", "type": "application/json"},
                ],
            }
        )
    )
    (s2 / "sub" / "f").mkdir()
    box, props = STATIC_ITEMS["f"]
    item_f = _item("f", box, props, collection="s2", depth=2)
    item_f["links"] = [
        {"rel": "root", "href": "../../../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
    ]
    (s2 / "sub" / "f" / "f.json").write_text(json.dumps(item_f))

    other = root / "other"
    (other / "items" / "z").mkdir(parents=True)
    (other / "collection.json").write_text(
        json.dumps(_collection("other", ["./items/z/z.json"], []))
    )
    (other / "items" / "z" / "z.json").write_text(
        json.dumps(
            _item(
                "z", (0, 0, 1, 1), {"datetime": "2024-01-01T00:00:00Z"}, collection="other", depth=2
            )
        )
    )
    return root / "catalog.json"


@pytest.fixture
def static_catalog(tmp_path: Path) -> Path:
    """Path of the root catalog.json of a freshly written static catalog."""
    return write_static_catalog(tmp_path / "catalog")


# --------------------------------------------------------------------------- HTTP servers


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_static_catalog(tmp_path: Path) -> Iterator[str]:
    """URL of catalog.json of a static catalog served over HTTP from tmp_path."""
    root = tmp_path / "served"
    write_static_catalog(root)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for base in _serve(server):
        yield f"{base}/catalog.json"


@dataclass
class FakeStacApi:
    """A scripted STAC API: collections, items, forced failures, and a request log."""

    url: str = ""
    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail_search_with: list[int] = field(default_factory=list)
    """Statuses returned (in order) by the next /search requests before normal service."""
    report_matched: bool = True
    conforms_to_query: bool = True
    search_bodies: list[dict[str, Any]] = field(default_factory=list)

    def add(self, collection: str, item_ids: list[str]) -> None:
        self.collections[collection] = [
            {
                "type": "Feature",
                "stac_version": STAC_VERSION,
                "id": item_id,
                "collection": collection,
                "geometry": _polygon(0, 0, 1, 1),
                "bbox": [0, 0, 1, 1],
                "properties": {"datetime": "2024-01-01T00:00:00Z"},
                "links": [],
                "assets": {
                    "red": {"href": f"https://example.com/{item_id}.tif", "type": "image/tiff"}
                },
            }
            for item_id in item_ids
        ]

    def landing(self) -> dict[str, Any]:
        conforms = [
            "https://api.stacspec.org/v1.0.0/core",
            "https://api.stacspec.org/v1.0.0/item-search",
            "https://api.stacspec.org/v1.0.0/collections",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        ]
        if self.conforms_to_query:
            conforms.append("https://api.stacspec.org/v1.0.0/item-search#query")
        return {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": "fake",
            "description": "scripted STAC API",
            "conformsTo": conforms,
            "links": [
                {"rel": "self", "href": f"{self.url}/", "type": "application/json"},
                {"rel": "root", "href": f"{self.url}/", "type": "application/json"},
                {"rel": "data", "href": f"{self.url}/collections", "type": "application/json"},
                {
                    "rel": "search",
                    "href": f"{self.url}/search",
                    "method": "POST",
                    "type": "application/geo+json",
                },
            ],
        }

    def collection_json(self, collection_id: str) -> dict[str, Any]:
        return {
            "type": "Collection",
            "stac_version": STAC_VERSION,
            "id": collection_id,
            "description": collection_id,
            "license": "CC-BY-4.0",
            "extent": {
                "spatial": {"bbox": [[-180, -90, 180, 90]]},
                "temporal": {"interval": [[None, None]]},
            },
            "links": [
                {"rel": "self", "href": f"{self.url}/collections/{collection_id}"},
                {"rel": "root", "href": f"{self.url}/"},
            ],
        }

    def search(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.search_bodies.append(body)
        if self.fail_search_with:
            status = self.fail_search_with.pop(0)
            return status, {"code": "Error", "description": f"scripted {status}"}
        items = [i for c in body.get("collections", []) for i in self.collections.get(c, [])]
        start = int(body.get("token", 0))
        limit = int(body.get("limit", 10))
        page = items[start : start + limit]
        result: dict[str, Any] = {"type": "FeatureCollection", "features": page, "links": []}
        if self.report_matched:
            result["numberMatched"] = len(items)
        if start + limit < len(items):
            result["links"].append(
                {
                    "rel": "next",
                    "href": f"{self.url}/search",
                    "method": "POST",
                    "body": {**body, "token": start + limit},
                    "merge": False,
                }
            )
        return 200, result


def _api_handler(api: FakeStacApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "":
                self._send(200, api.landing())
            elif path == "/collections":
                self._send(
                    200,
                    {"collections": [api.collection_json(c) for c in api.collections], "links": []},
                )
            elif path.startswith("/collections/"):
                cid = path.removeprefix("/collections/")
                if cid in api.collections:
                    self._send(200, api.collection_json(cid))
                else:
                    self._send(404, {"code": "NotFoundError", "description": f"{cid} not found"})
            else:
                self._send(404, {"code": "NotFoundError", "description": path})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/") != "/search":
                self._send(404, {"code": "NotFoundError", "description": self.path})
                return
            status, payload = api.search(body)
            self._send(status, payload)

    return Handler


@pytest.fixture
def fake_stac_api() -> Iterator[FakeStacApi]:
    """A scripted STAC API on 127.0.0.1 (see :class:`FakeStacApi`)."""
    api = FakeStacApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _api_handler(api))
    for base in _serve(server):
        api.url = base
        yield api


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on 127.0.0.1 whose port has nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
