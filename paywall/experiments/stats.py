"""The statistics of an experiment report, in plain Python (checked against scipy and
statsmodels in tests/test_experiments_stats.py).

- A conversion rate's 95 % interval is Wilson's score interval: it stays inside [0, 1] and
  behaves at 0 conversions and on small samples, where the normal (Wald) interval fails.
- An arm against control: the difference of rates with Newcombe's hybrid score interval
  (his method 10, built from the two Wilson intervals), and the two-sided p-value of the
  pooled two-proportion z-test (the same as Pearson's chi-square on the two-by-two table).
- Sample-ratio mismatch: Pearson's chi-square of the readers exposed per arm against the
  arms' weights; a small p-value means the split itself is broken (a bug, a redirect, a
  bot), so no comparison of the arms can be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
SRM_ALPHA = 0.001  # sample-ratio mismatch is reported below this p-value


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for `successes` out of `trials` ((0, 1) with no trials)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    scale = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / scale
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / scale
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    return low, 1.0 if successes >= trials else min(1.0, centre + half)


def difference(
    successes: int, trials: int, base_successes: int, base_trials: int
) -> tuple[float, float, float]:
    """The rate minus the base rate, with Newcombe's hybrid score 95 % interval."""
    p1, p0 = successes / trials, base_successes / base_trials
    low1, high1 = wilson(successes, trials)
    low0, high0 = wilson(base_successes, base_trials)
    d = p1 - p0
    low = d - math.sqrt((p1 - low1) ** 2 + (high0 - p0) ** 2)
    high = d + math.sqrt((high1 - p1) ** 2 + (p0 - low0) ** 2)
    return d, low, high


def two_proportion_p(successes: int, trials: int, base_successes: int, base_trials: int) -> float:
    """Two-sided p-value of the pooled z-test that the two rates are equal."""
    pooled = (successes + base_successes) / (trials + base_trials)
    variance = pooled * (1 - pooled) * (1 / trials + 1 / base_trials)
    if variance <= 0:  # no conversions at all, or all converted: nothing tells them apart
        return 1.0
    z = (successes / trials - base_successes / base_trials) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def chi_square_sf(statistic: float, degrees: int) -> float:
    """P(X ≥ statistic) for X chi-square with a whole number of degrees of freedom, from the
    closed forms of the regularised upper incomplete gamma function Q(k/2, x/2)."""
    if degrees < 1:
        raise ValueError("degrees of freedom must be at least 1")
    h = statistic / 2
    if h <= 0:
        return 1.0
    log_h = math.log(h)
    if degrees % 2 == 0:  # Q(m, h) = e^-h Σ_{j<m} h^j / j!
        terms = (-h + j * log_h - math.lgamma(j + 1) for j in range(degrees // 2))
        total = sum(math.exp(t) for t in terms)
    else:  # Q(m + 1/2, h) = erfc(√h) + e^-h Σ_{1≤j≤m} h^(j-1/2) / Γ(j + 1/2)
        terms = (-h + (j - 0.5) * log_h - math.lgamma(j + 0.5) for j in range(1, degrees // 2 + 1))
        total = math.erfc(math.sqrt(h)) + sum(math.exp(t) for t in terms)
    return min(1.0, max(0.0, total))


def sample_ratio_p(observed: Sequence[int], weights: Sequence[float]) -> float | None:
    """p-value of Pearson's chi-square of `observed` counts against the shares `weights`
    (None with nothing observed)."""
    total, weight = sum(observed), sum(weights)
    if total <= 0 or weight <= 0 or len(observed) < 2:
        return None
    statistic = 0.0
    for count, share in zip(observed, weights, strict=True):
        expected = total * share / weight
        statistic += (count - expected) ** 2 / expected
    return chi_square_sf(statistic, len(observed) - 1)
