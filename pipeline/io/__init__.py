"""Input and output of OHLCV tables: readers (load, normalize, validate) and writers."""

from pipeline.io.readers import MIN_ROWS, load_ohlcv, load_sample

__all__ = ["MIN_ROWS", "load_ohlcv", "load_sample"]
