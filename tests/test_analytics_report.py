"""The read API: per-day counters become the funnel, its breakdowns and the contract's JSON."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from paywall.analytics.keys import Kind, day_key, encode
from paywall.analytics.report import AnalyticsReader, build_report

pytestmark = pytest.mark.anyio

JAN5, JAN6, JAN7 = date(2027, 1, 5), date(2027, 1, 6), date(2027, 1, 7)


def view(
    outcome: str, prompt: str = "", section: str = "articles", who: str = "anonymous"
) -> tuple[Any, ...]:
    return (Kind.VIEW.value, outcome, prompt, "anonymous" if prompt else "", section, who)


COUNTERS: dict[date, dict[tuple[Any, ...], int]] = {
    JAN5: {
        view("banner", "meter"): 20,
        view("last_free", "last-free"): 5,
        view("walled_limit", "subscribe"): 7,
        view("walled_premium", "subscribe", "premium"): 3,
        view("entitled", who="account"): 4,
        ("i", "trial-3m", "subscribe", "articles"): 7,
        ("i", "trial-3m", "subscribe", "premium"): 3,
        ("c", "trial-3m", "subscribe", "articles"): 2,
        ("x", "trial-3m", "subscribe", "articles"): 1,
        ("r", "anonymous", 1): 12,
        ("r", "anonymous", 2): 8,
        ("s", "1"): 30,
        ("s", "5"): 9,
        ("s", "+Inf"): 1,
        ("se",): 1,
    },
    JAN7: {view("register_wall", "register"): 2, ("r", "anonymous", 1): 1},
}


def test_the_daily_funnel_counts_every_outcome_and_zero_days() -> None:
    report = build_report(JAN5, JAN7, COUNTERS)
    first, empty, last = report.days
    assert (first.views, first.banners, first.last_free, first.walls) == (39, 20, 5, 10)
    assert (first.impressions, first.clicks, first.conversions) == (10, 2, 1)
    assert first.outcomes["entitled"] == 4
    assert empty.day == JAN6 and empty.views == 0
    assert (last.views, last.walls) == (2, 2)
    assert report.total.views == 41 and report.total.walls == 12


def test_sections_prompts_and_offers() -> None:
    report = build_report(JAN5, JAN7, COUNTERS)
    sections = {s.name: s for s in report.sections}
    assert sections["articles"].views == 38 and sections["articles"].walls == 9
    assert sections["premium"].wall_rate == 1.0
    assert sections["articles"].conversion_rate == pytest.approx(1 / 9)
    prompts = {p.name: p for p in report.prompts}
    assert prompts["subscribe"].walls == 10 and prompts["subscribe"].clicks == 2
    assert "" not in prompts  # views without a prompt belong to no prompt
    offer = report.offer("trial-3m")
    assert (offer.impressions, offer.clicks, offer.conversions) == (10, 2, 1)
    assert offer.click_rate == pytest.approx(0.2)


def test_store_health_percentiles_from_buckets() -> None:
    store = build_report(JAN5, JAN5, COUNTERS).store[0]
    assert (store.calls, store.errors) == (40, 1)
    assert store.p50_ms == 1 and store.percentile(0.95) == 5
    assert store.p99_ms == float("inf")  # 1 call in 40 went past the last bucket
    assert build_report(JAN6, JAN6, COUNTERS).store[0].p50_ms is None


def test_contract_json_shape() -> None:
    data = build_report(JAN5, JAN6, COUNTERS).to_json()
    assert set(data) == {"days", "offers", "experiments"}
    assert data["days"][0] == {
        "date": "2027-01-05",
        "views": 39,
        "banners": 20,
        "last_free": 5,
        "walls": 10,
        "clicks": 2,
        "conversions": 1,
    }
    assert data["offers"] == {"trial-3m": {"impressions": 10, "clicks": 2, "conversions": 1}}
    assert data["experiments"] == {}


async def test_reader_reads_what_was_stored(store: Any, prefix: str) -> None:
    for day, counts in COUNTERS.items():
        await store.hset(day_key(prefix, day), mapping={encode(k): v for k, v in counts.items()})
    await store.hset(day_key(prefix, JAN6), "not json", 5)  # a field it cannot read is skipped
    reader = AnalyticsReader(store, prefix)
    report = await reader.report(JAN5, JAN7)
    assert report == build_report(JAN5, JAN7, COUNTERS)
    usage = await reader.meter_usage(period="month", today=JAN7, limit=2)
    assert (usage.period, usage.reached, usage.walled) == ("2027-01", (13, 8), 9)
    assert usage.end == JAN7
    with pytest.raises(ValueError):
        await reader.report(JAN7, JAN5)


async def test_usage_for_a_config_takes_its_period_and_limit(
    store: Any, prefix: str, config_file: Any
) -> None:
    from paywall.config import load_config

    for day, counts in COUNTERS.items():
        await store.hset(day_key(prefix, day), mapping={encode(k): v for k, v in counts.items()})
    config = load_config(config_file())
    reader = AnalyticsReader.for_config(store, config)
    usage = await reader.meter_usage_for(config, JAN7)
    assert (usage.limit, usage.reached, usage.start) == (3, (13, 8), date(2027, 1, 1))
    assert (await reader.meter_usage_for(config, JAN7, "account")).reached == ()
