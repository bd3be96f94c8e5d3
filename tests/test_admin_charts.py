"""What the dashboard's charts draw: the read API's numbers, in the shape dashboard.js reads."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from paywall.admin import charts
from paywall.analytics import ConfigChange, MeterUsage, StoreDay, what_if
from paywall.analytics.keys import LATENCY_BUCKETS_MS
from paywall.analytics.report import build_report

JAN5, JAN6 = date(2027, 1, 5), date(2027, 1, 6)


def view(outcome: str, prompt: str = "", section: str = "City") -> tuple[Any, ...]:
    return ("v", outcome, prompt, "anonymous" if prompt else "", section, "anonymous")


COUNTERS: dict[date, dict[tuple[Any, ...], int]] = {
    JAN5: {
        view("banner", "meter"): 20,
        view("last_free", "last-free"): 5,
        view("walled_limit", "subscribe"): 8,
        view("walled_premium", "subscribe", "Premium"): 2,
        ("i", "trial-3m", "subscribe", "City"): 8,
        ("c", "trial-3m", "subscribe", "City"): 2,
        ("x", "trial-3m", "subscribe", "City"): 1,
    },
    JAN6: {view("banner", "meter", "Sport"): 4},
}
REPORT = build_report(JAN5, JAN6, COUNTERS)


def by_id(specs: list[charts.Chart]) -> dict[str, charts.Chart]:
    json.dumps(specs, allow_nan=False)  # what the page ships must be plain JSON
    return {spec["id"]: spec for spec in specs}


def test_the_sharing_chart_draws_gifts_and_referral_reads_by_day() -> None:
    counted: dict[date, dict[tuple[Any, ...], int]] = {
        JAN5: {("g", "City"): 3, view("gift", "gifted"): 5},
        JAN6: {view("referral"): 2, ("g", "Sport"): 1},
    }
    spec = charts.sharing_chart(build_report(JAN5, JAN6, counted))
    assert spec["id"] == "sharing-daily" and spec["labels"] == ["Jan 5", "Jan 6"]
    assert [(s["label"], s["values"]) for s in spec["series"]] == [
        ("Gift links made", [3, 1]), ("Gift reads", [5, 0]), ("Referral reads", [0, 2]),
    ]  # fmt: skip


def test_the_funnel_charts_carry_the_reports_numbers() -> None:
    specs = by_id(charts.funnel_charts(REPORT))
    total = specs["funnel-total"]
    assert total["labels"] == ["Views", "Banners", "Last free", "Walls", "Offer clicks",
                               "Conversions"]  # fmt: skip
    assert total["series"][0]["values"] == [39, 24, 5, 10, 2, 1] and total["log"] is True
    daily = specs["funnel-daily"]
    assert daily["labels"] == ["Jan 5", "Jan 6"] and daily["x"] == "Day"
    assert [s["label"] for s in daily["series"]] == ["Views", "Banners", "Last free", "Walls"]
    assert daily["series"][0]["values"] == [35, 4]
    offers = specs["funnel-offers"]
    assert [s["values"] for s in offers["series"]] == [[2, 0], [1, 0]]


def test_a_zero_on_a_log_scale_is_a_gap_not_a_bar() -> None:
    empty = build_report(JAN5, JAN5, {JAN5: {view("banner", "meter"): 3}})
    values = by_id(charts.funnel_charts(empty))["funnel-total"]["series"][0]["values"]
    assert values == [3, 3, None, None, None, None]


def test_sections_and_prompts_draw_rates_in_percent() -> None:
    specs = by_id(charts.slice_charts("sections", REPORT.sections))
    walls = specs["sections-wall-rate"]
    assert walls["unit"] == "%" and walls["x"] == "Section"
    rates = dict(zip(walls["labels"], walls["series"][0]["values"], strict=True))
    assert rates == {"City": 24.24, "Sport": 0.0, "Premium": 100.0}
    conversions = specs["sections-conversion-rate"]["series"][0]["values"]
    assert conversions[walls["labels"].index("City")] == 12.5


def test_offers_counts_and_rates() -> None:
    specs = by_id(charts.offer_charts(REPORT.offers))
    counts = specs["offers-counts"]
    assert counts["labels"] == ["trial-3m"]
    assert [s["values"] for s in counts["series"]] == [[8], [2], [1]]
    assert [s["values"] for s in specs["offers-rates"]["series"]] == [[25.0], [12.5]]


def test_the_what_if_curve_dashes_what_is_estimated_and_marks_the_limit() -> None:
    usage = MeterUsage("2027-01", JAN5, JAN6, "anonymous", 3, (100, 40, 10), 25)
    curve = what_if(usage)
    spec = charts.what_if_chart("w", curve, 3, "Anonymous readers")
    assert spec["labels"] == ["1", "2", "3", "4", "5", "6"] and spec["marker"] == 2
    counted, estimated = spec["series"][0]["values"], spec["series"][1]["values"]
    assert counted[:2] == [40.0, 10.0] and counted[2:] == [None] * 4
    assert estimated[0] is None and estimated[1] == 10.0  # joined to the counted line
    assert estimated[2] == round(curve[2].readers_walled, 1)
    assert spec["series"][1]["dash"] is True
    usage_chart = charts.usage_chart("u", usage, "Anonymous readers")
    assert usage_chart["series"][0]["values"] == [60, 30, 10] and usage_chart["marker"] == 2


def test_store_latency_leaves_days_without_calls_and_the_open_bucket_as_gaps() -> None:
    buckets = [0] * len(LATENCY_BUCKETS_MS)
    slow = [0] * len(LATENCY_BUCKETS_MS)
    buckets[1], slow[-1] = 10, 10
    days = [
        StoreDay(JAN5, 10, 1, 1, tuple(buckets)),
        StoreDay(JAN6, 0, 0, 0, tuple([0] * len(LATENCY_BUCKETS_MS))),
        StoreDay(date(2027, 1, 7), 10, 0, 0, tuple(slow)),
    ]
    specs = by_id(charts.store_charts(days))
    p50, p99 = specs["store-latency"]["series"]
    assert p50["values"] == [1, None, None] and p99["values"] == [1, None, None]
    faults = specs["store-faults"]["series"]
    assert faults[0]["values"] == [1, 0, 0] and faults[1]["values"] == [1, 0, 0]


def test_reloads_are_counted_on_their_day_in_the_meters_time_zone() -> None:
    zone = ZoneInfo("Asia/Tokyo")
    history = [
        ConfigChange(datetime(2027, 1, 5, 16, 0, tzinfo=UTC), "ok", "b", "a", ""),  # Jan 6 Tokyo
        ConfigChange(datetime(2027, 1, 5, 1, 0, tzinfo=UTC), "rejected", "c", "a", ""),
        ConfigChange(datetime(2027, 1, 5, 0, 0, tzinfo=UTC), "start", "a", "", ""),
    ]
    spec = charts.reload_chart(history, [JAN5, JAN6], zone)
    assert [s["values"] for s in spec["series"]] == [[0, 1], [1, 0]]
