"""Pytest fixtures for a real S3-compatible server: moto in server mode on 127.0.0.1.

Loaded for every test module through ``pytest_plugins = ["tests.s3server"]`` in
``tests/conftest.py``. Fixtures:

``s3_server`` (session)
    Starts one moto server on 127.0.0.1 at a free port and yields an :class:`S3Server` with
    ``endpoint_url`` and the ``storage_options`` s3fs needs. While it runs, the AWS environment
    points at it with dummy credentials, so no client can reach a real AWS account or the
    instance-metadata address.
``s3_bucket`` (function)
    A fresh, uniquely named bucket on that server, as the URL ``s3://<bucket>``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

__all__ = ["S3Server", "s3_server", "s3_bucket"]

_CREDENTIALS = "testing"
_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running moto S3 server.

    Attributes
    ----------
    endpoint_url : str
        ``http://127.0.0.1:<port>``.
    storage_options : dict
        Options for fsspec/s3fs (``OutputStore(url, storage_options=...)``).
    """

    endpoint_url: str
    storage_options: dict = field(default_factory=dict)

    def client(self):
        """A boto3 S3 client bound to this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=_REGION,
            aws_access_key_id=_CREDENTIALS,
            aws_secret_access_key=_CREDENTIALS,
        )


def _aws_env(endpoint_url: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": _CREDENTIALS,
        "AWS_SECRET_ACCESS_KEY": _CREDENTIALS,
        "AWS_DEFAULT_REGION": _REGION,
        # Any client built without an explicit endpoint still lands on the local server.
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ENDPOINT_URL_S3": endpoint_url,
        # Never ask 169.254.169.254 for credentials, never read a developer's ~/.aws files.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """Run a moto S3 server on 127.0.0.1 for the whole session."""
    pytest.importorskip("moto.server")
    from moto.server import ThreadedMotoServer

    # Port 0 lets the OS pick a free port at bind time: no race with other test processes.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    storage_options = {
        "key": _CREDENTIALS,
        "secret": _CREDENTIALS,
        "client_kwargs": {"endpoint_url": endpoint_url, "region_name": _REGION},
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        for name, value in _aws_env(endpoint_url).items():
            patch.setenv(name, value)
        try:
            yield S3Server(endpoint_url=endpoint_url, storage_options=storage_options)
        finally:
            server.stop()


def _fresh_s3fs(server: S3Server):
    import s3fs

    # s3fs caches instances and listings; tests must see the server's current state.
    fs = s3fs.S3FileSystem(**server.storage_options)
    fs.invalidate_cache()
    return fs


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    """Create a fresh bucket and yield ``s3://<bucket>``; it is emptied and deleted afterwards."""
    bucket = f"sme-test-{uuid.uuid4().hex[:16]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    _fresh_s3fs(s3_server)
    try:
        yield f"s3://{bucket}"
    finally:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)
        _fresh_s3fs(s3_server)
