"""The what-if curve from meter usage: exact below the current limit, estimated at and past it."""

from __future__ import annotations

from datetime import date

import pytest

from paywall.analytics.usage import MeterUsage, period_days, what_if


def usage(reached: tuple[int, ...], walled: int, limit: int = 3) -> MeterUsage:
    return MeterUsage(
        "2027-01", date(2027, 1, 1), date(2027, 1, 31), "anonymous", limit, reached, walled
    )


def test_readers_by_views_used_follow_from_transitions() -> None:
    # 10 readers read 1 article, 6 of them a 2nd, 4 a 3rd (the limit).
    u = usage((10, 6, 4), walled=9)
    assert u.readers == 10
    assert [u.using_exactly(k) for k in (1, 2, 3)] == [4, 2, 4]
    assert u.reaching(4) == 0


def test_below_the_limit_the_curve_is_exact() -> None:
    u = usage((10, 6, 4), walled=9)
    one, two = what_if(u, [1, 2])
    # At limit 1: the 6 who wanted a 2nd article meet the wall; their 2nd and 3rd views
    # (6 + 4) are walled, plus the 9 walled views seen at limit 3.
    assert (one.readers_using_all, one.readers_walled, one.walled_views) == (10, 6, 19)
    assert (two.readers_using_all, two.readers_walled, two.walled_views) == (6, 4, 13)
    assert not one.estimated and not two.estimated


def test_at_and_past_the_limit_walled_readers_are_estimated_and_fall() -> None:
    u = usage((10, 6, 4), walled=9)
    at, past, further = what_if(u, [3, 4, 5])
    assert at.walled_views == 9 and at.readers_using_all == 4
    assert 1 <= at.readers_walled <= 4 and at.estimated
    assert past.estimated and past.walled_views < at.walled_views
    assert further.readers_walled < past.readers_walled


def test_nobody_walled_means_a_flat_zero_past_the_limit() -> None:
    u = usage((5, 2, 1), walled=0)
    at, past = what_if(u, [3, 4])
    assert (at.readers_walled, at.walled_views, at.estimated) == (0, 0, False)
    assert (past.readers_walled, past.walled_views) == (0, 0)


def test_default_limits_run_to_twice_the_current_one() -> None:
    assert [p.limit for p in what_if(usage((1, 1, 1), walled=2))] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError):
        what_if(usage((1,), walled=0), [-1])


def test_period_days_match_the_meter_periods() -> None:
    assert period_days("month", date(2027, 12, 15)) == (
        "2027-12",
        date(2027, 12, 1),
        date(2027, 12, 31),
    )
    assert period_days("week", date(2027, 1, 6)) == (
        "2027-W01",
        date(2027, 1, 4),
        date(2027, 1, 10),
    )
    assert period_days("day", date(2027, 1, 6)) == (
        "2027-01-06",
        date(2027, 1, 6),
        date(2027, 1, 6),
    )
