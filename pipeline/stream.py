"""Scenarios as they are accepted: iterators for training loops that should not wait for a run.

Two ways, one shape of result (:class:`StreamedScenario`):

* :func:`iter_scenarios` runs the Dask pipeline (:func:`pipeline.run_pipeline`) in a background
  thread and yields each scenario as soon as its task has written it, in the order tasks
  finish. Workers still write the files; the iterator reads each one back once. Stopping early
  (``break``, closing the generator) cancels the run; what was written stays and a rerun of the
  same configuration resumes from it.
* :meth:`SyntheticDataFactory.stream <pipeline.factory.SyntheticDataFactory.stream>`
  generates in this process, a few scenarios at a time, in scenario order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pipeline.factory import StreamedScenario

__all__ = ["StreamedScenario", "iter_scenarios"]


_DONE = object()


def iter_scenarios(
    config: Any = None,
    client: Any = None,
    *,
    overrides: tuple[str, ...] = (),
    progress: Callable[[Any], None] | None = None,
    buffer: int = 64,
) -> Iterator[StreamedScenario]:
    """Run the pipeline and yield each scenario as soon as it is accepted and written.

    Parameters
    ----------
    config, client, overrides, progress
        As for :func:`pipeline.run_pipeline`.
    buffer : int
        Accepted scenarios waiting to be read before the coordinator pauses (back-pressure for
        slow consumers).

    Yields
    ------
    StreamedScenario
        In the order tasks finish (scenarios resumed from an interrupted run come first).

    Raises
    ------
    ConfigError, InputDataError, FidelityNotReachedError
        As :func:`pipeline.run_pipeline` raises them, at the point of the stream they occur.

    Examples
    --------
    >>> for item in iter_scenarios({"generation": {"n_samples": 100}}):
    ...     train_step(item.data)
    """
    from pipeline.config import load_config
    from pipeline.io.run import ScenarioRecord, read_record_series
    from pipeline.io.writers import OutputStore
    from pipeline.runner.coordinator import RunCancelled, run_pipeline

    cfg = load_config(config, overrides)  # bad configs fail here, before any thread starts
    found: queue.Queue = queue.Queue(maxsize=max(1, int(buffer)))
    cancel = threading.Event()
    store: OutputStore | None = None  # the run's output; one path per run

    def on_accept(output_path: str, record: Mapping[str, Any]) -> None:
        while not cancel.is_set():
            try:
                found.put((output_path, dict(record)), timeout=0.2)
                return
            except queue.Full:
                continue

    def work() -> None:
        try:
            run_pipeline(cfg, client, progress, cancel=cancel, on_accept=on_accept)
            found.put((_DONE, None))
        except RunCancelled:
            found.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            found.put((_DONE, exc))

    thread = threading.Thread(target=work, name="sme-stream", daemon=True)
    thread.start()
    try:
        while True:
            path, item = found.get()
            if path is _DONE:
                if item is not None:
                    raise item
                return
            if store is None:
                store = OutputStore(path, storage_options=cfg.output.storage_options or None)
            record = ScenarioRecord.from_task(item)  # numbered from 1, as in the folder
            yield StreamedScenario(
                scenario=record.scenario,
                attempt=record.attempt,
                score=record.score,
                metrics=dict(record.metrics),
                data=read_record_series(store, record),
                regimes=record.regimes,
            )
    finally:
        cancel.set()
        # Drain so a coordinator blocked on a full queue sees the cancel promptly.
        while thread.is_alive():
            try:
                found.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()
