"""The workspace: a directory of named collections, ``<root>/<name>/index.parquet``.

Names are validated so that no name can address a path outside the root. Builds of
the same name serialise on an ``fcntl.flock`` lock file inside the collection
directory; a build that fails before writing leaves nothing behind (the directory is
removed again if that build created it).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from rasteret.errors import CollectionNotFoundError, InvalidInputError, RasteretError
from rasteret.index.storage import temp_files

logger = logging.getLogger(__name__)

ENV_VAR = "RASTERET_WORKSPACE"
"""Environment variable naming the default workspace root."""
DEFAULT_ROOT = Path("~/rasteret_workspace")
INDEX_FILE = "index.parquet"
LOCK_FILE = ".lock"
STAGING_PREFIX = ".staging-"
"""Prefix of the directories where a sharded build's workers write their parts."""
MAX_NAME_LENGTH = 128

_NAME = re.compile(r"[A-Za-z0-9._-]+")


class WorkspaceLockTimeoutError(RasteretError, TimeoutError):
    """Another process held a collection's build lock for longer than the timeout."""


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe collection name, else raise.

    Allowed: 1-128 characters from ``[A-Za-z0-9._-]``, not starting with a dot and not
    containing ``..``. This excludes path separators, absolute paths, parent references,
    hidden files and anything a shell or a filesystem treats specially.

    Raises:
        InvalidInputError: The name is not allowed (the message says why).
    """
    if not isinstance(name, str):
        raise InvalidInputError("name", name, "must be a string")
    if not name:
        raise InvalidInputError("name", name, "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError("name", name, f"longer than {MAX_NAME_LENGTH} characters")
    if "/" in name or "\\" in name or os.sep in name:
        raise InvalidInputError("name", name, "must not contain path separators")
    if ".." in name:
        raise InvalidInputError("name", name, "must not contain '..'")
    if name.startswith("."):
        raise InvalidInputError("name", name, "must not start with a dot")
    if not _NAME.fullmatch(name):
        raise InvalidInputError("name", name, "only letters, digits, '.', '_' and '-' allowed")
    return name


def default_root() -> Path:
    """``$RASTERET_WORKSPACE`` if set, else ``~/rasteret_workspace`` (user-expanded)."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else DEFAULT_ROOT.expanduser()


class Workspace:
    """A directory of named collections; cheap to create (touches nothing on disk).

    Args:
        root: Workspace directory; None means :func:`default_root`.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        if root is not None and not isinstance(root, str | os.PathLike):
            raise InvalidInputError("workspace_dir", root, "must be a str or os.PathLike")
        self.root: Path = Path(root).expanduser() if root is not None else default_root()
        if self.root.exists() and not self.root.is_dir():
            raise InvalidInputError("workspace_dir", str(self.root), "is not a directory")

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @staticmethod
    def validate_name(name: str) -> str:
        """Same as the module-level :func:`validate_name` (kept here for discoverability)."""
        return validate_name(name)

    def collection_dir(self, name: str) -> Path:
        """Directory of collection ``name``, checked to resolve inside the root."""
        validate_name(name)
        directory = self.root / name
        root = self.root.resolve()
        resolved = directory.resolve()
        if resolved.parent != root:  # e.g. a symlink planted in the workspace
            raise InvalidInputError("name", name, f"resolves outside the workspace {root}")
        return directory

    def index_path(self, name: str) -> Path:
        """Path of the index file of ``name`` (whether or not it exists)."""
        return self.collection_dir(name) / INDEX_FILE

    def exists(self, name: str) -> bool:
        """True when ``name`` has a written index."""
        return self.index_path(name).is_file()

    def list(self) -> builtins.list[str]:
        """Names of the collections that have an index, sorted."""
        if not self.root.is_dir():
            return []
        names = []
        for child in self.root.iterdir():
            try:
                validate_name(child.name)
            except InvalidInputError:
                continue
            if (child / INDEX_FILE).is_file():
                names.append(child.name)
        return sorted(names)

    def delete(self, name: str, *, timeout: float = 600.0) -> None:
        """Remove collection ``name`` and its directory, waiting for a running build.

        Raises:
            CollectionNotFoundError: No collection of that name exists.
        """
        directory = self.collection_dir(name)
        if not directory.is_dir():
            raise CollectionNotFoundError(f"no collection {name!r} in {self.root}")
        with self.lock(name, timeout=timeout):
            if not (directory / INDEX_FILE).is_file():
                raise CollectionNotFoundError(f"no collection {name!r} in {self.root}")
            for child in directory.iterdir():
                if child.name == LOCK_FILE:
                    continue  # unlinked last, by lock(), so waiters notice
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        logger.info("deleted collection %s", name)

    def remove_partial(self, name: str) -> builtins.list[Path]:
        """Delete temp files and staging directories left by interrupted builds.

        Returns what was removed.

        Only safe while holding :meth:`lock` (a running writer's temp file looks the same).
        """
        removed = []
        for tmp in temp_files(self.index_path(name)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
        directory = self.collection_dir(name)
        if directory.is_dir():
            for staging in sorted(directory.glob(f"{STAGING_PREFIX}*")):
                if staging.is_dir() and not staging.is_symlink():
                    shutil.rmtree(staging, ignore_errors=True)
                    removed.append(staging)
        if removed:
            logger.info("removed %d partial file(s) of %s", len(removed), name)
        return removed

    def staging_dir(self, name: str) -> Path:
        """Create a fresh, empty staging directory inside collection ``name``'s directory.

        A sharded build's workers write their part files here; keeping it inside the
        workspace means it sits on the same filesystem as the index (the final rename
        stays atomic) and that :meth:`remove_partial` finds it after a crash. Create it
        only while holding :meth:`lock`, and remove it before releasing the lock.
        """
        directory = self.collection_dir(name) / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        directory.mkdir(parents=False)
        return directory

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float = 600.0, poll: float = 0.05) -> Iterator[Path]:
        """Hold the exclusive build lock of ``name``; yields the collection directory.

        The lock is an ``fcntl.flock`` on ``<root>/<name>/.lock``, so it is released by the
        kernel if the process dies. On entry, temp files of crashed writers are removed. On
        exit, if this call created the directory and no index was written, the directory
        is removed again (so failed builds leave nothing), as it is after :meth:`delete`.

        Raises:
            WorkspaceLockTimeoutError: The lock was not acquired within ``timeout`` seconds.
        """
        directory = self.collection_dir(name)
        deadline = time.monotonic() + timeout
        while True:
            created = False
            if not directory.is_dir():
                try:
                    directory.mkdir(parents=True)
                    created = True
                except FileExistsError:
                    pass
            lock_path = directory / LOCK_FILE
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                if time.monotonic() >= deadline:
                    raise WorkspaceLockTimeoutError(
                        f"could not create the lock of {name!r}"
                    ) from None
                continue  # directory removed between mkdir and open: start over
            try:
                self._acquire(fd, name, deadline, poll)
                # The holder we waited for may have removed the file (cleanup or delete)
                # after we opened it; a lock on an unlinked inode excludes nobody.
                if _same_file(fd, lock_path):
                    break
            except BaseException:
                os.close(fd)
                if created:
                    _rmdir_quiet(directory)
                raise
            os.close(fd)
        try:
            self.remove_partial(name)
            yield directory
        finally:
            try:
                if not (directory / INDEX_FILE).is_file():
                    self.remove_partial(name)
                    with contextlib.suppress(FileNotFoundError):
                        lock_path.unlink()  # while still locked, so waiters retry
                    _rmdir_quiet(directory)
            finally:
                os.close(fd)  # releases the flock

    @staticmethod
    def _acquire(fd: int, name: str, deadline: float, poll: float) -> None:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as err:
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise WorkspaceLockTimeoutError(
                    f"collection {name!r} is locked by another build (waited past the timeout)"
                )
            time.sleep(poll)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _rmdir_quiet(directory: Path) -> None:
    """Remove ``directory`` if it is empty; leave it (and say nothing) otherwise."""
    with contextlib.suppress(OSError):
        directory.rmdir()
