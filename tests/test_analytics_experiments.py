"""The experiment report from day counters: every number per arm, the comparison with
control, revenue, the sample-ratio warning, the cumulative days the dashboard draws, and
experiments the config no longer has."""

from __future__ import annotations

from datetime import date

import pytest

from paywall.analytics.experiments import experiment_results
from paywall.analytics.keys import Field
from paywall.experiments.model import Arm, Experiment
from paywall.experiments.stats import difference, two_proportion_p, wilson
from paywall.names import Audience

EXP = "limit-3-vs-5"
LIMIT = Experiment(
    EXP, date(2027, 1, 1), date(2027, 1, 31), frozenset(Audience), None,
    (Arm("five", 50, limit=5), Arm("control", 50)),
)  # fmt: skip
DAY_1, DAY_2, DAY_3 = date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)
COUNTERS: dict[date, dict[Field, int]] = {
    DAY_1: {
        ("ae", EXP, "control"): 200, ("ae", EXP, "five"): 190,
        ("av", EXP, "control", "banner"): 500, ("av", EXP, "control", "walled_limit"): 120,
        ("av", EXP, "control", "register_wall"): 10, ("av", EXP, "five", "banner"): 610,
        ("ac", EXP, "control", "trial-3m"): 12, ("ax", EXP, "control", "trial-3m"): 5,
        ("ax", EXP, "five", "annual"): 2,
        ("v", "banner", "meter", "anonymous", "news", "anonymous"): 1110,  # not an arm's
    },
    DAY_2: {("ae", EXP, "control"): 10, ("ax", EXP, "control", "annual"): 1},
    DAY_3: {("ae", "gone", "a"): 7, ("ax", "gone", "b", "annual"): 1},  # no longer in the config
}  # fmt: skip
PRICES = {"trial-3m": 9.0, "annual": 120.0}


def test_every_number_of_every_arm() -> None:
    [limit, gone] = experiment_results(COUNTERS, DAY_3, [LIMIT], PRICES)
    assert (limit.id, limit.start, limit.end, limit.control) == (EXP, DAY_1, DAY_3, "control")
    assert [arm.name for arm in limit.arms] == ["five", "control"]  # as configured
    control, five = limit.arm("control"), limit.arm("five")
    assert (control.readers, control.views, control.walls, control.clicks) == (210, 630, 130, 12)
    assert (control.conversions, control.weight) == (6, 50)
    assert control.rate == 6 / 210 and (control.low, control.high) == wilson(6, 210)
    assert control.difference is None and control.p_value is None and control.verdict == "control"
    assert control.revenue == 5 * 9 + 120 and control.revenue_per_mille == (45 + 120) * 1000 / 630
    assert (five.readers, five.views, five.walls, five.conversions) == (190, 610, 0, 2)
    assert (five.difference, five.difference_low, five.difference_high) == difference(
        2, 190, 6, 210
    )
    assert five.p_value == two_proportion_p(2, 190, 6, 210)
    assert five.verdict == "cannot tell apart from control yet"
    assert limit.cumulative["control"] == ((200, 5), (210, 6), (210, 6))
    assert limit.days == (DAY_1, DAY_2, DAY_3)
    assert gone.id == "gone" and gone.control == "a" and gone.sample_ratio_p is None
    assert [(a.name, a.readers, a.conversions, a.weight) for a in gone.arms] == [
        ("a", 7, 0, 0), ("b", 0, 1, 0)
    ]  # fmt: skip


def test_an_experiment_is_reported_as_of_a_day_from_its_own_first_day() -> None:
    [limit] = experiment_results(COUNTERS, DAY_2, [LIMIT], PRICES)  # "gone" is counted later
    assert limit.end == DAY_2 and limit.arm("control").readers == 210
    assert experiment_results({}, date(2026, 12, 31), [LIMIT]) == ()  # not started yet
    ended = experiment_results({}, date(2027, 3, 1), [LIMIT])[0]
    assert ended.end == date(2027, 1, 31)


def test_no_prices_no_revenue() -> None:
    [limit, _] = experiment_results(COUNTERS, DAY_3, [LIMIT])
    assert limit.arm("control").revenue is None and limit.arm("control").revenue_per_mille is None


def test_a_clear_difference_is_called_and_a_broken_split_is_flagged() -> None:
    counters: dict[date, dict[Field, int]] = {
        DAY_1: {
            ("ae", EXP, "control"): 5200, ("ae", EXP, "five"): 4800,
            ("ax", EXP, "control", "annual"): 100, ("ax", EXP, "five", "annual"): 240,
        }
    }  # fmt: skip
    [limit] = experiment_results(counters, DAY_1, [LIMIT])
    assert limit.arm("five").verdict == "converts better than control"
    assert limit.sample_ratio_p is not None and limit.sample_ratio_p < 0.001 and limit.mismatch
    assert limit.checks()["sample_ratio_mismatch"] is True


@pytest.mark.parametrize(("readers", "conversions"), [(0, 0), (0, 3)])
def test_arms_without_readers_say_nothing(readers: int, conversions: int) -> None:
    counters: dict[date, dict[Field, int]] = {
        DAY_1: {("ae", EXP, "control"): 50, ("ax", EXP, "five", "annual"): conversions}
    }
    five = experiment_results(counters, DAY_1, [LIMIT])[0].arm("five")
    assert (five.readers, five.rate, five.low, five.high) == (readers, 0.0, 0.0, 1.0)
    assert five.difference is None and five.verdict == "not enough data"


def test_the_json_names_the_contract_fields() -> None:
    [limit, _] = experiment_results(COUNTERS, DAY_3, [LIMIT], PRICES)
    data = limit.arm("five").to_json()
    assert {"readers", "conversions", "rate", "low", "high"} <= set(data)
    assert data["readers"] == 190 and data["p_value"] == limit.arm("five").p_value
