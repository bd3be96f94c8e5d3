"""What each chart of the dashboard draws, as plain data for the browser (dashboard.js
turns a spec into a uPlot chart): computed here from the read API's types, so the numbers
on a chart are the numbers `paywall report` prints.

A spec is `{"id", "title", "kind": "line" | "bars", "x": name, "labels": [x labels], "series":
[{"label", "values", "color", "dash"?}], "unit": "" | "%" | "ms", "log"?, "marker"?}`; the x
axis is always categorical (days, sections, offers, limits), so no time zone is involved in
the browser. A missing value is None (a gap).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, tzinfo
from typing import Any

from ..analytics import ConfigChange, MeterUsage, OfferStats, Report, Slice, StoreDay, WhatIf

Chart = dict[str, Any]
Series = dict[str, Any]

# Colour-blind-safe (Okabe and Ito), in funnel order.
PALETTE = ("#0072B2", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#E69F00", "#000000")
TOP_SLICES = 12  # sections or prompts drawn (all are in the tables)


def chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    kind: str = "line",
    x: str = "Day",
    unit: str = "",
    log: bool = False,
    marker: int | None = None,
) -> Chart:
    spec: Chart = {
        "id": chart_id,
        "title": title,
        "kind": kind,
        "x": x,
        "labels": list(labels),
        "series": list(series),
        "unit": unit,
    }
    if log:
        spec["log"] = True
    if marker is not None:
        spec["marker"] = marker  # index of a category to mark (the current limit)
    return spec


def series(label: str, values: Iterable[float | None], color: int, dash: bool = False) -> Series:
    found: Series = {"label": label, "values": list(values), "color": PALETTE[color]}
    if dash:
        found["dash"] = True
    return found


def percent(share: float) -> float:
    return round(share * 100, 2)


def day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


# -- the funnel ---------------------------------------------------------------------------

FUNNEL_STEPS = (
    ("views", "Views"),
    ("banners", "Banners"),
    ("last_free", "Last free"),
    ("walls", "Walls"),
    ("clicks", "Offer clicks"),
    ("conversions", "Conversions"),
)


def funnel_charts(report: Report) -> list[Chart]:
    """The range's funnel (log scale: views dwarf conversions), then day by day."""
    total = report.total
    steps = [getattr(total, name) for name, _ in FUNNEL_STEPS]
    days = [day_label(day.day) for day in report.days]
    daily = [
        series(label, (getattr(day, name) for day in report.days), n)
        for n, (name, label) in enumerate(FUNNEL_STEPS[:4])
    ]
    offers = [
        series("Offer clicks", (day.clicks for day in report.days), 5),
        series("Conversions", (day.conversions for day in report.days), 6),
    ]
    return [
        chart(
            "funnel-total",
            "The funnel over the range (log scale)",
            [label for _, label in FUNNEL_STEPS],
            [series("Count", (n or None for n in steps), 0)],
            kind="bars",
            x="Step",
            log=True,
        ),
        chart("funnel-daily", "Views, banners, last free, walls by day", days, daily),
        chart("funnel-offers", "Offer clicks and conversions by day", days, offers, kind="bars"),
    ]


def sharing_chart(report: Report) -> Chart:
    """Gift links made, the reads they gave, and referral reads, by day."""
    days = [day_label(day.day) for day in report.days]
    lines = [
        series(label, (getattr(day, name) for day in report.days), color)
        for name, label, color in (
            ("gifts_created", "Gift links made", 0),
            ("gift_views", "Gift reads", 2),
            ("referral_views", "Referral reads", 4),
        )
    ]
    return chart("sharing-daily", "Gift links, gift reads and referral reads by day", days, lines)


# -- sections and prompts -----------------------------------------------------------------


def slice_charts(kind: str, slices: Sequence[Slice]) -> list[Chart]:
    """Wall rate and conversion rate of the busiest sections (or prompts)."""
    top = list(slices[:TOP_SLICES])
    names = [piece.name for piece in top]
    return [
        chart(
            f"{kind}-wall-rate",
            f"Wall rate by {kind[:-1]} (walls per view)",
            names,
            [series("Wall rate", (percent(p.wall_rate) for p in top), 3)],
            kind="bars",
            x=kind[:-1].capitalize(),
            unit="%",
        ),
        chart(
            f"{kind}-conversion-rate",
            f"Conversion rate by {kind[:-1]} (conversions per wall)",
            names,
            [series("Conversion rate", (percent(p.conversion_rate) for p in top), 2)],
            kind="bars",
            x=kind[:-1].capitalize(),
            unit="%",
        ),
    ]


# -- offers -------------------------------------------------------------------------------


def offer_charts(offers: Sequence[OfferStats]) -> list[Chart]:
    names = [offer.offer for offer in offers]
    return [
        chart(
            "offers-counts",
            "Impressions, clicks and conversions by offer (log scale)",
            names,
            [
                series("Impressions", (o.impressions or None for o in offers), 4),
                series("Clicks", (o.clicks or None for o in offers), 5),
                series("Conversions", (o.conversions or None for o in offers), 6),
            ],
            kind="bars",
            x="Offer",
            log=True,
        ),
        chart(
            "offers-rates",
            "Click-through and conversion rate by offer (per impression)",
            names,
            [
                series("Click-through", (percent(o.click_rate) for o in offers), 5),
                series("Conversion rate", (percent(o.conversion_rate) for o in offers), 6),
            ],
            kind="bars",
            x="Offer",
            unit="%",
        ),
    ]


# -- the meter and the what-if curve ------------------------------------------------------


def usage_chart(chart_id: str, usage: MeterUsage, who: str) -> Chart:
    """Readers by free articles used this period, and the walled among them."""
    top = max(usage.limit, len(usage.reached))
    labels = [str(k) for k in range(1, top + 1)]
    return chart(
        chart_id,
        f"{who}: readers by free articles used ({usage.period}, limit {usage.limit})",
        labels,
        [series("Readers", (usage.using_exactly(k) for k in range(1, top + 1)), 0)],
        kind="bars",
        x="Free articles used",
        marker=usage.limit - 1 if usage.limit > 0 else None,
    )


def what_if_chart(chart_id: str, curve: Sequence[WhatIf], limit: int, who: str) -> Chart:
    """Readers meeting the wall and walled views at each limit; modelled points dashed."""
    labels = [str(point.limit) for point in curve]

    def split(value: str, estimated: bool) -> list[float | None]:
        # The estimated half also takes the exact points next to it: the line is unbroken.
        found: list[float | None] = []
        for n, point in enumerate(curve):
            keep = point.estimated == estimated or (
                estimated and any(curve[m].estimated for m in (n - 1, n + 1) if 0 <= m < len(curve))
            )
            found.append(round(float(getattr(point, value)), 1) if keep else None)
        return found

    marker = next((n for n, point in enumerate(curve) if point.limit == limit), None)
    return chart(
        chart_id,
        f"{who}: what if the limit were… (current {limit}; dashed: estimated)",
        labels,
        [
            series("Readers walled", split("readers_walled", False), 3),
            series("Readers walled (est.)", split("readers_walled", True), 3, dash=True),
            series("Walled views", split("walled_views", False), 0),
            series("Walled views (est.)", split("walled_views", True), 0, dash=True),
        ],
        x="Limit",
        marker=marker,
    )


# -- store health -------------------------------------------------------------------------


def _ms(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


def store_charts(store: Sequence[StoreDay]) -> list[Chart]:
    days = [day_label(day.day) for day in store]
    return [
        chart(
            "store-latency",
            "Store latency by day (bucket upper bound)",
            days,
            [
                series("p50", (_ms(day.p50_ms) for day in store), 0),
                series("p99", (_ms(day.p99_ms) for day in store), 3),
            ],
            unit="ms",
        ),
        chart(
            "store-faults",
            "Store errors and breaker openings by day",
            days,
            [
                series("Errors", (day.errors for day in store), 3),
                series("Breaker openings", (day.breaker_openings for day in store), 6),
            ],
            kind="bars",
        ),
        chart(
            "store-calls",
            "Store calls by day",
            days,
            [series("Calls", (day.calls for day in store), 1)],
            kind="bars",
        ),
    ]


# -- config history -----------------------------------------------------------------------


def reload_chart(history: Sequence[ConfigChange], days: Sequence[date], zone: tzinfo) -> Chart:
    """Accepted and rejected reloads per day of the range (starts left out)."""
    counts = Counter(
        (change.time.astimezone(zone).date(), change.result)
        for change in history
        if change.result != "start"
    )
    return chart(
        "config-reloads",
        "Config reloads by day",
        [day_label(day) for day in days],
        [
            series("Accepted", (counts[(day, "ok")] for day in days), 2),
            series("Rejected", (counts[(day, "rejected")] for day in days), 3),
        ],
        kind="bars",
    )
