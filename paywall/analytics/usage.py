"""Meter usage over a period, and the what-if curve for `meter.limit`, from aggregates only.

No reader is tracked: the meter script already answers each counted view with the reader's
count for the period, so a view counted as the reader's k-th is the moment that reader
*reaches* k, which happens once per reader and period. Counting those moments by k gives
`reached[k]`, the number of readers who used at least k free articles; walled attempts are
decisions (`walled_limit`, `register_wall`) counted like any other.

The what-if curve asks: had the limit been L instead of the current L0, how many readers
would have used up the meter, met the wall, and how many walled views would there have been?
Readers are assumed to want the same articles whatever the limit (a reader cut off earlier
keeps trying as those cut off at L0 did):

- readers using every free article at L: `reached[L]` (exact for L ≤ L0);
- readers meeting the wall at L < L0: `reached[L + 1]`, those who wanted one more (exact);
- walled views at L ≤ L0: `sum(reached[L + 1 .. L0]) + walled` (each view past L is walled);
- at L0 itself, who met the wall needs a per-reader count of walled attempts, which
  analytics does not keep: it is estimated from the last step of the curve
  (`reached[L0] * reached[L0] / reached[L0 - 1]`, at most the walled views), and beyond L0
  the curve is extrapolated geometrically from the walled readers' mean number of attempts.
  Such points are marked `estimated`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ..periods import PeriodName


@dataclass(frozen=True)
class MeterUsage:
    """How the meter was used in one period by one kind of reader (`anonymous` or `account`)."""

    period: str  # the period's id, as in meter keys: 2027-01, 2027-W02, 2027-01-05
    start: date
    end: date  # the last day counted (today, for the current period)
    who: str
    limit: int  # the limit in force (the current config's, for this kind of reader)
    reached: tuple[int, ...]  # reached[k - 1]: readers whose counted views reached k
    walled: int  # walled attempts by a used-up meter (walled_limit and register_wall)

    def reaching(self, k: int) -> int:
        """Readers who used at least `k` free articles (every reader for k ≤ 0)."""
        if k <= 0:
            return self.reaching(1)
        return self.reached[k - 1] if k <= len(self.reached) else 0

    def using_exactly(self, k: int) -> int:
        """Readers who used exactly `k` free articles this period."""
        return self.reaching(k) - self.reaching(k + 1)

    @property
    def readers(self) -> int:
        """Readers with at least one counted view."""
        return self.reaching(1)


@dataclass(frozen=True)
class WhatIf:
    """One point of the what-if curve."""

    limit: int
    readers_using_all: int  # readers who would have used every free article
    readers_walled: float  # readers who would have met the wall
    walled_views: float  # views that would have been walled
    estimated: bool  # False: follows from the counts; True: modelled (at or past the limit)


def what_if(usage: MeterUsage, limits: Iterable[int] | None = None) -> tuple[WhatIf, ...]:
    """The what-if curve at each of `limits` (default 1 .. twice the current limit)."""
    top = usage.limit
    wanted: Sequence[int] = list(limits) if limits is not None else range(1, 2 * top + 1)
    met_at_top, ratio = _beyond(usage)
    points = []
    for limit in wanted:
        if limit < 0:
            raise ValueError(f"a limit is ≥ 0, not {limit}")
        if limit < top:
            beyond = sum(usage.reaching(k) for k in range(limit + 1, top + 1))
            points.append(
                WhatIf(
                    limit,
                    usage.reaching(limit) if limit > 0 else 0,
                    float(usage.reaching(limit + 1)),
                    float(beyond + usage.walled),
                    estimated=False,
                )
            )
        else:
            factor = ratio ** (limit - top)
            using_all = usage.reaching(top) if limit == top else 0
            points.append(
                WhatIf(
                    limit,
                    using_all,
                    met_at_top * factor,
                    usage.walled * factor,
                    estimated=limit > top or usage.walled > 0,
                )
            )
    return tuple(points)


def _beyond(usage: MeterUsage) -> tuple[float, float]:
    """Readers estimated to have met the wall at the current limit, and the share of walled
    readers who would still want one more article for each article the limit is raised."""
    top, walled = usage.limit, usage.walled
    if walled == 0 or top == 0:
        return 0.0, 0.0
    at_top = usage.reaching(top)
    below = usage.reaching(top - 1) if top > 1 else at_top
    step = at_top / below if below else 1.0
    met = min(float(walled), at_top * step) if at_top else float(walled)
    met = max(met, 1.0)
    # Geometric attempts with mean walled / met: each further article is wanted by a
    # share q of those who wanted the one before, q = 1 - met / walled.
    return met, max(0.0, 1.0 - met / walled)


def period_days(name: PeriodName, day: date) -> tuple[str, date, date]:
    """The id, first and last day of the calendar period of `name` holding `day` (the same
    ids as the meter's keys, periods.current_period)."""
    if name == "day":
        return day.isoformat(), day, day
    if name == "week":
        first = day - timedelta(days=day.weekday())
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}", first, first + timedelta(days=6)
    first = day.replace(day=1)
    following = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else (first.replace(month=first.month + 1))
    )
    return f"{day.year}-{day.month:02d}", first, following - timedelta(days=1)
