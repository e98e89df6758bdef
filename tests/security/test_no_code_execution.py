"""An index file is data: nothing in it is unpickled, evaluated or executed when it is read."""

from __future__ import annotations

import base64
import json
import pickle
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import rasteret
from rasteret.errors import IndexFormatError, RasteretError
from rasteret_sandbox import catalog as cat
from rasteret_sandbox.catalog import SampleCatalog

SRC = Path(rasteret.__file__).resolve().parent

_MODULES = r"(?:c?[pP]ickle|dill|cloudpickle|marshal|shelve|joblib)"
_DANGEROUS = re.compile(
    rf"\bimport {_MODULES}\b|\bfrom {_MODULES} import|\b{_MODULES}\.loads?\("
    r"|(?<![\w.])eval\(|(?<![\w.])exec\(|yaml\.load\(|yaml\.unsafe_load|__import__\("
    r"|py_extension_type|PyExtensionType|unregister_extension_type"
)


def test_source_has_no_unsafe_loaders() -> None:
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if _DANGEROUS.search(code):
                hits.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert hits == []


def test_the_grep_would_catch_them() -> None:
    for line in ("import pickle", "pickle.loads(b)", "x = eval(text)", "yaml.load(f)", "exec(c)"):
        assert _DANGEROUS.search(line), line
    assert not _DANGEROUS.search("obj.evaluate(x)")
    assert not _DANGEROUS.search("never crosses a pickle or a fork")


class _Payload:
    """Unpickling this creates ``marker`` (what an attacker's payload would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def index(sample_catalog: SampleCatalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    coll = rasteret.build_from_stac(
        name="pickled",
        stac_api=str(sample_catalog.static_catalog),
        collection="sentinel-2-l2a",
        data_source="pc/sentinel-2-l2a",
        bbox=cat.SF_BBOX,
        date_range=cat.JAN_MAR,
        workspace_dir=tmp_path_factory.mktemp("pickle-ws"),
        static_catalog=True,
    )
    assert coll.path is not None
    return coll.path


def _rewrite(index: Path, target: Path, marker: Path, *, into_manifest: bool) -> None:
    """Copy ``index`` with pickle payloads planted in its metadata."""
    table = pq.read_table(index)
    blob = pickle.dumps(_Payload(marker))
    meta = dict(table.schema.metadata or {})
    meta[b"pandas"] = blob  # pandas metadata is the classic place for a pickle
    meta[b"rasteret_pickle"] = blob
    if into_manifest:
        manifest = json.loads(meta[b"rasteret"])
        manifest["params"]["__reduce__"] = base64.b64encode(blob).decode()
        manifest["pickle"] = blob.decode("latin-1")
        meta[b"rasteret"] = json.dumps(manifest).encode()
    fields = []
    for original in table.schema:  # a pickled Python extension type on one column
        field = original
        if field.name == "id":
            field = field.with_metadata(
                {
                    b"ARROW:extension:name": b"arrow.py_extension_type",
                    b"ARROW:extension:metadata": blob,
                }
            )
        fields.append(field)
    schema = pa.schema(fields, metadata=meta)
    pq.write_table(table.cast(schema), target)


@pytest.mark.parametrize("into_manifest", [False, True])
def test_pickle_payload_in_index_metadata_is_not_executed(
    index: Path, tmp_path: Path, into_manifest: bool
) -> None:
    marker = tmp_path / "pwned"
    target = tmp_path / "evil" / "index.parquet"
    target.parent.mkdir()
    _rewrite(index, target, marker, into_manifest=into_manifest)
    try:
        coll = rasteret.load(target)
    except (IndexFormatError, RasteretError):
        coll = None  # refusing the file is fine too
    if coll is not None:
        repr(coll)
        coll.to_table()
        list(coll)
        coll.subset(bbox=cat.SF_BBOX)
    assert not marker.exists(), "a pickle in the index was executed"
