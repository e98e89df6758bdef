"""moto's S3 API on 127.0.0.1, for code paths that speak ``s3://``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rasteret_sandbox.servers._process import (
    _LOCALHOST,
    _START_TIMEOUT_S,
    ServerStartError,
    _Server,
    _wait_until,
)

_DUMMY_KEY = "x"
"""moto accepts any credentials; these placeholders keep botocore and obstore signing."""


class MotoS3Server(_Server):
    """moto's S3 API in a thread on 127.0.0.1, for code paths that speak ``s3://``.

    It is slow (hundreds of requests per second), so use it for correctness, not timing.
    moto keeps its buckets in process-global state: two servers in one process share them.
    """

    region = "us-east-1"

    def __init__(self) -> None:
        self._server: Any = None
        self.port: int | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL, e.g. ``http://127.0.0.1:40123``."""
        if self.port is None:
            raise RuntimeError("MotoS3Server is not running")
        return f"http://{_LOCALHOST}:{self.port}"

    def start(self) -> None:
        """Start the threaded server on an ephemeral port and wait until S3 answers."""
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 (test-only dependency)

        self._server = ThreadedMotoServer(ip_address=_LOCALHOST, port=0, verbose=False)
        self._server.start()
        self.port = int(self._server.get_host_and_port()[1])
        try:
            _wait_until(self._ping, timeout_s=_START_TIMEOUT_S, what="moto S3 server")
        except ServerStartError:
            self.stop()
            raise

    def _ping(self) -> bool:
        """Tell whether ListBuckets succeeds."""
        try:
            self.client().list_buckets()
        except Exception:  # noqa: BLE001 (any failure means "not ready yet")
            return False
        return True

    def stop(self) -> None:
        """Shut the werkzeug server down and join its thread."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.port = None

    def client(self) -> Any:
        """A boto3 S3 client for this server with dummy credentials."""
        import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 (test-only dependency)

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=_DUMMY_KEY,
            aws_secret_access_key=_DUMMY_KEY,
            region_name=self.region,
        )

    def create_bucket(self, name: str, *, public_read: bool = False) -> None:
        """Create a bucket; ``public_read`` adds a policy that lets unsigned requests read it.

        Anonymous clients (obstore ``skip_signature=True``) need the policy, as on AWS.
        """
        client = self.client()
        client.create_bucket(Bucket=name)
        if public_read:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicRead",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                    }
                ],
            }
            client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))

    def upload_tree(self, bucket: str, root: Path, *, prefix: str = "") -> list[str]:
        """Upload every file under ``root`` (symlinks followed) keyed by its relative path.

        Returns:
            The object keys written, sorted.
        """
        client = self.client()
        root = Path(root)
        keys = []
        for path in sorted(_walk_files(root)):
            key = prefix + path.relative_to(root).as_posix()
            client.upload_file(str(path), bucket, key)
            keys.append(key)
        return keys


def _walk_files(root: Path) -> Iterator[Path]:
    """Yield regular files under ``root``, following symlinked files and directories."""
    for dirpath, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            path = Path(dirpath) / name
            if path.is_file():
                yield path
