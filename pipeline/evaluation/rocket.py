"""The ROCKET transform: random convolutional kernels over windows (Dempster et al. 2020)."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "RocketTransform",
]


class RocketTransform:
    """Random convolutional kernels over windows, after ROCKET (Dempster et al. 2020).

    Each kernel has a length of 7, 9 or 11, normal weights on a random subset of the channels
    (``2^U(0, log2(C + 1))`` of them, as in the multivariate ROCKET), a bias ``U(-1, 1)``, a
    dilation ``floor(2^U(0, log2((W - 1) / (length - 1))))`` and, for half the kernels,
    padding that keeps the output as long as the window. A window's features are, per kernel,
    the proportion of positive outputs (PPV) and the maximum output: ``2 n_kernels`` numbers.

    Two choices differ from ROCKET, for this data: the weights are not centred to sum to zero,
    and the windows are not z-normalized one by one (channels are standardized once, by the
    real series' robust scale, in :func:`classifier_two_sample_test`): the *level* of a bar
    feature (how wide the bars' ranges are, how large the moves) is what generators get wrong,
    and ROCKET's normalizations would hide it.

    Parameters
    ----------
    n_channels, window : int
        Shape of the windows ``(window, n_channels)`` it will transform.
    n_kernels : int, default 200
    seed : int or numpy.random.Generator
    """

    def __init__(self, n_channels: int, window: int, n_kernels: int = 200,
                 seed: int | np.random.Generator = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n_channels, self.window, self.n_kernels = int(n_channels), int(window), n_kernels
        specs: dict[tuple[int, int, int], list] = {}
        for kernel in range(n_kernels):
            length = int(rng.choice([7, 9, 11]))
            top = math.log2((window - 1) / (length - 1)) if window > length else 0.0
            dilation = int(2 ** rng.uniform(0, top))
            padding = (length - 1) * dilation // 2 if rng.integers(2) else 0
            if window + 2 * padding < (length - 1) * dilation + 1:
                padding = (length - 1) * dilation // 2  # a short window needs the padding
            n_used = min(n_channels, int(2 ** rng.uniform(0, math.log2(n_channels + 1))))
            used = rng.choice(n_channels, n_used, replace=False)
            weights = np.zeros((length, n_channels))
            weights[:, used] = rng.normal(0.0, 1.0, (length, n_used))
            specs.setdefault((length, dilation, padding), []).append(
                (kernel, weights.ravel(), rng.uniform(-1.0, 1.0)))
        # Kernels of one (length, dilation, padding) share the unfolded windows: one matrix
        # product per group and chunk of windows instead of a loop over kernels.
        self._groups = [(key, np.array([k for k, _, _ in group]),
                         np.stack([w for _, w, _ in group], axis=1),
                         np.array([b for _, _, b in group]))
                        for key, group in sorted(specs.items())]

    def transform(self, windows: np.ndarray, chunk: int = 512) -> np.ndarray:
        """Features ``(n, 2 n_kernels)`` of windows ``(n, window, n_channels)``: PPV, max."""
        windows = np.asarray(windows, dtype=float)
        n, w, c = windows.shape
        if (w, c) != (self.window, self.n_channels):
            raise ValueError(f"expected windows of shape (n, {self.window}, {self.n_channels}),"
                             f" got {windows.shape}")
        out = np.empty((n, 2 * self.n_kernels))
        for (length, dilation, padding), kernels, weights, bias in self._groups:
            padded = np.pad(windows, ((0, 0), (padding, padding), (0, 0)))
            steps = w + 2 * padding - (length - 1) * dilation
            pos = np.arange(steps)[:, None] + dilation * np.arange(length)[None, :]
            for lo in range(0, n, chunk):
                part = padded[lo : lo + chunk][:, pos, :]  # (m, steps, length, channels)
                conv = part.reshape(-1, length * c) @ weights + bias
                conv = conv.reshape(len(part), steps, len(kernels))
                out[lo : lo + chunk, 2 * kernels] = (conv > 0).mean(axis=1)
                out[lo : lo + chunk, 2 * kernels + 1] = conv.max(axis=1)
        return out
