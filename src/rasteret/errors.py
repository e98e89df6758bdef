"""The one exception and warning hierarchy of rasteret.

Every error the library raises on purpose derives from :class:`RasteretError`, and
also from the builtin that fits, so ``except ValueError`` keeps working for callers
who do not know about rasteret.
"""

from __future__ import annotations


class RasteretError(Exception):
    """Root of every error rasteret raises on purpose."""


class InvalidInputError(RasteretError, ValueError):
    """A caller-supplied argument is malformed or out of range.

    The message always names the parameter and the offending value.
    """

    def __init__(self, parameter: str, value: object, reason: str) -> None:
        self.parameter = parameter
        self.value = value
        self.reason = reason
        super().__init__(f"{parameter}={value!r}: {reason}")


class TiffFormatError(RasteretError, ValueError):
    """Bytes that claim to be a TIFF are malformed, truncated or hostile."""


class UnsupportedTiffError(RasteretError, NotImplementedError):
    """A valid TIFF uses a feature rasteret does not read (named in the message)."""


class StacSearchError(RasteretError, RuntimeError):
    """The STAC API or static catalog could not be searched or returned bad data."""


class BandMappingError(RasteretError, KeyError):
    """Requested bands do not map onto the assets the items actually have."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep messages readable
        return str(self.args[0]) if self.args else ""


class NoItemsError(RasteretError, LookupError):
    """A search matched no items, so there is nothing to index."""


class FetchError(RasteretError, OSError):
    """A byte-range request failed after retries.

    Attributes:
        url: The object that was read (credentials stripped).
        start: First byte of the failed range, if any.
        end: One past the last byte of the failed range, if any.
        status: HTTP status code when the server sent one.
        attempts: How many attempts were made.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        start: int | None = None,
        end: int | None = None,
        status: int | None = None,
        attempts: int = 1,
    ) -> None:
        self.reason = message
        self.url = url
        self.start = start
        self.end = end
        self.status = status
        self.attempts = attempts
        where = url if start is None else f"{url} [{start}, {end})"
        extra = f", status {status}" if status is not None else ""
        super().__init__(f"{message} ({where}{extra}, {attempts} attempt(s))")

    def with_attempts(self, attempts: int) -> FetchError:
        """The same error with the total attempt count of an outer retry loop."""
        return FetchError(
            self.reason,
            url=self.url,
            start=self.start,
            end=self.end,
            status=self.status,
            attempts=attempts,
        )


class StaleSourceError(RasteretError, RuntimeError):
    """An indexed object changed after the build, so its indexed tile layout is wrong.

    Reading on would decode the wrong bytes; rebuild the collection (``force=True``)
    or pass ``on_stale="reindex"`` to the read.

    Attributes:
        url: The object that changed (credentials stripped).
        changed: What differs, as ``{field: (indexed, now)}`` (``size``, ``etag``,
            ``last_modified``).
    """

    def __init__(self, url: str, changed: dict[str, tuple[object, object]]) -> None:
        self.url = url
        self.changed = changed
        what = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
        super().__init__(
            f"{url} changed since it was indexed ({what}); rebuild the collection with "
            "force=True or read with on_stale='reindex'"
        )


class BuildError(RasteretError, RuntimeError):
    """A collection build could not produce an index (e.g. no header was readable)."""


class IndexFormatError(RasteretError, ValueError):
    """An index file is missing, corrupt, or written by an unknown schema version."""


class CollectionNotFoundError(RasteretError, FileNotFoundError):
    """No collection of that name exists in the workspace."""


class MissingDependencyError(RasteretError, ModuleNotFoundError):
    """An optional package a feature needs is not installed (the message names the extra).

    A :class:`ModuleNotFoundError` too, so ``except ImportError`` around an optional
    feature keeps working.

    Attributes:
        module: The package that could not be imported.
        extra: The rasteret extra that installs it (``pip install 'rasteret[extra]'``).
        feature: What the user asked for.
    """

    def __init__(self, module: str, extra: str, feature: str) -> None:
        self.module = module
        self.extra = extra
        self.feature = feature
        super().__init__(
            f"{feature} needs the optional package {module!r}: pip install 'rasteret[{extra}]'",
            name=module,
        )


class InputFileNotFoundError(InvalidInputError, FileNotFoundError):
    """A file a caller named as input (``--points``, ``--geojson``) does not exist.

    An :class:`InvalidInputError` (it names the parameter and the path) that is also a
    :class:`FileNotFoundError`, so the command line reports it as "not found" (exit 3)
    and ``except FileNotFoundError`` keeps working.
    """


class RasteretWarning(UserWarning):
    """Base class of every warning rasteret emits, so users can filter them."""


class PartialBuildWarning(RasteretWarning):
    """Some asset headers could not be read; their layouts are null in the index."""


class UnsupportedReadError(RasteretError, NotImplementedError):
    """A read asks for something this version cannot do yet (named in the message)."""


class MixedGridWarning(RasteretWarning):
    """Scenes of one read are on several CRSs or resolutions; one was chosen for all."""


class ShardFailedError(BuildError):
    """Shards of a distributed build failed, so nothing was written.

    Attributes:
        failures: Shard label -> why it failed (``"StacSearchError: ..."``), one entry
            per failed shard, in shard order.
    """

    def __init__(self, name: str, failures: dict[str, str], total: int) -> None:
        self.failures = dict(failures)
        listed = "; ".join(f"{label}: {reason}" for label, reason in self.failures.items())
        super().__init__(
            f"collection {name!r}: {len(self.failures)} of {total} shard(s) failed, nothing "
            f"was written (any previous index is unchanged): {listed}"
        )
