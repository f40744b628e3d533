"""Export a finished run for machine learning and backtesting.

A run directory written by :func:`pipeline.run_pipeline` (local or any fsspec URL, e.g.
``s3://bucket/run``) holds ``manifest.json`` and one series file per scenario. This module turns
it into the shapes ML and backtesting tools take, reading **one scenario at a time** (memory holds
one series, never the run) and writing every file atomically through
:class:`~pipeline.io.writers.OutputStore`:

* :func:`export_parquet_dataset` — one hive-partitioned Parquet dataset per run,
  ``scenario=k/part-0.parquet`` with columns ``timestamp, Open, High, Low, Close[, Volume]``;
  ``pyarrow.dataset`` and ``pandas.read_parquet(dir)`` add the ``scenario`` column.
* :func:`export_npz` / :func:`window_tensors` — fixed-length windows of per-bar features as a
  ``float32`` tensor ``(n_windows, window, n_features)`` in a NumPy ``.npz``.
* :func:`export_tfrecord` — the same windows as ``tf.train.Example`` records in a TFRecord file,
  encoded here without TensorFlow (protobuf wire format and TFRecord framing written by hand).
* :func:`to_backtest_frame` / :func:`iter_run_frames` — OHLCV frames in the layouts of
  backtesting.py, backtrader, vectorbt and zipline.

Window features
---------------
Each bar ``t`` becomes a row of features (:data:`FEATURES`; default :data:`DEFAULT_FEATURES`),
with ``O, H, L, C, V`` the bar's open, high, low, close and volume:

==================  ==================================  ======================================
name                definition                          note
==================  ==================================  ======================================
``log_return``      ``log(C_t / C_{t-1})``              close-to-close log-return
``log_high_close``  ``log(H_t / C_t)``                  >= 0: how far the high reaches above C
``log_low_close``   ``log(L_t / C_t)``                  <= 0: how far the low reaches below C
``log_open_gap``    ``log(O_t / C_{t-1})``              overnight gap
``log1p_volume``    ``log(1 + V_t)``                    only when the series has volume
``Open`` ...        raw ``O_t, H_t, L_t, C_t, V_t``     not stationary; ask for them explicitly
==================  ==================================  ======================================

The first four are scale-free and stationary, which is what a model trained on many scenarios
(each at its own price level) needs; together with the close they determine the bar exactly
(``O_t = C_{t-1} e^{gap}``, ``H_t = C_t e^{log_high_close}``, ...). ``log_return`` and
``log_open_gap`` need the previous close, so when any of them is asked for, bar 0 has no row and
windows begin at bar 1. A window's ``start`` is the position (0-based) of its first bar in the
series, so ``frame.iloc[start : start + window]`` are the bars it covers.

Multi-asset runs
----------------
A scenario record of the manifest lists its series as ``files: {format: name}``. A multi-asset
record also carries ``assets: {symbol: {format: name}}`` (one series per asset, on one time
index; ``files`` then names the first asset's), which takes precedence. Then the Parquet
dataset gets an ``asset`` column (rows ordered by asset, then time), window features are laid
out asset by asset along the feature axis with names ``"{symbol}:{feature}"`` (symbols sorted),
and :func:`iter_run_frames` yields ``{symbol: frame}`` instead of a frame. A
single-asset run is the plain case: no ``asset`` column, no prefixes. Higher-timeframe series a
record may list under ``timeframes`` are not exported.

Modules
-------
:mod:`~pipeline.export.runs` (the exports of a run), :mod:`~pipeline.export.windows` (window
features), :mod:`~pipeline.export.tfrecord` (TFRecord encoding), :mod:`~pipeline.export.backtest`
(backtest layouts). Runs are read through :func:`pipeline.io.run.open_run`.
"""

from pipeline.export.backtest import LAYOUTS, to_backtest_frame
from pipeline.export.runs import (
    DATASET_DIR,
    NPZ_NAME,
    TFRECORD_NAME,
    export_npz,
    export_parquet_dataset,
    export_run,
    export_tfrecord,
    iter_run_frames,
)
from pipeline.export.tfrecord import crc32c, masked_crc32c
from pipeline.export.windows import DEFAULT_FEATURES, FEATURES, WindowMeta, window_tensors
from pipeline.io.run import read_record_series

__all__ = [
    "FEATURES",
    "DEFAULT_FEATURES",
    "LAYOUTS",
    "DATASET_DIR",
    "NPZ_NAME",
    "TFRECORD_NAME",
    "WindowMeta",
    "window_tensors",
    "export_parquet_dataset",
    "export_npz",
    "export_tfrecord",
    "export_run",
    "to_backtest_frame",
    "iter_run_frames",
    "read_record_series",
    "crc32c",
    "masked_crc32c",
]
