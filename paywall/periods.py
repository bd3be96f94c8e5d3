"""Calendar metering periods (month, week, day) in the publisher's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

PeriodName = Literal["month", "week", "day"]
PERIODS: tuple[PeriodName, ...] = ("month", "week", "day")

# Keys outlive their period a little so a clock a few minutes off never drops a live count.
EXPIRY_SLACK_SECONDS = 3600


@dataclass(frozen=True)
class Period:
    """One calendar period: its id (part of the Redis key) and when it ends."""

    id: str
    ends: datetime

    def seconds_left(self, now: datetime) -> int:
        """Seconds until the period's keys may expire, never less than the slack."""
        return max(int((self.ends - now).total_seconds()), 0) + EXPIRY_SLACK_SECONDS


# The last period found per (name, zone), with the whole second it was found for: every
# view asks, and a period's bounds are whole seconds, so one lookup a second is enough.
_LAST: dict[tuple[PeriodName, ZoneInfo], tuple[float, Period]] = {}


def current_period(name: PeriodName, zone: ZoneInfo, now: datetime) -> Period:
    """The period of `name` containing `now` (an aware datetime), in `zone`."""
    second = now.timestamp() // 1
    last = _LAST.get((name, zone))
    if last is not None and last[0] == second:
        return last[1]
    period = _period(name, zone, now)
    _LAST[(name, zone)] = (second, period)
    return period


def _period(name: PeriodName, zone: ZoneInfo, now: datetime) -> Period:
    local = now.astimezone(zone)
    today = local.date()
    if name == "day":
        end = today + timedelta(days=1)
        period_id = today.isoformat()
    elif name == "week":
        end = today + timedelta(days=7 - today.weekday())
        year, week, _ = today.isocalendar()
        period_id = f"{year}-W{week:02d}"
    else:
        end = _next_month(today.replace(day=1))
        period_id = f"{today.year}-{today.month:02d}"
    return Period(period_id, datetime(end.year, end.month, end.day, tzinfo=zone))


def _next_month(first: date) -> date:
    if first.month == 12:
        return date(first.year + 1, 1, 1)
    return date(first.year, first.month + 1, 1)
