"""Connecting to Dask: a LocalCluster by default, or an existing scheduler by address."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster

from pipeline.config import ClusterConfig
from pipeline.errors import ConfigError

__all__ = ["connect", "planned_threads", "total_threads"]


@contextmanager
def connect(config: ClusterConfig, client: Client | None = None) -> Iterator[Client]:
    """Yield a Dask client for ``config``; close what this function opened, and only that.

    Parameters
    ----------
    config : ClusterConfig
        ``address`` null starts a LocalCluster (``n_workers``, ``threads_per_worker``,
        ``processes``) on 127.0.0.1 with its dashboard on a free port.
    client : distributed.Client, optional
        A client the caller owns (a notebook's, the REST API's): used as is, never closed.
    """
    if client is not None:
        yield client
        return
    if config.address:
        try:
            own = Client(config.address, timeout="15s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cluster.address: cannot reach the Dask scheduler at {config.address} ({exc}); "
                "check that `dask scheduler` runs there, or set cluster.address: null for a "
                "local cluster"
            ) from None
        try:
            yield own
        finally:
            own.close()
        return
    # Threads-only clusters talk in-process (inproc://) and take no host.
    where = {"host": "127.0.0.1"} if config.processes else {}
    cluster = LocalCluster(
        n_workers=config.n_workers,
        threads_per_worker=config.threads_per_worker,
        processes=config.processes,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
        **where,
    )
    own = Client(cluster)
    try:
        yield own
    finally:
        own.close()
        cluster.close()


def total_threads(client: Client) -> int:
    """Threads across the cluster's workers (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def planned_threads(config: ClusterConfig) -> int | None:
    """Threads the cluster of ``config`` will have, before it is started (None for a remote
    scheduler, which only knows once connected).

    A LocalCluster without ``n_workers`` gets one worker per ``threads_per_worker`` cores
    (with processes), or a single worker (threads only), as Dask sizes it.
    """
    if config.address:
        return None
    per_worker = config.threads_per_worker
    if config.n_workers is not None:
        return config.n_workers * per_worker
    if not config.processes:
        return per_worker
    return max(1, (os.cpu_count() or 1) // per_worker) * per_worker
