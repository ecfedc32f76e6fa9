"""Confidence intervals for rates and for the lift between two rates.

- `wilson`: the Wilson score interval of a proportion, sound for small counts and
  for 0 or n successes (where the normal approximation collapses to a point).
- `rate_difference`: Newcombe's hybrid score interval (method 10) for p1 - p2.
- `rate_ratio`: the Katz log interval for p1 / p2 (undefined with no successes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the two-sided 95 % normal quantile


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate and its confidence bounds."""

    estimate: float
    low: float
    high: float


def wilson(successes: int, trials: int, z: float = Z95) -> Interval | None:
    """The rate successes/trials with its Wilson score interval (None without trials)."""
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials}, got {successes}")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # At 0 or n successes the bound is exactly 0 or 1 (rounding would leave p outside).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(p, low, high)


def rate_difference(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, z: float = Z95
) -> Interval | None:
    """p_a - p_b with Newcombe's hybrid score interval (None if a group is empty)."""
    a, b = wilson(successes_a, trials_a, z), wilson(successes_b, trials_b, z)
    if a is None or b is None:
        return None
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, low, high)


def rate_ratio(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, z: float = Z95
) -> Interval | None:
    """p_a / p_b with the Katz log interval (None when either rate is 0 or a group empty)."""
    if min(successes_a, successes_b, trials_a, trials_b) <= 0:
        return None
    ratio = (successes_a / trials_a) / (successes_b / trials_b)
    se = math.sqrt(1 / successes_a - 1 / trials_a + 1 / successes_b - 1 / trials_b)
    return Interval(ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se))
