"""Calendar periods in the publisher's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from paywall.periods import current_period

TOKYO = ZoneInfo("Asia/Tokyo")


def test_month_follows_the_configured_zone() -> None:
    late_utc = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 00:30 on December 1st in Tokyo
    assert current_period("month", TOKYO, late_utc).id == "2026-12"
    assert current_period("month", ZoneInfo("UTC"), late_utc).id == "2026-11"


def test_month_ends_at_local_midnight_and_rolls_the_year() -> None:
    period = current_period("month", TOKYO, datetime(2026, 12, 15, tzinfo=UTC))
    assert period.id == "2026-12"
    assert period.ends == datetime(2027, 1, 1, tzinfo=TOKYO)


def test_week_is_the_iso_week_starting_monday() -> None:
    friday = datetime(2026, 11, 27, 12, tzinfo=UTC)
    period = current_period("week", ZoneInfo("UTC"), friday)
    assert period.id == "2026-W48"
    assert period.ends == datetime(2026, 11, 30, tzinfo=ZoneInfo("UTC"))
    assert (
        current_period("week", ZoneInfo("UTC"), datetime(2027, 1, 1, tzinfo=UTC)).id == "2026-W53"
    )


def test_day() -> None:
    period = current_period("day", TOKYO, datetime(2026, 11, 27, 16, tzinfo=UTC))
    assert period.id == "2026-11-28"
    assert period.seconds_left(datetime(2026, 11, 28, 23, 0, tzinfo=TOKYO)) == 3600 + 3600


def test_the_period_changes_on_the_first_instant_of_the_next_one() -> None:
    """Periods are remembered per second: the last microsecond of a month and the first of
    the next, asked one after the other, still fall in their own months."""
    zone = ZoneInfo("UTC")
    last = datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    first = datetime(2026, 12, 1, tzinfo=UTC)
    for _ in range(2):
        assert current_period("month", zone, last).id == "2026-11"
        assert current_period("month", zone, first).id == "2026-12"
        assert current_period("day", TOKYO, first).id == "2026-12-01"
        assert current_period("month", zone, last).id == "2026-11"
