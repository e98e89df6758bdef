"""The exception hierarchy: one root, every error exported, old import paths kept.

Callers catch :class:`rasteret.RasteretError` to handle anything rasteret raises on
purpose, so every error class must derive from it and be reachable from the package
root; errors that moved into :mod:`rasteret.errors` stay importable from where they were.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import rasteret
from rasteret import errors
from rasteret.adapters import _optional
from rasteret.cli.app import exit_code_for
from rasteret.cli.common import ExitCode, input_file


def _error_classes() -> list[type[errors.RasteretError]]:
    return [
        cls
        for _name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.RasteretError) and cls.__module__ == errors.__name__
    ]


@pytest.mark.parametrize("name", ["MissingDependencyError", "StaleSourceError"])
def test_named_errors_are_exported_under_the_root(name: str) -> None:
    cls = getattr(rasteret, name)
    assert name in rasteret.__all__
    assert cls is getattr(errors, name)
    assert issubclass(cls, rasteret.RasteretError)


def test_every_error_class_is_exported_from_the_package() -> None:
    missing = [cls.__name__ for cls in _error_classes() if cls.__name__ not in rasteret.__all__]
    assert not missing, f"not in rasteret.__all__: {missing}"


def test_missing_dependency_error_keeps_its_old_home_and_import_error_base() -> None:
    assert _optional.MissingDependencyError is errors.MissingDependencyError
    err = errors.MissingDependencyError("matplotlib", "plot", "Collection.plot")
    assert isinstance(err, ModuleNotFoundError)
    assert err.name == "matplotlib"
    assert "rasteret[plot]" in str(err)


def test_missing_input_file_is_rasteret_error_and_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.geojson"
    with pytest.raises(errors.InputFileNotFoundError) as info:
        input_file("--geojson", str(path))
    err = info.value
    assert isinstance(err, errors.InvalidInputError)
    assert isinstance(err, FileNotFoundError)  # `except FileNotFoundError` keeps working
    assert (err.parameter, err.value) == ("--geojson", str(path))
    assert exit_code_for(err) is ExitCode.NOT_FOUND
    assert exit_code_for(errors.InvalidInputError("--out", "x", "bad")) is ExitCode.USAGE
