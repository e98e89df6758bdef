"""Azurite (Microsoft's Azure Storage emulator) on 127.0.0.1, for code paths that speak Azure Blob.

Only the blob service is started. Azurite is a Node.js program installed by
``scripts/setup.sh`` into ``.tools/azurite`` (npm ``azurite``); nothing else here needs
the Azure SDK: shared access signatures are computed with HMAC-SHA256 over Azurite's
well-known development account key, exactly as the service checks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rasteret_sandbox.servers._process import (
    _LOCALHOST,
    ServerStartError,
    _Server,
    _spawn_on_free_port,
    _stop_process,
)

logger = logging.getLogger(__name__)

ACCOUNT = "devstoreaccount1"
"""Azurite's built-in storage account."""
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
"""Azurite's published development key (public by design, not a secret)."""
SAS_VERSION = "2021-08-06"
"""Storage service version the signatures are computed for (its string-to-sign layout)."""

_INSTALL_HINT = "run scripts/setup.sh (npm install --prefix .tools/azurite azurite)"


def find_azurite() -> str:
    """Return the ``azurite-blob`` launcher: ``$RASTERET_AZURITE``, the repo's ``.tools``, PATH.

    Raises:
        ServerStartError: Azurite is not installed; the message says how to install it.
    """
    env = os.environ.get("RASTERET_AZURITE")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [
        parent / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
        for parent in here.parents
    ]
    for path in candidates:
        if path.is_file():
            return str(path)
    found = shutil.which("azurite-blob")
    if found is None:
        raise ServerStartError(f"azurite-blob not found: {_INSTALL_HINT}")
    return found


def _sign(string_to_sign: str, key: str = ACCOUNT_KEY) -> str:
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _expiry_text(expiry: datetime) -> str:
    return expiry.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account_sas(
    *, permissions: str = "racwdl", expiry: datetime | None = None, account: str = ACCOUNT
) -> str:
    """An account SAS query string for the blob service (service, container and object level).

    Used to create containers and upload blobs without Shared Key request signing.
    """
    se = _expiry_text(expiry or datetime.now(UTC) + timedelta(hours=2))
    fields = [account, permissions, "b", "sco", "", se, "", "https,http", SAS_VERSION, ""]
    query = {
        "sv": SAS_VERSION,
        "ss": "b",
        "srt": "sco",
        "sp": permissions,
        "se": se,
        "spr": "https,http",
        "sig": _sign("\n".join(fields) + "\n"),
    }
    return urllib.parse.urlencode(query)


def container_sas(
    container: str,
    *,
    permissions: str = "rl",
    expiry: datetime | None = None,
    account: str = ACCOUNT,
) -> str:
    """A read-only service SAS for one container, like the tokens Planetary Computer hands out."""
    se = _expiry_text(expiry or datetime.now(UTC) + timedelta(hours=2))
    resource = f"/blob/{account}/{container}"
    # sp, st, se, resource, si, sip, spr, sv, sr, snapshot, encryption scope, 5 rsc* overrides
    fields = [permissions, "", se, resource, "", "", "https,http", SAS_VERSION, "c"] + [""] * 7
    query = {
        "sv": SAS_VERSION,
        "sr": "c",
        "sp": permissions,
        "se": se,
        "spr": "https,http",
        "sig": _sign("\n".join(fields)),
    }
    return urllib.parse.urlencode(query)


class AzuriteServer(_Server):
    """Azurite's blob service on a free port, with its data in a private temp dir.

    Started with ``--loose`` (ignore headers it does not implement) and
    ``--skipApiVersionCheck`` (accept the newer API versions obstore sends). URLs are
    path-style: ``http://127.0.0.1:PORT/devstoreaccount1/<container>/<blob>``.
    """

    account = ACCOUNT
    account_key = ACCOUNT_KEY

    def __init__(self) -> None:
        self.port: int | None = None
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The service endpoint without the account, e.g. ``http://127.0.0.1:41234``."""
        if self.port is None:
            raise RuntimeError("AzuriteServer is not running")
        return f"http://{_LOCALHOST}:{self.port}"

    @property
    def account_url(self) -> str:
        """The account's base URL: ``{url}/devstoreaccount1``."""
        return f"{self.url}/{self.account}"

    def blob_url(self, container: str, name: str) -> str:
        """Unsigned URL of a blob (names are percent-encoded, ``/`` kept)."""
        return f"{self.account_url}/{container}/{urllib.parse.quote(name)}"

    def start(self) -> None:
        """Start azurite-blob on a free port (retrying if another process takes it first)."""
        binary = find_azurite()
        self._tmp = Path(tempfile.mkdtemp(prefix="rasteret-azurite-"))
        log = self._tmp / "azurite.log"
        data = self._tmp / "data"

        def argv(port: int) -> list[str]:
            return [
                binary,
                "--blobHost",
                _LOCALHOST,
                "--blobPort",
                str(port),
                "--location",
                str(data),
                "--loose",
                "--skipApiVersionCheck",
            ]

        try:
            # Every failed start gets a fresh port, not only one recognised as a port clash.
            self.port, self._proc = _spawn_on_free_port(
                argv,
                lambda port: _answers(f"http://{_LOCALHOST}:{port}/"),
                what="azurite-blob",
                log=log,
                timeout_s=30.0,
                stop_signal=signal.SIGKILL,
                attempts=3,
                retry=lambda _err: True,
            )
        except BaseException:
            self.stop()
            raise
        logger.info("azurite blob service on %s (pid %d)", self.url, self._proc.pid)

    def stop(self) -> None:
        """Stop azurite by PID and remove its data directory; safe to call twice."""
        # azurite ignores SIGTERM and takes ~10 s to honour SIGINT; its data is a throwaway
        # temp dir, so a kill loses nothing.
        _stop_process(self._proc, sig=signal.SIGKILL)
        self._proc = None
        self.port = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- data ---------------------------------------------------------------------------

    def create_container(self, name: str, *, public: bool = False) -> None:
        """Create a container; ``public`` lets anonymous requests read its blobs.

        Creating one that exists is not an error (sessions reuse names).
        """
        headers = {"x-ms-blob-public-access": "blob"} if public else {}
        url = f"{self.account_url}/{name}?restype=container&{account_sas()}"
        status = _request("PUT", url, b"", headers, ok=(201, 409))
        logger.debug("create container %s: %d", name, status)

    def upload(self, container: str, name: str, data: bytes) -> str:
        """Write one block blob; return its unsigned URL."""
        url = self.blob_url(container, name)
        _request("PUT", f"{url}?{account_sas()}", data, {"x-ms-blob-type": "BlockBlob"})
        return url

    def upload_tree(self, container: str, root: Path, *, prefix: str = "") -> list[str]:
        """Upload every file under ``root`` (symlinks followed) keyed by its relative path.

        Returns:
            The blob names written, sorted.
        """
        root = Path(root)
        names = []
        for path in sorted(_walk_files(root)):
            name = prefix + path.relative_to(root).as_posix()
            self.upload(container, name, path.read_bytes())
            names.append(name)
        return names

    def container_sas(
        self, container: str, *, permissions: str = "rl", expiry: datetime | None = None
    ) -> str:
        """A read SAS for ``container`` (see :func:`container_sas`)."""
        return container_sas(container, permissions=permissions, expiry=expiry)


def _answers(url: str) -> bool:
    """Tell whether anything HTTP answers at ``url`` (Azurite refuses anonymous GET /)."""
    try:
        with urllib.request.urlopen(url, timeout=1.0):  # noqa: S310 (local URL)
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _request(
    method: str, url: str, data: bytes, headers: dict[str, str], ok: tuple[int, ...] = (201,)
) -> int:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 (local URL)
            status = int(resp.status)
    except urllib.error.HTTPError as err:
        status = err.code
        if status not in ok:
            body = err.read()[:500].decode("utf-8", "replace")
            raise RuntimeError(f"azurite {method} failed with {status}: {body}") from err
    return status


def _walk_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            path = Path(dirpath) / name
            if path.is_file():
                yield path
