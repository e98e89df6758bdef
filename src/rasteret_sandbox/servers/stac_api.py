"""A real STAC API: a throwaway PostgreSQL + pgstac cluster served by stac-fastapi-pgstac."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rasteret_sandbox.servers._process import (
    _LOCALHOST,
    _START_TIMEOUT_S,
    ServerStartError,
    _http_ok,
    _log_tail,
    _on_free_port,
    _require_binary,
    _Server,
    _spawn_on_free_port,
    _stop_process,
)

logger = logging.getLogger(__name__)

_PG_BIN = Path("/usr/lib/postgresql/15/bin")
"""Where Debian's postgresql-15 package puts initdb, pg_ctl and postgres."""


class StacApiServer(_Server):
    """A real STAC API: PostgreSQL 15 + PostGIS + pgstac, served by stac-fastapi-pgstac.

    This is the implementation behind large public STAC APIs, so paging, ``query``, CQL2,
    bbox and datetime behave as they do in production. The cluster is private (its own
    data dir, port and socket dir), runs with durability off (fsync, synchronous commit,
    full page writes) because it lives for one test session, and is removed on stop.

    PostgreSQL refuses to run as root; when we are root, the cluster's commands run as the
    ``postgres`` user and its data dir lives in a fresh temp dir that user owns (pytest's
    temp dirs are private to root, so ``workdir`` only holds the API log and load files).

    Args:
        workdir: Directory for logs; created if missing.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.pg_port: int | None = None
        self.port: int | None = None
        self.startup_s: float | None = None
        """Seconds the last start() took, for reports."""
        self._pg_dir: Path | None = None
        self._pg_started = False
        self._api: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The STAC API root URL (landing page), without a trailing slash."""
        if self.port is None:
            raise RuntimeError("StacApiServer is not running")
        return f"http://{_LOCALHOST}:{self.port}"

    @property
    def dsn(self) -> str:
        """A libpq URL for the pgstac database (superuser, trust auth)."""
        if self.pg_port is None:
            raise RuntimeError("StacApiServer is not running")
        return f"postgresql://postgres@{_LOCALHOST}:{self.pg_port}/postgres"

    @property
    def api_log(self) -> Path:
        """stdout/stderr of uvicorn."""
        return self.workdir / "stac-api.log"

    def start(self) -> None:
        """Create the cluster, migrate pgstac and start the API; about 3 s warm."""
        t0 = time.perf_counter()
        for tool in ("initdb", "pg_ctl", "postgres"):
            _require_binary(_PG_BIN / tool, "postgresql-15-postgis-3")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_postgres()
            self._migrate()
            self._start_api()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.perf_counter() - t0
        logger.info("STAC API at %s ready in %.1f s", self.url, self.startup_s)

    # -- postgres

    def _as_pg_user(self, argv: list[str]) -> list[str]:
        """Prefix a command so it runs as ``postgres`` when we are root."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _run(self, argv: list[str], what: str, log: Path) -> None:
        """Run a setup command, raising ServerStartError with its output on failure."""
        with log.open("ab") as out:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=False
            )
        if proc.returncode != 0:
            raise ServerStartError(f"{what} failed with code {proc.returncode}:\n{_log_tail(log)}")

    def _start_postgres(self) -> None:
        """Create a throwaway cluster and start it on a free port (retrying on a port clash)."""
        # /dev/shm keeps the cluster in memory when it exists; durability is off anyway.
        base = "/dev/shm" if Path("/dev/shm").is_dir() else None
        self._pg_dir = Path(tempfile.mkdtemp(prefix="rasteret-pg-", dir=base))
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self._pg_dir, pg.pw_uid, pg.pw_gid)
        data = self._pg_dir / "data"
        log = self._pg_dir / "postgres.log"
        setup_log = self.workdir / "initdb.log"
        self._run(
            self._as_pg_user(
                [
                    str(_PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ]
            ),
            "initdb",
            setup_log,
        )

        def pg_ctl_start(port: int) -> None:
            options = (
                f"-c listen_addresses={_LOCALHOST} -p {port} -k {self._pg_dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=100 -c dynamic_shared_memory_type=mmap"
            )
            argv = self._as_pg_user(
                [
                    str(_PG_BIN / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "30",
                    "start",
                ]
            )
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
            if proc.returncode != 0:  # the server log's tail says whether the port clashed
                raise ServerStartError(
                    f"pg_ctl start failed ({proc.returncode}): "
                    f"{proc.stderr.decode(errors='replace')}\n{_log_tail(log)}"
                )

        # pg_ctl -w waits until the server accepts connections, so readiness is its job.
        self.pg_port, _ = _on_free_port(pg_ctl_start)
        self._pg_started = True

    def _migrate(self) -> None:
        """Install the pgstac schema (creates PostGIS and the pgstac roles)."""
        from pypgstac.db import PgstacDB  # noqa: PLC0415 (test-only dependency)
        from pypgstac.migrate import Migrate  # noqa: PLC0415

        with PgstacDB(dsn=self.dsn) as db:
            Migrate(db).run_migration()
            # Report numberMatched like Earth Search does (pgstac's default is off).
            db.query_one(
                "INSERT INTO pgstac.pgstac_settings (name, value) VALUES ('context', 'on') "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value RETURNING name"
            )

    # -- API

    def _api_env(self) -> dict[str, str]:
        """Environment for uvicorn: the PG* names stac-fastapi-pgstac 7.2 settings read."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES_"))}
        env.update(
            PGUSER="postgres",
            PGPASSWORD="unused",  # required by the settings model; trust auth ignores it
            PGHOST=_LOCALHOST,
            PGPORT=str(self.pg_port),
            PGDATABASE="postgres",
            DB_MIN_CONN_SIZE="1",
            DB_MAX_CONN_SIZE="10",
            ENABLE_RESPONSE_MODELS="false",
        )
        return env

    def _start_api(self) -> None:
        """Start uvicorn with the app factory and poll /collections until it answers."""
        self.port, self._api = _spawn_on_free_port(
            lambda port: [
                sys.executable,
                "-m",
                "uvicorn",
                "stac_fastapi.pgstac.app:create_app",
                "--factory",
                "--host",
                _LOCALHOST,
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            lambda port: _http_ok(f"http://{_LOCALHOST}:{port}/collections"),
            what="stac-fastapi-pgstac (uvicorn)",
            log=self.api_log,
            timeout_s=_START_TIMEOUT_S,
            cwd=self.workdir,  # the settings also read a .env file from the cwd
            env=self._api_env(),
        )

    # -- loading

    def load_collections(self, collections: Iterable[Mapping[str, Any]]) -> None:
        """Upsert collection dicts (must precede their items: pgstac partitions by collection)."""
        from pypgstac.db import PgstacDB  # noqa: PLC0415
        from pypgstac.load import Loader, Methods  # noqa: PLC0415

        with PgstacDB(dsn=self.dsn) as db:
            Loader(db).load_collections(iter([dict(c) for c in collections]), Methods.upsert)

    def load_items(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Upsert item dicts; their collections must already be loaded."""
        from pypgstac.db import PgstacDB  # noqa: PLC0415
        from pypgstac.load import Loader, Methods  # noqa: PLC0415

        with PgstacDB(dsn=self.dsn) as db:
            Loader(db).load_items(iter([dict(i) for i in items]), Methods.upsert)

    # -- stop

    def stop(self) -> None:
        """Terminate uvicorn, stop PostgreSQL with ``-m fast`` and delete the cluster."""
        _stop_process(self._api)
        self._api = None
        self.port = None
        if self._pg_started and self._pg_dir is not None:
            argv = self._as_pg_user(
                [
                    str(_PG_BIN / "pg_ctl"),
                    "-D",
                    str(self._pg_dir / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ]
            )
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
            if proc.returncode != 0:
                logger.warning("pg_ctl stop failed: %s", proc.stderr.decode(errors="replace"))
                self._kill_postmaster()
            self._pg_started = False
        self.pg_port = None
        if self._pg_dir is not None:
            shutil.rmtree(self._pg_dir, ignore_errors=True)
            self._pg_dir = None

    def _kill_postmaster(self) -> None:
        """Last resort after a failed ``pg_ctl stop``: SIGKILL the PID in postmaster.pid."""
        assert self._pg_dir is not None
        pid_file = self._pg_dir / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError, ProcessLookupError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
