"""User datasets: registry entries kept in a JSON file beside the user's collections.

The built-in catalog (``data/sources.json``) is read-only package data. Users add their
own entries with the same layout to a file they own (by default
``<workspace>/datasets.json``); this module reads, merges and updates such a file. The
path is always an explicit argument, so tests and concurrent users each point at their
own file and no process-wide registry is ever mutated. Writes hold an ``fcntl`` lock
and replace the file atomically, so two registrations at once never lose one another
and a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from rasteret.errors import InvalidInputError
from rasteret.stac.sources import FORMAT_VERSION, DataSource, DataSourceRegistry

logger = logging.getLogger(__name__)

USER_FILE_NAME: Final = "datasets.json"
"""File name of the user's dataset registry inside a workspace."""


def load_user_registry(path: Path) -> DataSourceRegistry:
    """Read the user registry at ``path``; a missing file is an empty registry.

    Raises:
        InvalidInputError: The file exists but is not a valid registry (the message
            names the file, so the user knows what to fix).
    """
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return DataSourceRegistry({}, {})
    try:
        return DataSourceRegistry.from_json(text)
    except InvalidInputError as err:
        raise InvalidInputError("datasets_file", str(path), err.reason) from err


def merge(base: DataSourceRegistry, user: DataSourceRegistry) -> DataSourceRegistry:
    """Return ``base`` plus every entry and alias of ``user``.

    User ids never replace built-in ones (:func:`add_entry` refuses them), so the merge
    cannot silently change what a built-in id means.
    """
    merged = base
    for entry in user:
        if entry.id in base.sources:
            logger.warning("user dataset %r shadows a built-in id; ignored", entry.id)
            continue
        aliases = tuple(a for a, target in user.aliases.items() if target == entry.id)
        merged = merged.with_source(entry, aliases=aliases)
    return merged


def find(registry: DataSourceRegistry, dataset_id: object) -> DataSource:
    """Return the entry ``dataset_id`` names (an id or an alias).

    Raises:
        InvalidInputError: ``parameter="dataset"``; unknown ids list the closest known
            ones, because a typo is the usual cause.
    """
    if not isinstance(dataset_id, str) or not dataset_id.strip():
        raise InvalidInputError("dataset", dataset_id, "must be a non-empty string")
    entry = registry.lookup(dataset_id.strip())
    if entry is not None:
        return entry
    known = [*registry.ids(), *registry.aliases]
    close = difflib.get_close_matches(dataset_id, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    raise InvalidInputError(
        "dataset",
        dataset_id,
        f"unknown dataset; {hint}known ids: {', '.join(registry.ids())}",
    )


def add_entry(
    path: Path,
    entry: DataSource,
    *,
    builtin: DataSourceRegistry,
    replace: bool = False,
) -> None:
    """Add ``entry`` to the user registry file at ``path`` (created if missing).

    Args:
        path: The user's registry file.
        entry: The validated entry to store.
        builtin: The built-in registry, whose ids users may not take over.
        replace: Overwrite a user entry with the same id instead of refusing.

    Raises:
        InvalidInputError: ``parameter="dataset"`` when the id is built in, or already
            registered and ``replace`` is false.
    """
    if entry.id in builtin or entry.id in builtin.aliases:
        raise InvalidInputError(
            "dataset", entry.id, "is a built-in dataset id; register yours under another id"
        )
    with _locked(path):
        data = _read_raw(path)
        sources = data["sources"]
        if entry.id in sources and not replace:
            raise InvalidInputError(
                "dataset", entry.id, f"already registered in {path}; pass replace=True"
            )
        sources[entry.id] = entry.to_dict()
        _write_atomic(path, data)
    logger.info("registered dataset %s in %s", entry.id, path)


def remove_entry(path: Path, dataset_id: str) -> None:
    """Remove a user entry (and aliases pointing at it) from the file at ``path``.

    Raises:
        InvalidInputError: ``parameter="dataset"`` when the file holds no such entry.
    """
    with _locked(path):
        data = _read_raw(path)
        if dataset_id not in data["sources"]:
            raise InvalidInputError("dataset", dataset_id, f"not a user dataset in {path}")
        del data["sources"][dataset_id]
        data["aliases"] = {k: v for k, v in data["aliases"].items() if v != dataset_id}
        _write_atomic(path, data)


def _read_raw(path: Path) -> dict[str, Any]:
    """The file's JSON as plain dicts, validated by a full load first."""
    registry = load_user_registry(path)
    return {
        "format_version": FORMAT_VERSION,
        "sources": {entry.id: entry.to_dict() for entry in registry},
        "aliases": dict(registry.aliases),
    }


def _write_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON via a temp file and ``os.replace`` (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` while reading and rewriting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
