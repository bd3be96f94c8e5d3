"""The read API: per-day counters become the funnel, its breakdowns and the contract's JSON."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from paywall.analytics.keys import Kind, day_key, encode
from paywall.analytics.report import AnalyticsReader, build_report

from .sharing_traffic import EXPECTED, SHARING, TODAY, SharingSite

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
    assert set(data) == {"days", "offers", "experiments", "gifts", "referrals"}
    assert data["gifts"] == {"created": 0, "views": 0, "clicks": 0, "conversions": 0}
    assert data["referrals"] == {"views": 0}
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


def test_gifts_and_referral_reads_by_day_and_in_all() -> None:
    gifts: dict[date, dict[tuple[Any, ...], int]] = {
        JAN5: {
            ("g", "news"): 3,
            ("g", "premium"): 1,
            view("gift", "gifted", "news"): 6,
            view("referral", section="news"): 4,
            view("entitled", "gift", who="account"): 2,  # a subscriber's control: no gift read
            ("i", "trial-3m", "gifted", "news"): 6,  # impressions: no gift click
            ("c", "trial-3m", "gifted", "news"): 2,
            ("c", "trial-3m", "subscribe", "news"): 5,  # a wall's: not a gift's
            ("x", "trial-3m", "gifted", "news"): 1,
            ("g",): 7,  # fields of another shape are not this version's: skipped
            ("g", "news", "extra"): 7,
        },
        JAN7: {("g", "news"): 2, ("x", "trial-3m", "gifted", "news"): 1},
    }
    report = build_report(JAN5, JAN7, gifts)
    first, _, last = report.days
    assert (first.gifts_created, first.gift_views, first.gift_clicks) == (4, 6, 2)
    assert (first.gift_conversions, first.referral_views) == (1, 4)
    assert (last.gifts_created, last.gift_conversions, last.gift_views) == (2, 1, 0)
    data = report.to_json()
    assert data["gifts"] == {"created": 6, "views": 6, "clicks": 2, "conversions": 2}
    assert data["referrals"] == {"views": 4}
    assert data["days"][0]["views"] == 12 and data["days"][0]["clicks"] == 7
    assert report.offer("trial-3m").clicks == 7  # gift clicks are offer clicks too


async def test_gifts_and_referrals_of_known_traffic(
    store: Any, config_file: Any, prefix: str
) -> None:
    site = SharingSite(store, config_file(SHARING), prefix)
    await site.traffic()
    report = await AnalyticsReader(store, prefix).report(TODAY, TODAY)
    await site.paywall.analytics.aclose()
    data = report.to_json()
    assert data["gifts"] == EXPECTED
    assert data["referrals"] == {"views": 2}
    assert data["days"] == [
        {
            "date": "2027-01-20", "views": 13, "banners": 4, "last_free": 1, "walls": 1,
            "clicks": 2, "conversions": 2,
        }
    ]  # fmt: skip
    assert data["offers"] == {"trial-3m": {"impressions": 5, "clicks": 2, "conversions": 2}}
    prompts = {p.name: (p.views, p.clicks, p.conversions) for p in report.prompts}
    assert prompts["gifted"] == (4, 1, 1) and prompts["gift"] == (1, 0, 0)
