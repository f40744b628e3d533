"""The input of a fit: one OHLCV series or several aligned assets, as one type.

Every entry point takes "one frame, or ``{symbol: frame}``"; :meth:`Assets.of` turns either into
an :class:`Assets` once, at the edge (the factory, the runner's input), and the core and the
runner take that. A single series is simply one asset without a name: its ``symbols`` are empty
and the public API hands back frames rather than mappings for it (:meth:`Assets.unwrap`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pandas as pd

from pipeline.errors import ConfigError

__all__ = ["Assets"]

#: The key of the one series of a single-series input (also the symbol of its
#: :class:`~pipeline.core.sampler.AssetModel`): it has no name.
_UNNAMED = ""


class Assets(Mapping[str, pd.DataFrame]):
    """An ordered, immutable mapping of symbol to validated OHLCV frame, all on one index.

    Build it with :meth:`of` (or :meth:`single`); the constructor is not public. Several assets
    are kept in sorted symbol order: the order names the pairs and the first asset, and must not
    depend on how a mapping was written (JSON round trips sort keys).

    Attributes
    ----------
    symbols : tuple of str
        The assets' symbols; empty for a single series.
    """

    __slots__ = ("_frames",)

    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self._frames = frames

    @classmethod
    def single(cls, frame: pd.DataFrame) -> Assets:
        """One series, without a symbol."""
        return cls({_UNNAMED: frame})

    @classmethod
    def of(cls, data: Assets | pd.DataFrame | Mapping[str, pd.DataFrame]) -> Assets:
        """``data`` as assets: a frame is one series, a mapping several aligned assets.

        Raises
        ------
        ConfigError
            Neither a DataFrame nor a non-empty mapping of symbol to DataFrame, a symbol that is
            empty or holds ``:``, ``|``, ``/`` or ``\\``, or assets whose timestamps differ.
        """
        if isinstance(data, Assets):
            return data
        if isinstance(data, pd.DataFrame):
            return cls.single(data)
        if not isinstance(data, Mapping) or not data:
            raise ConfigError("data: expected an OHLCV DataFrame or a non-empty mapping of "
                              "symbol to DataFrame")
        frames = dict(sorted(data.items()))
        for symbol in frames:
            if not isinstance(symbol, str) or not symbol or any(c in symbol for c in ":|/\\"):
                raise ConfigError(f"assets: symbol {symbol!r} must be a non-empty string "
                                  "without ':', '|', '/' or '\\'")
        first = next(iter(frames.values())).index
        for symbol, f in frames.items():
            if not f.index.equals(first):
                raise ConfigError(f"assets: {symbol}'s timestamps differ from the first "
                                  "asset's; align them first (pipeline.align_assets)")
        return cls(frames)

    @property
    def symbols(self) -> tuple[str, ...]:
        return () if _UNNAMED in self._frames else tuple(self._frames)

    @property
    def first(self) -> pd.DataFrame:
        """The first asset's frame (the only one of a single series)."""
        return next(iter(self._frames.values()))

    def common_fields(self) -> Assets:
        """The assets without Volume unless every one has it (assets are drawn together)."""
        if all("Volume" in f.columns for f in self._frames.values()):
            return self
        return Assets({k: f.drop(columns=["Volume"], errors="ignore")
                       for k, f in self._frames.items()})

    def map(self, func: Callable[[pd.DataFrame], pd.DataFrame]) -> Assets:
        """Each asset's frame through ``func`` (e.g. aggregated to a timeframe)."""
        return Assets({k: func(f) for k, f in self._frames.items()})

    def unwrap(self) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """What the public API hands out: the frame of one series, else ``{symbol: frame}``."""
        return dict(self._frames) if self.symbols else self.first

    def __getitem__(self, symbol: str) -> pd.DataFrame:
        return self._frames[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def __repr__(self) -> str:
        what = f"symbols={list(self.symbols)}" if self.symbols else "single"
        return f"Assets({what}, rows={len(self.first)})"
