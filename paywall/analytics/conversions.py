"""Conversions: a grant that carries the ref of the offer link the reader followed is
credited to that ref's offer, prompt and section, on the day of the grant.

Written to the store at once (a grant is rare and may come from anywhere: the CLI, a
webhook), into the day's hash and the all-time totals Prometheus reports. A ref we did not
sign is not credited; the caller is told, and the grant itself stands.
"""

from __future__ import annotations

from datetime import date, tzinfo
from typing import Any

from .keys import Kind, arm_totals_key, day_key, encode, expires_at, totals_key
from .refs import Ref


async def record_conversion(
    client: Any, prefix: str, ref: Ref, day: date, zone: tzinfo, retention_days: int
) -> None:
    """Count one conversion for `ref` on `day` (in meter.timezone), in one round trip."""
    key = day_key(prefix, day)
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(key, encode((Kind.CONVERSION, ref.offer, ref.prompt, ref.section)), 1)
    pipe.expireat(key, expires_at(day, zone, retention_days))
    pipe.hincrby(totals_key(prefix), ref.offer, 1)
    arms = ref.arms  # the experiment arms whose wall it came from
    for experiment, arm in arms:
        pipe.hincrby(key, encode((Kind.ARM_CONVERSION, experiment, arm, ref.offer)), 1)
    if arms:
        labels = ("+".join(e for e, _ in arms), "+".join(a for _, a in arms))
        pipe.hincrby(arm_totals_key(prefix), encode((ref.offer, *labels)), 1)
    await pipe.execute()
