"""Real local servers that stand in for the cloud: nginx, an aiohttp range server, moto S3, pgstac.

The machines that run the tests have no internet, yet the code under test talks HTTP, S3 and
the STAC API. Every stand-in here is a real server listening on ``127.0.0.1`` with a free port,
so the client code runs exactly as it would against the cloud (real sockets, real Range
requests, real paging). Each class is a context manager: entering starts the server and waits
until it answers, leaving stops it by PID (terminate, then kill) and removes its temp files. A
server that fails to start raises :class:`ServerStartError` carrying the tail of its log, since
"timed out" alone never says why.

Modules: ``_process`` (ports, readiness polling, stopping, :class:`ServerStartError`,
:class:`LogEntry`, the context-manager base), ``nginx``, ``range_server`` (aiohttp),
``moto_s3``, ``azurite`` (Azure Blob emulator, npm) and ``stac_api`` (PostgreSQL + pgstac +
stac-fastapi-pgstac), and ``fault_proxy`` (injects 5xx, 429, resets, stalls and bad
bodies on a schedule).
"""

from rasteret_sandbox.servers._process import LogEntry, ServerStartError, free_port
from rasteret_sandbox.servers.azurite import AzuriteServer
from rasteret_sandbox.servers.fault_proxy import Fault, FaultProxy
from rasteret_sandbox.servers.moto_s3 import MotoS3Server
from rasteret_sandbox.servers.nginx import NginxServer
from rasteret_sandbox.servers.range_server import RangeServer
from rasteret_sandbox.servers.stac_api import StacApiServer

__all__ = [
    "AzuriteServer",
    "Fault",
    "FaultProxy",
    "LogEntry",
    "MotoS3Server",
    "NginxServer",
    "RangeServer",
    "ServerStartError",
    "StacApiServer",
    "free_port",
]
