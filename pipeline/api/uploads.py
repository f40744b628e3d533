"""Uploads are parsed in a child process with a time budget, never in the server's own.

A parse holds the GIL for seconds on large files and can need several times the upload's size
in memory; in a thread of the server it would stall the event loop (``/api/health`` stops
answering) and grow the server's memory for good. A child process is killed when its budget is
spent, and its memory goes back to the system when it ends. Children are forked from a
``forkserver`` that has imported the readers once, so a parse starts in milliseconds, and no
child inherits the server's threads or sockets.
"""

from __future__ import annotations

import io
import multiprocessing
import threading
import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipeline.errors import InputDataError
from pipeline.io.assets import load_assets
from pipeline.io.inspect import preview_table
from pipeline.io.limits import InputLimitError, InputLimits
from pipeline.io.readers import load_ohlcv

__all__ = ["UploadParser", "UploadTimeout"]

#: Modules the forkserver imports once, so that children start with them loaded.
_PRELOAD = ["pipeline.io.readers", "pipeline.io.assets", "pipeline.api.uploads"]


class UploadTimeout(InputDataError):
    """The parse of an upload did not finish within its time budget."""


Parsed = pd.DataFrame | dict[str, pd.DataFrame]


def _parse(data: bytes, name: str, layout: str, symbol_column: str, repair: bool,
           limits: InputLimits, read: Mapping[str, Any]) -> Parsed:
    """One frame, or ``{symbol: frame}`` of a multi-asset table."""
    buffer = io.BytesIO(data)
    buffer.name = name  # the reader's messages name the file
    with warnings.catch_warnings():
        # What they say (repairs, no volume) reaches the dataset's notes through the frame.
        warnings.simplefilter("ignore")
        if layout == "single":
            return load_ohlcv(buffer, repair=repair, name=name, limits=limits, **read)
        return load_assets(buffer, layout=layout, symbol_column=symbol_column, repair=repair,
                           limits=limits, **read)


def _child(conn, args: tuple) -> None:
    """Entry point of a parse process: send back ``("ok", parsed)`` or ``("error", exc)``."""
    try:
        result: tuple[str, Any] = ("ok", _parse(*args))
    except InputLimitError as exc:
        result = ("error", exc)  # no preview: the file is too large to open
    except InputDataError as exc:
        # The first raw rows, to map the columns by hand; read here, where a costly file can
        # only spend this process's budget.
        exc.preview = preview_table(args[0], args[1])
        result = ("error", exc)
    except Exception as exc:  # noqa: BLE001 - the parent reports it without a traceback
        result = ("crash", f"{type(exc).__name__}: {exc}"[:500])
    try:
        conn.send(result)
    finally:
        conn.close()


class UploadParser:
    """Parses uploads in child processes, at most ``max_parallel`` at once.

    Parameters
    ----------
    limits : InputLimits
        Bounds on the uploaded file, checked before it is parsed.
    seconds : float
        Time budget of one parse; the child is killed past it.
    max_parallel : int
        Parses at once; more wait (the machine's cores are the jobs' too).
    """

    def __init__(self, limits: InputLimits, seconds: float, max_parallel: int = 2) -> None:
        self.limits = limits
        self.seconds = float(seconds)
        self._slots = threading.BoundedSemaphore(max_parallel)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)

    def parse(self, data: bytes, name: str, *, layout: str = "single",
              symbol_column: str = "symbol", repair: bool = False,
              read: Mapping[str, Any] | None = None,
              timeout_option: str = "time budget") -> Parsed:
        """Parse an upload in a child process; blocks the calling (worker) thread only.

        ``read`` holds the reader's options (``columns``, ``skiprows``, ``date_format``).

        Raises
        ------
        InputDataError
            The reader's own error, with ``preview`` (:func:`~pipeline.io.inspect.preview_table`
            of the file) set when the file was within the limits; an
            :class:`~pipeline.io.limits.InputLimitError` for a file over them; or
            :class:`UploadTimeout` when the budget was spent.
        """
        args = (data, name, layout, symbol_column, repair, self.limits, dict(read or {}))
        with self._slots:
            receiver, sender = self._context.Pipe(duplex=False)
            process = self._context.Process(target=_child, args=(sender, args), daemon=True,
                                            name="sme-upload-parse")
            process.start()
            sender.close()
            try:
                if not receiver.poll(self.seconds):
                    raise UploadTimeout(
                        f"Cannot use {name!r} as OHLCV input: reading it took longer than "
                        f"{self.seconds:g} s and was stopped. Upload a smaller or simpler file, "
                        f"or start the server with a longer {timeout_option}.")
                try:
                    status, value = receiver.recv()
                except EOFError:  # the child died without a word (out of memory, killed)
                    status, value = "crash", f"the parse process ended with code " \
                                             f"{process.exitcode}"
            finally:
                receiver.close()
                if process.is_alive():
                    process.kill()
                process.join()
        if status == "ok":
            return value
        if status == "error":
            raise value
        raise InputDataError(f"Cannot use {name!r} as OHLCV input: it could not be read "
                             f"({value.split(':', 1)[0]}).")

    def __repr__(self) -> str:
        return f"UploadParser({self.limits!r}, seconds={self.seconds:g})"
