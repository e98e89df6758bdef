"""Real local servers for the io tests: an aiohttp range server and moto S3 behind a proxy.

Kept local to tests/io on purpose; a shared nginx fixture lives in tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import boto3
import pytest
from aiohttp import web
from io_servers import BUCKET, DATA, PAYER_BUCKET, HttpServer, LoopThread, Recorder, S3Server
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="session")
def server_loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="session")
def served_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    (root / "data.bin").write_bytes(DATA)
    (root / "small.bin").write_bytes(DATA[:100])
    (root / "empty.bin").write_bytes(b"")
    (root / "dir with space").mkdir()
    (root / "dir with space" / "a+b%c.bin").write_bytes(DATA[:300])
    return root


@pytest.fixture(scope="session")
def http_server(server_loop: LoopThread, served_dir: Path) -> HttpServer:
    recorder = Recorder()
    flaky_hits: dict[str, int] = {}

    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        recorder.add(request)
        return await handler(request)

    async def always_500(_: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def flaky(request: web.Request) -> web.StreamResponse:
        # fails twice per distinct query, then serves the file normally
        key = request.query_string
        flaky_hits[key] = flaky_hits.get(key, 0) + 1
        if flaky_hits[key] <= 2:
            return web.Response(status=503)
        return web.FileResponse(served_dir / "data.bin")

    async def no_range(_: web.Request) -> web.Response:
        return web.Response(body=DATA)  # 200 with the full body, Range ignored

    app = web.Application(middlewares=[record])
    app.router.add_get("/err/500.bin", always_500)
    app.router.add_get("/err/flaky.bin", flaky)
    app.router.add_get("/err/norange.bin", no_range)
    app.router.add_static("/files/", served_dir)
    port = server_loop.serve(app)
    return HttpServer(base=f"http://127.0.0.1:{port}", recorder=recorder)


@pytest.fixture(scope="session")
def s3_server(server_loop: LoopThread) -> Iterator[S3Server]:
    # obstore and boto3 read these; dummy values only, never real credentials
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for bucket in (BUCKET, PAYER_BUCKET):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_request_payment(
        Bucket=PAYER_BUCKET, RequestPaymentConfiguration={"Payer": "Requester"}
    )
    client.put_object(Bucket=BUCKET, Key="cogs/data.bin", Body=DATA)
    client.put_object(Bucket=BUCKET, Key="cogs/other.bin", Body=DATA[:500])
    client.put_object(Bucket=BUCKET, Key="dir with space/a+b%c.bin", Body=DATA[:300])
    client.put_object(Bucket=PAYER_BUCKET, Key="paid.bin", Body=DATA[:1000])

    recorder = Recorder()
    session_box: list[aiohttp.ClientSession] = []

    async def proxy(request: web.Request) -> web.Response:
        recorder.add(request)
        if not session_box:
            session_box.append(aiohttp.ClientSession(auto_decompress=False))
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        headers["Host"] = request.host  # keep the signed host
        async with session_box[0].request(
            request.method,
            moto_endpoint + request.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            dropped = {"transfer-encoding", "connection"}
            if request.method != "HEAD":  # a HEAD reply must keep the object's length
                dropped.add("content-length")
            passthrough = {k: v for k, v in upstream.headers.items() if k.lower() not in dropped}
            if request.method == "HEAD":
                return web.Response(status=upstream.status, headers=passthrough)
            return web.Response(status=upstream.status, body=body, headers=passthrough)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    proxy_port = server_loop.serve(app)
    yield S3Server(
        endpoint=f"http://127.0.0.1:{proxy_port}", moto_endpoint=moto_endpoint, recorder=recorder
    )
    if session_box:
        server_loop.run(session_box[0].close())
    moto.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
