"""What the app keeps between requests: its settings and its stores, on ``app.state``.

:func:`~pipeline.api.app.create_app` puts a :class:`ServerSettings` at ``app.state.settings``
and an :class:`AppState` at ``app.state.sme``; routes reach them through the dependencies of
:mod:`pipeline.api.deps`, never through module globals, so two apps in one process (as the
tests build) share nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from distributed import Client

from pipeline.config import ClusterConfig
from pipeline.io.limits import SERVER_LIMITS, InputLimits
from pipeline.io.writers import OutputStore
from pipeline.runner.cluster import connect

from .datasets import DatasetStore
from .jobs import JobKind, JobManager
from .runs import RunCache
from .uploads import UploadParser

__all__ = ["AppState", "ServerSettings"]


@dataclass(frozen=True)
class ServerSettings:
    """The server's limits and its token, as ``create_app`` was called.

    Attributes
    ----------
    token : str or None
        Bearer token required on ``/api`` routes; None: no token needed. Never shown (not in
        the repr).
    max_upload_mb, max_concurrent_jobs, max_n_samples, max_length
        Limits: 413 over the upload size, 429 over the running jobs, 422 over the others.
    input_limits : InputLimits
        Bounds on an uploaded file's decompressed size, line length, columns and rows.
    upload_parse_seconds : float
        Time budget of one upload's parse.
    """

    token: str | None = field(default=None, repr=False)
    max_upload_mb: float = 200
    max_concurrent_jobs: int = 2
    max_n_samples: int = 100_000
    max_length: int = 1_000_000
    input_limits: InputLimits = SERVER_LIMITS
    upload_parse_seconds: float = 120.0

    @property
    def upload_limit(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 2**20)

    def limits(self) -> dict[str, float]:
        """The limits as ``GET /api/options`` shows them to the dashboard."""
        return {"max_n_samples": self.max_n_samples, "max_length": self.max_length,
                "max_upload_mb": self.max_upload_mb,
                "max_concurrent_jobs": self.max_concurrent_jobs,
                "max_upload_inflated_mb": self.input_limits.max_bytes / 2**20,
                "max_upload_line_kb": self.input_limits.max_line_bytes / 1024,
                "max_upload_columns": self.input_limits.max_columns,
                "max_upload_rows": self.input_limits.max_rows,
                "upload_parse_seconds": self.upload_parse_seconds}


class AppState:
    """The data directory's stores, the job manager, the upload parser, the opened runs of
    finished jobs (:class:`~pipeline.api.runs.RunCache`) and the Dask client.

    Parameters
    ----------
    data_dir : str
        Local path or fsspec URL of the data directory.
    storage_options : mapping, optional
        fsspec options of ``data_dir``.
    client : distributed.Client, optional
        A client to use (not closed here); otherwise :meth:`start` connects to ``scheduler`` or
        starts a LocalCluster, and :meth:`stop` closes it.
    scheduler, n_workers, processes
        The cluster to connect to or start when no client is given.
    settings : ServerSettings
        Limits of jobs and uploads.
    run_overrides : mapping, optional
        Server-side run settings applied under every job's request.
    job_kinds : tuple of JobKind
        Kinds of job the job manager runs besides generation jobs.
    """

    def __init__(self, data_dir: str, storage_options: Mapping[str, Any] | None, *,
                 client: Client | None, scheduler: str | None, n_workers: int | None,
                 processes: bool, settings: ServerSettings,
                 run_overrides: Mapping[str, Any] | None,
                 job_kinds: tuple[JobKind, ...] = ()) -> None:
        self.store = OutputStore(data_dir, dict(storage_options or {}) or None)
        cache = self.store.path("cache") if self.store.is_local else None
        self.datasets = DatasetStore(self.store)
        self.jobs = JobManager(self.store, self.datasets, self.get_client,
                               max_concurrent=settings.max_concurrent_jobs,
                               run_overrides=run_overrides, cache_path=cache,
                               kinds=job_kinds)
        self.uploads = UploadParser(settings.input_limits, settings.upload_parse_seconds)
        self.runs = RunCache()
        self._given_client = client
        self._cluster_config = ClusterConfig(address=scheduler, n_workers=n_workers,
                                             processes=processes)
        self.client: Client | None = client
        self._stack = contextlib.ExitStack()

    def get_client(self) -> Client:
        """The running Dask client (RuntimeError before :meth:`start`)."""
        if self.client is None:
            raise RuntimeError("the Dask client is not running (the app has not started)")
        return self.client

    def start(self) -> None:
        """Check the data directory, load its datasets and jobs, connect to Dask."""
        self.store.ensure_writable()
        self.datasets.load()
        self.jobs.load()
        if self._given_client is None:
            self.client = self._stack.enter_context(connect(self._cluster_config, None))

    def stop(self) -> None:
        """Stop the jobs, then close the cluster the app started."""
        try:
            self.jobs.shutdown()
        finally:
            self._stack.close()
            if self._given_client is None:
                self.client = None
