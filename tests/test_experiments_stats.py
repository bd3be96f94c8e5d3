"""The report's statistics against independent implementations (scipy, statsmodels) on
fixed data: Wilson intervals, Newcombe's interval for a difference, the pooled z-test's
p-value, and the chi-square tail of the sample-ratio check."""

from __future__ import annotations

import math

import pytest
from scipy.stats import chi2, chisquare
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from paywall.experiments.stats import (
    chi_square_sf,
    difference,
    sample_ratio_p,
    two_proportion_p,
    wilson,
)

# (conversions, readers) of an arm and of control: typical, tiny, none, all, lopsided.
PAIRS = [
    ((30, 400), (18, 410)),
    ((1, 7), (0, 9)),
    ((0, 120), (0, 130)),
    ((50, 50), (49, 50)),
    ((3, 2000), (17, 1900)),
    ((412, 10_013), (377, 9_987)),
]


@pytest.mark.parametrize(("successes", "trials"), [p for pair in PAIRS for p in pair])
def test_wilson_matches_statsmodels(successes: int, trials: int) -> None:
    low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    assert wilson(successes, trials) == pytest.approx((low, high), abs=1e-12)
    assert 0.0 <= wilson(successes, trials)[0] <= successes / trials <= wilson(successes, trials)[1]


def test_wilson_with_no_readers_says_nothing() -> None:
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("arm", "control"), PAIRS)
def test_difference_matches_newcombe_in_statsmodels(
    arm: tuple[int, int], control: tuple[int, int]
) -> None:
    d, low, high = difference(*arm, *control)
    expected = confint_proportions_2indep(*arm, *control, method="newcomb", compare="diff")
    assert d == pytest.approx(arm[0] / arm[1] - control[0] / control[1], abs=1e-15)
    assert (low, high) == pytest.approx(tuple(float(v) for v in expected), abs=1e-12)


@pytest.mark.parametrize(("arm", "control"), PAIRS)
def test_p_value_matches_the_pooled_z_test(arm: tuple[int, int], control: tuple[int, int]) -> None:
    if arm[0] + control[0] in (0, arm[1] + control[1]):  # no variance: statsmodels gives nan
        assert two_proportion_p(*arm, *control) == 1.0
        return
    _, p = proportions_ztest([arm[0], control[0]], [arm[1], control[1]])
    assert two_proportion_p(*arm, *control) == pytest.approx(float(p), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("degrees", range(1, 12))
@pytest.mark.parametrize("statistic", [0.0, 1e-6, 0.3, 1.0, 2.7, 5.99, 11.3, 27.0, 80.0, 400.0])
def test_chi_square_tail_matches_scipy(statistic: float, degrees: int) -> None:
    expected = float(chi2.sf(statistic, degrees))
    assert chi_square_sf(statistic, degrees) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("observed", "weights"),
    [
        ([5050, 4950], [50, 50]),
        ([5200, 4800], [50, 50]),  # a broken split
        ([702, 310], [70, 30]),
        ([330, 340, 311], [1, 1, 1]),
        ([90, 40, 20, 50], [4, 2, 1, 3]),
    ],
)
def test_sample_ratio_matches_scipy_chisquare(observed: list[int], weights: list[int]) -> None:
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    assert sample_ratio_p(observed, weights) == pytest.approx(
        float(chisquare(observed, expected).pvalue), rel=1e-9
    )


def test_a_broken_split_is_told_and_a_fair_one_is_not() -> None:
    broken = sample_ratio_p([5200, 4800], [50, 50])
    fair = sample_ratio_p([5050, 4950], [50, 50])
    assert broken is not None and broken < 0.001
    assert fair is not None and fair > 0.3
    assert sample_ratio_p([0, 0], [50, 50]) is None


def test_bad_degrees_are_refused() -> None:
    with pytest.raises(ValueError):
        chi_square_sf(1.0, 0)
    assert math.isclose(chi_square_sf(1e9, 3), 0.0)
