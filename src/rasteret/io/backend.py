"""Byte-range reads from object storage: the plug-in protocol and its obstore implementation.

Anything with ``get_range_async`` / ``get_ranges_async`` is a :class:`StorageBackend`;
rasteret never needs more. :class:`ObstoreBackend` is the built-in one: it routes each
URL (after :class:`~rasteret.io.cloud.CloudConfig` rewrites) to one obstore store per
(scheme, host or bucket), so every object on a host shares one connection pool.

Reads past the end of an object return the bytes that exist (a *short read*),
because a header reader asks for a generous prefix without knowing the file size.
What obstore 0.12.1 does on its own (measured against LocalStore, HTTPStore on
aiohttp, and S3Store on moto):

* ``range=(start, end)`` with ``start < size < end``: all three return the
  ``size - start`` bytes that exist (HTTP 206 / a short local read).
* ``start >= size``: LocalStore raises ``GenericError`` (``InvalidRange``,
  ``StartTooLarge``); HTTP and S3 raise ``GenericError`` for status 416. The backend
  then asks for the object's metadata (HEAD) and returns ``b""`` with it.
* ``obstore.get_ranges_async`` with a range starting past the end *panics* in Rust
  (a stack trace on stderr, then ``RustPanic``). So :meth:`ObstoreBackend.get_ranges_async`
  plans and coalesces ranges itself (:func:`coalesce_ranges`) and reads each merged
  range with one ``get_async`` call, clamping in Python.
* A server that ignores ``Range`` (HTTP 200 with the whole body) makes obstore raise
  ``NotSupportedError``; that is reported as a :class:`~rasteret.errors.FetchError`
  rather than silently downloading whole files.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import obstore
from obstore.exceptions import (
    BaseError,
    NotSupportedError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from obstore.store import AzureStore, GCSStore, HTTPStore, LocalStore, S3Store

from rasteret._version import __version__
from rasteret.errors import FetchError, InvalidInputError
from rasteret.io.cloud import CloudConfig
from rasteret.io.retry import (
    ProbeOutcome,
    RetryPolicy,
    ThrottleProbe,
    TransientFetchError,
    check_body_length,
    retry_async,
)
from rasteret.io.signing import SasTokenProvider, obstore_credential_provider
from rasteret.io.sync import mark_native_io, on_shutdown, run_sync
from rasteret.io.throttle import ProbeTarget, plan_probe, probe_once
from rasteret.io.urls import StoreKey, StoreKind, locate, redact_url

if TYPE_CHECKING:
    from obstore import GetResult
    from obstore import ObjectMeta as ObstoreMeta
    from obstore.store import ClientConfig, ObjectStore, RetryConfig

__all__ = [
    "MergedRange",
    "MetaRangeBackend",
    "ObjectMeta",
    "ObstoreBackend",
    "StorageBackend",
    "coalesce_ranges",
    "create_backend",
    "is_merge_gap",
]

DEFAULT_COALESCE = 1024 * 1024
"""Ranges closer than this many bytes are fetched in one request (obstore's default)."""
DEFAULT_MAX_MERGED = 32 * 1024 * 1024
"""A merged request never grows past this by absorbing neighbours (keeps reads parallel)."""
DEFAULT_MAX_RETRIES = 5
"""Retries of 5xx, connection errors and timeouts (obstore's own default is 10)."""
_MAX_STORES = 256  # distinct signed-URL tokens each get a store; bound the cache
_MAX_PARALLEL = 10  # merged requests in flight per get_ranges call, as obstore does

# obstore errors are reported as exception types plus text; these recover the facts
_STATUS_RE = re.compile(r"status code: (\d{3})")
_RETRIES_RE = re.compile(r"after (\d+) retries")
_UNSATISFIABLE_RE = re.compile(r"status code: 416|Requested range was invalid|StartTooLarge")
# A body stream cut off (obstore reports it without a retry count): worth another try.
_BODY_ERROR_RE = re.compile(r"body error|error decoding response body|IncompleteMessage")
_URL_TAIL_RE = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#]*)[?#]\S*")
_CREDENTIAL_PREFIXES = {"aws_": StoreKind.S3, "azure_": StoreKind.AZURE, "google_": StoreKind.GCS}

# Exceptions obstore raises for failed requests (it also uses builtin OSError/ValueError).
_OBSTORE_ERRORS = (BaseError, OSError, ValueError)


@dataclass(frozen=True, kw_only=True)
class ObjectMeta:
    """What the store said about an object, learned in the same request as its bytes."""

    size: int
    """Object size in bytes."""
    etag: str | None = None
    """Entity tag, so a later read can tell the object changed (None if not sent)."""
    last_modified: str | None = None
    """ISO 8601 timestamp of the last modification (None if not sent)."""


@runtime_checkable
class StorageBackend(Protocol):
    """What rasteret needs from storage: byte ranges by URL. Plug in your own.

    Ranges are half-open, ``[start, end)``. A range that runs past the end of the
    object returns only the bytes that exist (possibly ``b""``); header reading
    relies on that. Implementations raise :class:`~rasteret.errors.FetchError` for
    failures (404 included, with ``status=404``).

    An implementation may also have an integer ``coalesce`` attribute: the read engine
    then merges the ranges of one object lying closer than that many bytes into one call
    (by default those within :data:`DEFAULT_COALESCE`).
    """

    async def get_range_async(self, url: str, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)`` of ``url`` (fewer at the end of the object)."""
        ...

    async def get_ranges_async(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[bytes]:
        """Return one ``bytes`` per ``(starts[i], ends[i])`` range of ``url``, in order."""
        ...


@runtime_checkable
class MetaRangeBackend(StorageBackend, Protocol):
    """Optional extension: a range read that also reports size, ETag and Last-Modified.

    When a backend has it, the header reader learns the object's identity from the
    very request that fetched the header, with no extra HEAD.
    """

    async def get_range_with_meta_async(
        self, url: str, start: int, end: int
    ) -> tuple[bytes, ObjectMeta]:
        """Return bytes ``[start, end)`` of ``url`` and the object's metadata."""
        ...


def is_merge_gap(value: object) -> bool:
    """Whether ``value`` can be a ``coalesce`` gap: an integer (not a bool) >= 0."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True, kw_only=True)
class MergedRange:
    """One request that serves several caller ranges."""

    start: int
    """First byte requested."""
    end: int
    """One past the last byte requested."""
    members: tuple[int, ...]
    """Indices (into the caller's ranges) served by this request, in start order."""


def coalesce_ranges(
    starts: Sequence[int],
    ends: Sequence[int],
    *,
    gap: int = DEFAULT_COALESCE,
    max_size: int = DEFAULT_MAX_MERGED,
    gaps: Sequence[int] | None = None,
) -> list[MergedRange]:
    """Plan requests for byte ranges: merge ranges less than ``gap`` bytes apart.

    Overlapping ranges always merge; a neighbour merely within ``gap`` is absorbed
    only while the merged request stays within ``max_size``, so large reads stay
    parallel. Empty ranges (``start == end``) need no request and are left out.
    The result is sorted and its requests are disjoint. ``gaps`` may give, per range,
    the gap allowed after it instead of ``gap`` (the range reaching furthest decides).

    Raises:
        InvalidInputError: Mismatched lengths, negative or reversed ranges.
    """
    if len(starts) != len(ends):
        raise InvalidInputError(
            "ends", len(ends), f"must have as many entries as starts ({len(starts)})"
        )
    if gaps is not None and len(gaps) != len(starts):
        raise InvalidInputError(
            "gaps", len(gaps), f"must have as many entries as starts ({len(starts)})"
        )
    for start, end in zip(starts, ends, strict=True):
        _check_range(start, end)
    order = sorted((i for i in range(len(starts)) if ends[i] > starts[i]), key=lambda i: starts[i])
    plan: list[MergedRange] = []
    cur_start = cur_end = cur_gap = 0
    members: list[int] = []
    for i in order:
        start, end = starts[i], ends[i]
        if members and (
            start <= cur_end
            or (start - cur_end < cur_gap and max(end, cur_end) - cur_start <= max_size)
        ):
            if end > cur_end:
                cur_end, cur_gap = end, (gap if gaps is None else gaps[i])
            members.append(i)
            continue
        if members:
            plan.append(MergedRange(start=cur_start, end=cur_end, members=tuple(members)))
        cur_start, cur_end, members = start, end, [i]
        cur_gap = gap if gaps is None else gaps[i]
    if members:
        plan.append(MergedRange(start=cur_start, end=cur_end, members=tuple(members)))
    return plan


def _check_range(start: int, end: int) -> None:
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise InvalidInputError("start", start, "must be a non-negative integer")
    if isinstance(end, bool) or not isinstance(end, int) or end < start:
        raise InvalidInputError("end", end, f"must be an integer >= start ({start})")


def _object_meta(meta: ObstoreMeta) -> ObjectMeta:
    modified = meta.get("last_modified")
    return ObjectMeta(
        size=int(meta["size"]),
        etag=meta.get("e_tag"),
        last_modified=modified.isoformat() if modified is not None else None,
    )


def _fetch_error(err: BaseException, url: str, start: int | None, end: int | None) -> FetchError:
    """Translate an obstore error into a FetchError without leaking signed-URL tokens."""
    text = str(err)
    found = _STATUS_RE.search(text)
    status = int(found.group(1)) if found else None
    if isinstance(err, FileNotFoundError):
        status, what = 404, "object not found"
    elif isinstance(err, PermissionDeniedError):
        status, what = status or 403, "permission denied"
    elif isinstance(err, UnauthenticatedError):
        status, what = status or 401, "not authenticated"
    elif isinstance(err, NotSupportedError):
        what = "the server ignores HTTP Range requests"
    else:
        what = "read failed"
    retries = _RETRIES_RE.search(text)
    attempts = int(retries.group(1)) + 1 if retries else 1
    detail = _URL_TAIL_RE.sub(r"\1", text.strip().splitlines()[0] if text.strip() else "")
    message = f"{what}: {detail}" if detail else what
    return FetchError(
        message, url=redact_url(url), start=start, end=end, status=status, attempts=attempts
    )


def _classified(
    err: BaseException, url: str, start: int | None, end: int | None
) -> FetchError | TransientFetchError:
    """The FetchError for ``err``, wrapped as transient when another try may succeed.

    Transient: throttling (429/503, which obstore retried too quickly) and a body
    stream cut off. Everything else obstore either retried already (5xx, resets,
    timeouts) or is final (404, 403, a server that ignores Range).
    """
    error = _fetch_error(err, url, start, end)
    if error.status in (429, 503) or (
        error.status is None and _BODY_ERROR_RE.search(str(err)) is not None
    ):
        return TransientFetchError(error)
    return error


def _user_agent() -> str:
    return f"rasteret/{__version__}"


class ObstoreBackend:
    """The built-in :class:`StorageBackend` (and :class:`MetaRangeBackend`), on obstore.

    One store, hence one connection pool, per (scheme, host or bucket); stores are
    created on first use and reused for every object there. Safe to share between
    tasks and threads. Use :func:`create_backend` to make one.
    """

    def __init__(
        self,
        *,
        cloud_config: CloudConfig | None = None,
        credentials: Mapping[str, str] | None = None,
        client_options: Mapping[str, str] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        coalesce: int = DEFAULT_COALESCE,
        sas_provider: SasTokenProvider | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self._config = cloud_config if cloud_config is not None else CloudConfig()
        if not isinstance(self._config, CloudConfig):
            raise InvalidInputError(
                "cloud_config", type(cloud_config).__name__, "must be a CloudConfig or None"
            )
        self._credentials = _split_credentials(credentials or {})
        if sas_provider is not None and not callable(sas_provider):
            raise InvalidInputError(
                "sas_provider", type(sas_provider).__name__, "must be a SasTokenProvider"
            )
        self._sas_provider = sas_provider
        if self._config.anonymous and any(self._credentials.values()):
            raise InvalidInputError(
                "credentials", "<redacted>", "cannot be combined with CloudConfig(anonymous=True)"
            )
        options: dict[str, Any] = {
            "connect_timeout": "5s",
            "timeout": "30s",
            "user_agent": _user_agent(),
        }
        options.update(self._config.client_options)
        options.update(client_options or {})
        if self._config.allow_http:
            options["allow_http"] = True
        self._client_options: ClientConfig = options  # type: ignore[assignment]
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError("max_retries", max_retries, "must be an integer >= 0")
        self._retry: RetryConfig = {
            "max_retries": max_retries,
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=5),
                "base": 2,
            },
            "retry_timeout": timedelta(seconds=60),
        }
        if not is_merge_gap(coalesce):
            raise InvalidInputError("coalesce", coalesce, "must be an integer >= 0")
        self._coalesce = coalesce
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise InvalidInputError(
                "retry_policy", type(retry_policy).__name__, "must be a RetryPolicy or None"
            )
        # Retries obstore does not make (short bodies, throttling): see rasteret.io.retry.
        self._policy = retry_policy if retry_policy is not None else RetryPolicy()
        self._stores: OrderedDict[StoreKey, ObjectStore] = OrderedDict()
        self._lock = threading.Lock()
        on_shutdown(self.close)

    def __repr__(self) -> str:
        return f"ObstoreBackend(cloud_config={self._config!r}, stores={len(self._stores)})"

    @property
    def coalesce(self) -> int:
        """Ranges of one object closer than this many bytes are fetched as one request.

        The read engine plans its requests with it (it bounds and budgets requests, so it
        merges before calling :meth:`get_ranges_async`, which merges by the same rule).
        """
        return self._coalesce

    @property
    def cloud_config(self) -> CloudConfig:
        """The (secret-free) configuration this backend routes with."""
        return self._config

    def resolve(self, url: str) -> tuple[ObjectStore, str]:
        """Return the (cached) obstore store that serves ``url`` and the key within it.

        The URL is rewritten by the backend's :class:`CloudConfig` first.
        """
        location = locate(self._config.rewrite(url), azure_endpoint=self._config.azure_endpoint)
        return self._store(location.store), location.path

    def close(self) -> None:
        """Drop every cached store (and with it their connection pools)."""
        with self._lock:
            self._stores.clear()

    # -- async API --------------------------------------------------------------------

    async def get_range_with_meta_async(
        self, url: str, start: int, end: int
    ) -> tuple[bytes, ObjectMeta]:
        """Return bytes ``[start, end)`` of ``url`` and its metadata, in one request.

        Raises:
            FetchError: The object is missing (``status=404``) or unreadable.
            InvalidInputError: A negative or reversed range, or an unsupported URL.
        """
        _check_range(start, end)
        store, path = self.resolve(url)
        if start == end:
            return b"", await self._head(store, path, url)
        data, meta = await self._get(store, path, url, start, end)
        return bytes(data), meta

    async def get_range_async(self, url: str, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)`` of ``url``; fewer (maybe none) past its end."""
        data, _ = await self.get_range_with_meta_async(url, start, end)
        return data

    async def get_ranges_async(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> list[bytes]:
        """Return one ``bytes`` per range, coalescing nearby ranges into one request.

        Each merged request is clamped to the object in Python, so ranges past the
        end come back short or empty instead of failing.
        """
        plan = coalesce_ranges(starts, ends, gap=self._coalesce)
        out = [b""] * len(starts)
        if not plan:
            return out
        store, path = self.resolve(url)
        limit = asyncio.Semaphore(_MAX_PARALLEL)

        async def fetch(merged: MergedRange) -> None:
            async with limit:
                data, _ = await self._get(store, path, url, merged.start, merged.end)
            for i in merged.members:
                offset = starts[i] - merged.start
                out[i] = bytes(data[offset : offset + ends[i] - starts[i]])

        await asyncio.gather(*(fetch(m) for m in plan))
        return out

    async def get_ranges_with_meta_async(
        self, url: str, starts: Sequence[int], ends: Sequence[int]
    ) -> tuple[list[bytes | memoryview], ObjectMeta | None]:
        """:meth:`get_ranges_async` plus the object's metadata from the same responses.

        The ranges come back as read-only views of the responses' buffers (no copies:
        this is the read engine's path, where responses are megabytes of tiles).

        The read engine compares that metadata with the indexed size and ETag, so a
        changed object is caught without any extra request. The metadata is None
        only when every range was empty (no request was made). When this backend's
        own :class:`CloudConfig` sends ``url`` elsewhere (a mirror: https to s3, or
        another host), only the size is reported: ETags and timestamps are per
        origin, so they could not be compared with those the index recorded.

        Raises:
            FetchError: A range could not be read after retries.
        """
        plan = coalesce_ranges(starts, ends, gap=self._coalesce)
        out: list[bytes | memoryview] = [b""] * len(starts)
        if not plan:
            return out, None
        store, path = self.resolve(url)
        limit = asyncio.Semaphore(_MAX_PARALLEL)
        metas: list[ObjectMeta] = []

        async def fetch(merged: MergedRange) -> None:
            async with limit:
                data, meta = await self._get(store, path, url, merged.start, merged.end)
            metas.append(meta)
            for i in merged.members:
                offset = starts[i] - merged.start
                out[i] = data[offset : offset + ends[i] - starts[i]]

        if len(plan) == 1:  # the read engine's usual call: no task to schedule
            await fetch(plan[0])
        else:
            await asyncio.gather(*(fetch(m) for m in plan))
        if self._config.rewrite(url) != url:
            return out, ObjectMeta(size=metas[0].size)
        return out, metas[0]

    async def head_async(self, url: str) -> ObjectMeta:
        """Return the metadata of ``url`` without reading its bytes."""
        store, path = self.resolve(url)
        return await self._head(store, path, url)

    # -- sync twins (through the single bridge loop) ----------------------------------

    def get_range(self, url: str, start: int, end: int) -> bytes:
        """Blocking :meth:`get_range_async`."""
        return run_sync(self.get_range_async(url, start, end))

    def get_ranges(self, url: str, starts: Sequence[int], ends: Sequence[int]) -> list[bytes]:
        """Blocking :meth:`get_ranges_async`."""
        return run_sync(self.get_ranges_async(url, starts, ends))

    def get_range_with_meta(self, url: str, start: int, end: int) -> tuple[bytes, ObjectMeta]:
        """Blocking :meth:`get_range_with_meta_async`."""
        return run_sync(self.get_range_with_meta_async(url, start, end))

    def head(self, url: str) -> ObjectMeta:
        """Blocking :meth:`head_async`."""
        return run_sync(self.head_async(url))

    # -- internals ---------------------------------------------------------------------

    async def _get(
        self, store: ObjectStore, path: str, url: str, start: int, end: int
    ) -> tuple[memoryview, ObjectMeta]:
        """One range read, retried where obstore does not retry, length-checked.

        The bytes are a view of obstore's own buffer: no copy is made here, since a
        response can be megabytes and the copy would hold the GIL on the event loop.
        """

        async def once() -> tuple[memoryview, ObjectMeta]:
            data, meta = await self._get_once(store, path, url, start, end)
            status = None if isinstance(store, LocalStore) else 206
            check_body_length(
                data, url=redact_url(url), start=start, end=end, size=meta.size, status=status
            )
            return data, meta

        return await retry_async(once, policy=self._policy, probe=self._throttle_probe(url))

    async def _get_once(
        self, store: ObjectStore, path: str, url: str, start: int, end: int
    ) -> tuple[memoryview, ObjectMeta]:
        mark_native_io()
        try:
            result: GetResult = await obstore.get_async(
                store, path, options={"range": (start, end)}
            )
            data = await result.bytes_async()
        except _OBSTORE_ERRORS as err:
            if not _UNSATISFIABLE_RE.search(str(err)):
                raise _classified(err, url, start, end) from err
            # start >= size: learn the size; an empty read is then the right answer.
            meta = await self._head(store, path, url)
            if start >= meta.size:
                return memoryview(b""), meta
            raise _fetch_error(err, url, start, end) from err
        return memoryview(data), _object_meta(result.meta)

    async def _head(self, store: ObjectStore, path: str, url: str) -> ObjectMeta:
        async def once() -> ObjectMeta:
            mark_native_io()
            try:
                meta = await obstore.head_async(store, path)
            except _OBSTORE_ERRORS as err:
                raise _classified(err, url, None, None) from err
            return _object_meta(meta)

        return await retry_async(once, policy=self._policy, probe=self._throttle_probe(url))

    def _throttle_probe(self, url: str) -> ThrottleProbe:
        """Ask the server how long to wait after obstore gave up on a 429/503 for ``url``.

        Planned only when called (throttling is rare; range reads are not), and never
        raising: a URL the probe cannot reproduce answers "unknown", and the retry loop
        waits its fixed floor.
        """

        async def probe() -> ProbeOutcome:
            target = self._probe_target(url)
            if target is None:
                return ProbeOutcome()
            return await probe_once(target, sas_provider=self._sas_provider)

        return probe

    def _probe_target(self, url: str) -> ProbeTarget | None:
        rewritten = self._config.rewrite(url)
        try:
            location = locate(rewritten, azure_endpoint=self._config.azure_endpoint)
        except InvalidInputError:
            return None
        return plan_probe(
            rewritten,
            location,
            config=self._config,
            client_options=self._client_options,
            azure_credentials=_has_azure_credentials(self._credentials[StoreKind.AZURE]),
            has_sas_provider=self._sas_provider is not None,
        )

    def _store(self, key: StoreKey) -> ObjectStore:
        with self._lock:
            store = self._stores.get(key)
            if store is not None:
                self._stores.move_to_end(key)
                return store
            store = self._build_store(key)
            self._stores[key] = store
            if len(self._stores) > _MAX_STORES:
                self._stores.popitem(last=False)
            return store

    def _build_store(self, key: StoreKey) -> ObjectStore:
        cfg = self._config
        secrets = self._credentials[key.kind]
        common: dict[str, Any] = {
            "client_options": self._client_options,
            "retry_config": self._retry,
        }
        try:
            if key.kind is StoreKind.LOCAL:
                return LocalStore()
            if key.kind is StoreKind.HTTP:
                base = f"{key.scheme}://{key.authority}"
                if key.scheme == "http":
                    # The href itself says plain HTTP (a local mirror, a catalog on a LAN):
                    # that is the caller's explicit choice, not a downgrade to guard against.
                    common["client_options"] = {**self._client_options, "allow_http": True}
                return HTTPStore(f"{base}/?{key.query}" if key.query else base, **common)
            if key.kind is StoreKind.S3:
                s3: dict[str, Any] = dict(secrets)
                if cfg.region:
                    s3["region"] = cfg.region
                if cfg.endpoint:
                    s3["endpoint"] = cfg.endpoint
                    s3["virtual_hosted_style_request"] = False
                if cfg.requester_pays:
                    s3["request_payer"] = True
                if cfg.anonymous:
                    s3["skip_signature"] = True
                return S3Store(key.authority, config=s3, **common)  # type: ignore[arg-type]
            if key.kind is StoreKind.GCS:
                gcs: dict[str, Any] = dict(secrets)
                if cfg.anonymous:
                    gcs["skip_signature"] = True
                return GCSStore(key.authority, config=gcs, **common)  # type: ignore[arg-type]
            return self._azure_store(key, secrets, common)
        except _OBSTORE_ERRORS as err:
            # Never echo credential values (nor chain the error that might hold them).
            detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
            for value in secrets.values():
                if len(value) >= 4:
                    detail = detail.replace(value, "***")
            raise InvalidInputError(
                "cloud_config",
                f"{key.kind.value} store for {key.authority or 'local files'}",
                f"obstore refused the configuration: {detail} "
                f"(credential keys given: {sorted(secrets)})",
            ) from None

    def _azure_store(
        self, key: StoreKey, secrets: Mapping[str, str], common: dict[str, Any]
    ) -> AzureStore:
        """An AzureStore signed by the first that applies, else unsigned.

        Order: the href's own SAS, the SAS provider, given or environment credentials.
        Unsigned rather than obstore's fallback, which asks the VM metadata service
        (169.254.169.254) for a managed-identity token: off Azure that hangs until a
        timeout and then fails, even for a public container.
        """
        azure: dict[str, Any] = dict(secrets)
        if key.account:  # the URL names the account; a credentials alias would clash
            azure = {k: v for k, v in azure.items() if _azure_short_name(k) != "account_name"}
            azure["account_name"] = key.account
        if key.endpoint:
            azure["endpoint"] = f"{key.endpoint}/{key.account}"
            if key.endpoint.startswith("http://"):
                # The configured endpoint says plain HTTP (Azurite): the caller's choice.
                common = {**common, "client_options": {**self._client_options, "allow_http": True}}
        provider = None
        if key.query:
            azure["sas_key"] = key.query
        elif self._sas_provider is not None and not self._config.anonymous:
            provider = obstore_credential_provider(self._sas_provider, key.account, key.authority)
        elif self._config.anonymous or not _has_azure_credentials(secrets):
            azure["skip_signature"] = True
        return AzureStore(key.authority, config=azure, credential_provider=provider, **common)  # type: ignore[arg-type]


# Names (after the azure_/azure_storage_ prefix) that identify rather than authenticate.
_AZURE_NON_SECRET = frozenset(
    {"account_name", "container_name", "endpoint", "authority_host", "use_fabric_endpoint"}
)


def _has_azure_credentials(secrets: Mapping[str, str]) -> bool:
    """Whether obstore would find an Azure credential in ``secrets`` or the environment."""
    names = [k.lower() for k in secrets] + [
        k.lower() for k, v in os.environ.items() if k.upper().startswith("AZURE_") and v
    ]
    return any(
        _azure_short_name(name) not in _AZURE_NON_SECRET | {"skip_signature"} for name in names
    )


def _azure_short_name(name: str) -> str:
    """``azure_storage_account_key`` -> ``account_key`` (obstore accepts both spellings)."""
    return name.lower().removeprefix("azure_").removeprefix("storage_")


def _split_credentials(credentials: Mapping[str, str]) -> dict[StoreKind, dict[str, str]]:
    """Sort ``aws_*`` / ``azure_*`` / ``google_*`` credentials to the stores they sign for."""
    if not isinstance(credentials, Mapping):
        raise InvalidInputError("credentials", "<redacted>", "must be a mapping of str to str")
    split: dict[StoreKind, dict[str, str]] = {kind: {} for kind in StoreKind}
    for name, value in credentials.items():
        lowered = str(name).lower()
        kind = next((k for p, k in _CREDENTIAL_PREFIXES.items() if lowered.startswith(p)), None)
        if kind is None:
            raise InvalidInputError(
                "credentials",
                name,
                "keys must start with aws_, azure_ or google_ "
                "(e.g. aws_access_key_id, azure_storage_account_key, google_service_account)",
            )
        split[kind][lowered] = str(value)
    return split


def create_backend(
    *,
    cloud_config: CloudConfig | None = None,
    credentials: Mapping[str, str] | None = None,
    client_options: Mapping[str, str] | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    sas_provider: SasTokenProvider | None = None,
) -> ObstoreBackend:
    """Create the backend rasteret uses for range reads, e.g. to add credentials.

    Args:
        cloud_config: URL rewrites and store settings (requester pays, region,
            endpoint, azure_endpoint, anonymous, allow_http). Safe to persist; holds
            no secrets.
        credentials: Secrets, kept only in this backend and never written to the
            index. Keys use obstore's environment-style names with a provider
            prefix: ``aws_access_key_id``, ``aws_secret_access_key``,
            ``aws_session_token``; ``azure_storage_account_name``,
            ``azure_storage_account_key``, ``azure_storage_sas_key``;
            ``google_service_account``... Without them, each store reads the
            usual environment variables (``AWS_*``, ``AZURE_*``, ``GOOGLE_*``).
        client_options: obstore ``ClientConfig`` entries that override the config's
            (e.g. ``{"timeout": "60s"}``).
        max_retries: Retries for 5xx, dropped connections and timeouts, with
            exponential backoff (100 ms up to 5 s, at most 60 s per request).
        sas_provider: Signs Azure Blob reads at fetch time (e.g.
            :class:`~rasteret.io.signing.PlanetaryComputerSas`), once per container
            per token expiry, so indexes keep unsigned hrefs. An href that already
            carries a SAS uses its own.

    Example:
        >>> backend = create_backend(
        ...     cloud_config=CloudConfig(region="us-west-2", requester_pays=True),
        ...     credentials={"aws_access_key_id": "...", "aws_secret_access_key": "..."},
        ... )  # doctest: +SKIP
    """
    return ObstoreBackend(
        cloud_config=cloud_config,
        credentials=credentials,
        client_options=client_options,
        max_retries=max_retries,
        sas_provider=sas_provider,
    )
