"""Paired bootstrap intervals shared by the quality benchmarks (members resampled in pairs)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

DRAWS = 2000

Values = npt.NDArray[np.floating]


def _resamples(n: int, draws: int, seed: int) -> list[npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, n) for _ in range(draws)]


def mean_interval(values: Values, draws: int = DRAWS, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the mean of `values` (e.g. paired differences)."""
    if len(values) == 0:
        return float("nan"), float("nan")
    means = [float(values[pick].mean()) for pick in _resamples(len(values), draws, seed)]
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def ratio_interval(a: Values, b: Values, draws: int = DRAWS, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of mean(a) / mean(b), the same members drawn for both."""
    ratios = [
        float(a[pick].mean() / b[pick].mean())
        for pick in _resamples(len(a), draws, seed)
        if b[pick].mean() > 0
    ]
    return float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))
