"""Confidence intervals: Wilson, Newcombe's difference (method 10) and the Katz ratio."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest
from scipy.stats.contingency import relative_risk

from bot.core.stats import Z95, Interval, rate_difference, rate_ratio, wilson

CASES = [(0, 1), (0, 10), (1, 10), (3, 10), (10, 10), (7, 250), (123, 456), (999, 1000)]


@pytest.mark.parametrize(("successes", "trials"), CASES)
def test_wilson_matches_scipy(successes: int, trials: int) -> None:
    """The Wilson interval equals scipy's `proportion_ci(method="wilson")`."""
    interval = wilson(successes, trials)
    expected = binomtest(successes, trials).proportion_ci(0.95, method="wilson")
    assert interval is not None
    assert interval.estimate == pytest.approx(successes / trials)
    assert interval.low == pytest.approx(expected.low, abs=1e-12)
    assert interval.high == pytest.approx(expected.high, abs=1e-12)
    assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0


def test_wilson_at_zero_and_all_successes_is_not_a_point() -> None:
    """0 of n starts at 0 and n of n ends at 1, each with a real width."""
    none = wilson(0, 20)
    every = wilson(20, 20)
    assert none is not None and every is not None
    assert none.low == 0.0 and 0.1 < none.high < 0.2
    assert every.high == 1.0 and 0.8 < every.low < 0.9
    assert none.high == pytest.approx(1 - every.low)


def test_wilson_without_trials_or_with_impossible_counts() -> None:
    """No trials: no interval; more successes than trials is an error."""
    assert wilson(0, 0) is None
    with pytest.raises(ValueError, match=r"within 0\.\.3"):
        wilson(4, 3)
    with pytest.raises(ValueError):
        wilson(-1, 3)


def test_newcombe_difference_matches_the_published_example() -> None:
    """56/70 vs 48/80: 0.2000 (0.0524 to 0.3339), Newcombe 1998, method 10."""
    interval = rate_difference(56, 70, 48, 80)
    assert interval is not None
    assert interval.estimate == pytest.approx(0.2)
    assert round(interval.low, 4) == 0.0524
    assert round(interval.high, 4) == 0.3339


def test_newcombe_difference_with_zero_counts_and_symmetry() -> None:
    """Swapping the groups mirrors the interval; a group with 0 successes still has bounds."""
    forward = rate_difference(5, 56, 0, 29)
    backward = rate_difference(0, 29, 5, 56)
    assert forward is not None and backward is not None
    assert backward.estimate == pytest.approx(-forward.estimate)
    assert backward.low == pytest.approx(-forward.high)
    assert backward.high == pytest.approx(-forward.low)
    assert forward.low < 0 < forward.estimate < forward.high < 1


@pytest.mark.parametrize(
    ("a", "n1", "b", "n2"), [(56, 70, 48, 80), (3, 100, 9, 110), (40, 40, 1, 10), (12, 900, 7, 950)]
)
def test_katz_ratio_matches_scipy(a: int, n1: int, b: int, n2: int) -> None:
    """The ratio and its log interval equal scipy's `relative_risk(...).confidence_interval()`."""
    interval = rate_ratio(a, n1, b, n2)
    expected = relative_risk(a, n1, b, n2)
    ci = expected.confidence_interval(0.95)
    assert interval is not None
    assert interval.estimate == pytest.approx(expected.relative_risk)
    assert interval.low == pytest.approx(ci.low, rel=1e-9)
    assert interval.high == pytest.approx(ci.high, rel=1e-9)


def test_undefined_cases_are_none() -> None:
    """An empty group, or a ratio with no successes on a side, has no interval."""
    assert rate_difference(1, 0, 1, 10) is None
    assert rate_difference(1, 10, 0, 0) is None
    assert rate_ratio(0, 10, 3, 10) is None
    assert rate_ratio(3, 10, 0, 10) is None
    assert rate_ratio(3, 0, 3, 10) is None


def test_interval_is_a_plain_value() -> None:
    """Intervals compare by value and use the two-sided 95 % quantile by default."""
    assert Interval(0.5, 0.1, 0.9) == Interval(0.5, 0.1, 0.9)
    assert pytest.approx(1.959963984540054) == Z95
    narrower = wilson(30, 100, z=1.0)
    wider = wilson(30, 100)
    assert narrower is not None and wider is not None
    assert wider.low < narrower.low < narrower.high < wider.high
