"""Where analytics live in Redis, and how a counter's labels become a hash field.

One hash per day (in `meter.timezone`) holds every counter of that day, so a flush is one
HINCRBY per changed counter plus one EXPIREAT per day, and a report reads one HGETALL per
day. The day is the key's hash tag (`{an:2027-01-05}`): on Redis Cluster a day's counters
share one slot, and a flush or a report spanning days spans slots, which redis-py's cluster
pipeline splits by node. Fields are JSON arrays, kind first, so labels (section names, offer
ids) may hold any character and the field stays readable in `redis-cli`.

No field or key holds a reader id, an account, an address or a user agent: only the
outcome, prompt, audience, section, offer, and whether the reader was signed in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

Label = str | int
Field = tuple[Label, ...]  # (kind, labels...) before encoding


class Kind(StrEnum):
    """The first element of every field."""

    VIEW = "v"  # [v, outcome, prompt, audience, section, who]
    IMPRESSION = "i"  # [i, offer, prompt, section]
    CLICK = "c"  # [c, offer, prompt, section]
    CONVERSION = "x"  # [x, offer, prompt, section]
    REACHED = "r"  # [r, who, k]: readers whose counted views this period reached k
    STORE_CALL = "s"  # [s, bucket's upper bound in ms, as text; "+Inf" last]: store calls
    STORE_ERROR = "se"  # [se]: store calls that failed
    BREAKER_OPENED = "so"  # [so]: times a worker's circuit breaker opened
    ARM_VIEW = "av"  # [av, experiment, arm, outcome]: views an experiment arm decided
    EXPOSED = "ae"  # [ae, experiment, arm]: browsers meeting the arm for the first time
    ARM_CLICK = "ac"  # [ac, experiment, arm, offer]: offer clicks from the arm's walls
    ARM_CONVERSION = "ax"  # [ax, experiment, arm, offer]: conversions credited to the arm
    GIFT = "g"  # [g, section]: gift links subscribers made


# Store latency buckets (upper bounds, milliseconds); the last catches everything slower.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 100, 250, 500, 1000, 2500, float("inf"),
)  # fmt: skip
BUCKET_LABELS = tuple("+Inf" if b == float("inf") else f"{b:g}" for b in LATENCY_BUCKETS_MS)
NO_LABEL = ""  # a view with no prompt or no audience


def day_key(prefix: str, day: date) -> str:
    """The hash holding every counter of `day`."""
    return f"{prefix}{{an:{day.isoformat()}}}"


def totals_key(prefix: str) -> str:
    """All-time conversions by offer (what `paywall_conversions_total` reports)."""
    return f"{prefix}{{an:totals}}"


def arm_totals_key(prefix: str) -> str:
    """All-time conversions by offer and experiment arms (Prometheus), beside the totals."""
    return f"{prefix}{{an:totals}}:arms"


def history_key(prefix: str) -> str:
    """The config history: a list of JSON entries, newest first."""
    return f"{prefix}{{an:config}}:history"


def history_seen_key(prefix: str, change_id: str) -> str:
    """Set by the first worker to record a config change, so the others do not repeat it."""
    return f"{prefix}{{an:config}}:seen:{change_id}"


def encode(field: Field) -> str:
    return json.dumps(field, separators=(",", ":"), ensure_ascii=False)


def decode(raw: bytes | str) -> Field | None:
    """The labels of a stored field, or None for one this version does not know."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str | int) and not isinstance(item, bool) for item in value)
    ):
        return None
    return tuple(value)


def expires_at(day: date, zone: tzinfo, retention_days: int) -> int:
    """Unix seconds when the hash of `day` goes: `retention_days` after the day ends."""
    end = datetime.combine(day + timedelta(days=1 + retention_days), time(), zone)
    return int(end.timestamp())


def days(start: date, end: date) -> Sequence[date]:
    """Every day from `start` to `end`, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
