"""The Experiments page: per experiment, the cumulative conversion rate per arm with its
Wilson band, the table of arms with exact numbers and the comparison with control, the
sample-ratio warning; every value from the store escaped."""

from __future__ import annotations

from datetime import date

from paywall.admin.experiments import conversion_chart, experiments_page
from paywall.analytics.experiments import experiment_results
from paywall.analytics.keys import Field
from paywall.experiments.model import Arm, Experiment
from paywall.experiments.stats import wilson
from paywall.names import Audience

EXP = "limit-3-vs-5"
LIMIT = Experiment(
    EXP, date(2027, 1, 1), None, frozenset(Audience), None, (Arm("control", 1), Arm("<b>", 1))
)
COUNTERS: dict[date, dict[Field, int]] = {
    date(2027, 1, 1): {("ae", EXP, "control"): 40, ("ax", EXP, "control", "x"): 2},
    date(2027, 1, 3): {("ae", EXP, "control"): 60, ("ae", EXP, "<b>"): 90,
                       ("ax", EXP, "<b>", "x"): 9, ("av", EXP, "<b>", "walled_limit"): 30},
}  # fmt: skip


def test_the_chart_is_the_cumulative_rate_per_arm_with_its_band() -> None:
    [result] = experiment_results(COUNTERS, date(2027, 1, 3), [LIMIT])
    spec = conversion_chart(result)
    assert spec["labels"] == ["Jan 1", "Jan 2", "Jan 3"] and spec["unit"] == "%"
    control, other = spec["series"]
    assert control["label"] == "control" and control["values"] == [5.0, 5.0, 2.0]
    low, high = wilson(2, 100)
    assert control["band"]["low"][-1] == round(low * 100, 2)
    assert control["band"]["high"][-1] == round(high * 100, 2)
    assert other["values"] == [None, None, 10.0]  # no readers yet: a gap, not a zero
    assert other["band"]["low"][:2] == [None, None]


def test_the_page_has_a_table_per_experiment_and_escapes_what_it_shows() -> None:
    [result] = experiment_results(COUNTERS, date(2027, 1, 3), [LIMIT])
    page = experiments_page([result])
    assert page.title == "Experiments" and [c["id"] for c in page.charts] == [f"experiment-{EXP}"]
    assert f"<h2 id='{EXP}'>{EXP}</h2>" in page.main
    assert "<th scope='row'>control</th><td>1</td><td>100</td><td>0</td><td>0</td>" in page.main
    assert "<th scope='row'>&lt;b&gt;</th><td>1</td><td>90</td><td>30</td><td>30</td>" in page.main
    assert "10.00 % (" in page.main and "+8.00 % (" in page.main
    assert "<b>" not in page.main  # an arm's name is text
    assert "data-warning='sample-ratio'" not in page.main


def test_a_broken_split_is_shown_as_a_warning() -> None:
    broken: dict[date, dict[Field, int]] = {
        date(2027, 1, 1): {("ae", EXP, "control"): 5200, ("ae", EXP, "<b>"): 4800}
    }
    [result] = experiment_results(broken, date(2027, 1, 1), [LIMIT])
    page = experiments_page([result])
    assert "data-warning='sample-ratio'" in page.main and "Sample-ratio mismatch" in page.main


def test_no_experiment_started_says_so() -> None:
    assert "No experiment in the config has started yet" in experiments_page([]).main


def test_the_chart_may_start_later_and_still_counts_from_the_first_day() -> None:
    [result] = experiment_results(COUNTERS, date(2027, 1, 3), [LIMIT])
    spec = conversion_chart(result, date(2027, 1, 2))
    assert spec["labels"] == ["Jan 2", "Jan 3"]
    assert spec["series"][0]["values"] == [5.0, 2.0]  # Jan 1's readers are still in
    assert conversion_chart(result, date(2026, 12, 1))["labels"][0] == "Jan 1"
    assert conversion_chart(result, date(2027, 3, 1))["labels"] == ["Jan 3"]  # never empty
