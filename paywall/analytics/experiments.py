"""The experiment report: per arm, from the day counters the workers flushed.

Per arm: readers exposed (browsers counted the first time they met the arm; see
docs/analytics.md), views and walls it decided, offer clicks and conversions from its walls
(the offer ref carries the arm), the conversion rate per exposed reader with its Wilson
interval, the difference against control with Newcombe's interval and a two-sided p-value,
and revenue per thousand views when offers carry a `price`. The sample-ratio check compares
the readers exposed with the weights. Control is the arm named `control`, else the first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..experiments.model import CONTROL, Experiment
from ..experiments.stats import SRM_ALPHA, difference, sample_ratio_p, two_proportion_p, wilson
from .keys import Field, Kind, days

_WALLS = frozenset({"walled_limit", "walled_premium", "register_wall"})
_KINDS = frozenset({Kind.ARM_VIEW, Kind.EXPOSED, Kind.ARM_CLICK, Kind.ARM_CONVERSION})


@dataclass
class _Tally:
    readers: int = 0
    views: int = 0
    walls: int = 0
    clicks: int = 0
    conversions: int = 0
    revenue: float = 0.0


@dataclass(frozen=True)
class ArmResult:
    """One arm over the report's days."""

    name: str
    weight: int  # 0 when the experiment is no longer in the config
    readers: int
    views: int
    walls: int
    clicks: int
    conversions: int
    revenue: float | None  # None when no offer carries a price
    rate: float  # conversions per exposed reader
    low: float
    high: float
    difference: float | None = None  # against control; None for control itself
    difference_low: float | None = None
    difference_high: float | None = None
    p_value: float | None = None

    @property
    def revenue_per_mille(self) -> float | None:
        """Revenue per thousand views."""
        if self.revenue is None or not self.views:
            return None
        return self.revenue * 1000 / self.views

    @property
    def verdict(self) -> str:
        """What the data says of this arm against control, in words."""
        if self.difference_low is None or self.difference_high is None:
            return "control" if self.p_value is None and self.readers else "not enough data"
        if self.difference_low <= 0 <= self.difference_high:
            return "cannot tell apart from control yet"
        return "converts better than control" if self.difference_low > 0 else "converts worse"

    def to_json(self) -> dict[str, Any]:
        return {
            "readers": self.readers,
            "conversions": self.conversions,
            "rate": self.rate,
            "low": self.low,
            "high": self.high,
            "views": self.views,
            "walls": self.walls,
            "clicks": self.clicks,
            "weight": self.weight,
            "difference": self.difference,
            "difference_low": self.difference_low,
            "difference_high": self.difference_high,
            "p_value": self.p_value,
            "revenue": self.revenue,
            "revenue_per_1000_views": self.revenue_per_mille,
        }


@dataclass(frozen=True)
class ExperimentResult:
    """One experiment over the report's days (clipped to its own)."""

    id: str
    start: date
    end: date
    control: str
    arms: tuple[ArmResult, ...]
    sample_ratio_p: float | None  # None without weights or readers
    days: tuple[date, ...] = ()
    # per arm, per day: cumulative (readers, conversions), for the dashboard's chart
    cumulative: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    @property
    def mismatch(self) -> bool:
        """Whether the readers exposed are off the weights beyond chance (p < 0.001)."""
        return self.sample_ratio_p is not None and self.sample_ratio_p < SRM_ALPHA

    def arm(self, name: str) -> ArmResult:
        return next(arm for arm in self.arms if arm.name == name)

    def checks(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "control": self.control,
            "sample_ratio_p": self.sample_ratio_p,
            "sample_ratio_mismatch": self.mismatch,
        }


def experiment_results(
    counters: Mapping[date, Mapping[Field, int]],
    end: date,
    experiments: Sequence[Experiment] = (),
    prices: Mapping[str, float] | None = None,
) -> tuple[ExperimentResult, ...]:
    """Each experiment as of `end`, from its first day (`counters` must hold those days):
    the configured ones that had started by then, then any other with counts in `counters`
    (from counts alone: no weights), in that order."""
    start = min(counters, default=end)
    tallies = _tallies(counters, start, end, prices or {})
    found = []
    for experiment in experiments:
        if experiment.starts <= end:
            last = experiment.last_day(end)
            found.append(
                _result(experiment.id, experiment.starts, last, tallies, experiment, prices)
            )
    configured = {e.id for e in experiments}
    for name in sorted(set(tallies) - configured):
        found.append(_result(name, start, end, tallies, None, prices))
    return tuple(found)


# tallies[experiment][day][arm]
_Tallies = dict[str, dict[date, dict[str, _Tally]]]


def _tallies(
    counters: Mapping[date, Mapping[Field, int]],
    start: date,
    end: date,
    prices: Mapping[str, float],
) -> _Tallies:
    found: _Tallies = defaultdict(lambda: defaultdict(lambda: defaultdict(_Tally)))
    for day in days(start, end):
        for labels, count in counters.get(day, {}).items():
            if labels[0] not in _KINDS or len(labels) < 3:
                continue
            tally = found[str(labels[1])][day][str(labels[2])]
            kind, rest = labels[0], labels[3:]
            if kind == Kind.EXPOSED:
                tally.readers += count
            elif kind == Kind.ARM_VIEW and rest:
                tally.views += count
                tally.walls += count if rest[0] in _WALLS else 0
            elif kind == Kind.ARM_CLICK:
                tally.clicks += count
            elif kind == Kind.ARM_CONVERSION and rest:
                tally.conversions += count
                tally.revenue += count * prices.get(str(rest[0]), 0.0)
    return found


def _result(
    name: str,
    first: date,
    last: date,
    tallies: _Tallies,
    experiment: Experiment | None,
    prices: Mapping[str, float] | None,
) -> ExperimentResult:
    by_day = tallies.get(name, {})
    weights = experiment.weights() if experiment is not None else {}
    counted = sorted({arm for day in by_day.values() for arm in day})
    names = list(weights) + [arm for arm in counted if arm not in weights]
    control = experiment.control.name if experiment is not None else _control(names)
    span = days(first, last) if first <= last else []
    totals = {arm: _Tally() for arm in names}
    cumulative: dict[str, list[tuple[int, int]]] = {arm: [] for arm in names}
    for day in span:
        for arm in names:
            _add(totals[arm], by_day.get(day, {}).get(arm))
            cumulative[arm].append((totals[arm].readers, totals[arm].conversions))
    priced = bool(prices)
    base = totals.get(control, _Tally())
    arms = tuple(
        _arm(arm, weights.get(arm, 0), totals[arm], base if arm != control else None, priced)
        for arm in names
    )
    srm = sample_ratio_p([a.readers for a in arms], [a.weight for a in arms]) if weights else None
    series = {arm: tuple(points) for arm, points in cumulative.items()}
    return ExperimentResult(name, first, last, control, arms, srm, tuple(span), series)


def _control(names: Sequence[str]) -> str:
    return CONTROL if CONTROL in names else (names[0] if names else CONTROL)


def _add(into: _Tally, tally: _Tally | None) -> None:
    if tally is not None:
        into.readers += tally.readers
        into.views += tally.views
        into.walls += tally.walls
        into.clicks += tally.clicks
        into.conversions += tally.conversions
        into.revenue += tally.revenue


def _arm(name: str, weight: int, tally: _Tally, base: _Tally | None, priced: bool) -> ArmResult:
    # A conversion comes from a wall the reader met after being counted, so x ≤ n; only a
    # browser dropping its cookies between the two could make it otherwise.
    n, x = tally.readers, min(tally.conversions, tally.readers)
    low, high = wilson(x, n)
    result = ArmResult(
        name, weight, n, tally.views, tally.walls, tally.clicks, tally.conversions,
        tally.revenue if priced else None, x / n if n else 0.0, low, high,
    )  # fmt: skip
    if base is None or not n or not base.readers:
        return result
    d, d_low, d_high = difference(x, n, base.conversions, base.readers)
    p = two_proportion_p(x, n, base.conversions, base.readers)
    return ArmResult(**{**result.__dict__, "difference": d, "difference_low": d_low,
                        "difference_high": d_high, "p_value": p})  # fmt: skip
