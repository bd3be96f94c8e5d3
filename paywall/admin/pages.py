"""The dashboard's pages as HTML fragments: for each, its charts (charts.py) and the
tables with the exact numbers beneath them. Everything shown comes from the read API;
every value from the store or the config is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from html import escape

from ..analytics import ConfigChange, MeterUsage, Report, Slice, what_if
from . import charts
from .charts import Chart


@dataclass(frozen=True)
class Page:
    title: str
    main: str  # HTML
    charts: list[Chart] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    """One entry of the navigation."""

    slug: str  # path under {prefix}/admin/
    name: str
    dated: bool = True  # shows a range of days (the range picker above it)


PAGES: tuple[Section, ...] = (
    Section("", "Funnel"),
    Section("sections", "Sections & prompts"),
    Section("offers", "Offers"),
    Section("meter", "Meter"),
    Section("store", "Store health"),
    Section("config", "Config history"),
    Section("experiments", "Experiments"),
    Section("preview", "Preview", dated=False),
)


def number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def rate(share: float) -> str:
    return f"{share * 100:.1f} %"


def table(caption: str, head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table of already-escaped cells; every column after the first is numeric."""
    cells = "".join(f"<th scope='col'>{escape(name)}</th>" for name in head)
    body = "".join(
        f"<tr><th scope='row'>{row[0]}</th>" + "".join(f"<td>{c}</td>" for c in row[1:]) + "</tr>"
        for row in rows
    )
    if not body:
        body = f"<tr><td colspan='{len(head)}' class='empty'>Nothing counted yet</td></tr>"
    return (
        f"<div class='table'><table><caption>{escape(caption)}</caption>"
        f"<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def figures(specs: Sequence[Chart]) -> str:
    """The places dashboard.js draws `specs` into."""
    return "<div class='charts'>" + "".join(
        f"<figure class='chart' data-chart='{escape(spec['id'])}'>"
        f"<figcaption>{escape(spec['title'])}</figcaption><div class='plot'></div></figure>"
        for spec in specs
    ) + "</div>"


def cards(items: Sequence[tuple[str, str, str]]) -> str:
    """Headline numbers: (label, value, note)."""
    return "<ul class='cards'>" + "".join(
        f"<li data-card='{escape(label)}'><span class='label'>{escape(label)}</span>"
        f"<strong>{value}</strong><span class='note'>{escape(note)}</span></li>"
        for label, value, note in items
    ) + "</ul>"


# -- pages --------------------------------------------------------------------------------


def funnel_page(report: Report, sharing: bool = False) -> Page:
    """The funnel; beneath its charts gifts and referral reads, when the config has them
    (`sharing`) or the range counted some; then the tables."""
    total = report.total
    specs = charts.funnel_charts(report)
    headline = cards(
        [
            ("Views", number(total.views), "decided views"),
            ("Banners", number(total.banners), rate(_share(total.banners, total.views))),
            ("Last free", number(total.last_free), rate(_share(total.last_free, total.views))),
            ("Walls", number(total.walls), rate(_share(total.walls, total.views)) + " of views"),
            ("Offer clicks", number(total.clicks), rate(_share(total.clicks, total.impressions))
             + " of impressions"),
            ("Conversions", number(total.conversions), rate(_share(total.conversions, total.walls))
             + " of walls"),
        ]
    )  # fmt: skip
    main = headline + figures(specs)
    counted = (total.gifts_created, total.gift_views, total.gift_clicks, total.referral_views)
    if sharing or any(counted):
        gifts = charts.sharing_chart(report)
        specs.append(gifts)
        main += "<h2>Gifts and referrals</h2>" + cards(
            [
                ("Gift links made", number(total.gifts_created), "by subscribers"),
                ("Gift reads", number(total.gift_views), "articles opened by a gift link"),
                ("Gift offer clicks", number(total.gift_clicks), "from the gifted banner"),
                ("Conversions after a gift", number(total.gift_conversions),
                 rate(_share(total.gift_conversions, total.gift_views)) + " of gift reads"),
                ("Referral reads", number(total.referral_views), "free by a referral rule"),
            ]
        ) + figures([gifts])  # fmt: skip
    rows = [
        [
            escape(day.day.isoformat()),
            *(number(getattr(day, name)) for name, _ in charts.FUNNEL_STEPS),
        ]
        for day in reversed(report.days)
    ]
    outcomes = sorted(total.outcomes.items(), key=lambda item: (-item[1], item[0]))
    main += table("By day", ["Day", *(label for _, label in charts.FUNNEL_STEPS)], rows) + table(
        "Views by outcome",
        ["Outcome", "Views"],
        ([escape(name), number(n)] for name, n in outcomes),
    )
    return Page("Funnel", main, specs)


def sections_page(report: Report) -> Page:
    specs = [
        *charts.slice_charts("sections", report.sections),
        *charts.slice_charts("prompts", report.prompts),
    ]
    main = (
        figures(specs[:2])
        + _slice_table("Sections", report.sections)
        + figures(specs[2:])
        + _slice_table("Prompts", report.prompts)
    )
    return Page("Sections & prompts", main, specs)


def _slice_table(caption: str, slices: Sequence[Slice]) -> str:
    head = ["Name", "Views", "Walls", "Wall rate", "Impressions", "Clicks", "Conversions",
            "Conversion rate"]  # fmt: skip
    rows = (
        [
            escape(s.name),
            number(s.views),
            number(s.walls),
            rate(s.wall_rate),
            number(s.impressions),
            number(s.clicks),
            number(s.conversions),
            rate(s.conversion_rate),
        ]
        for s in slices
    )
    return table(caption, head, rows)


def offers_page(report: Report, configured: Sequence[str] = ()) -> Page:
    """Every offer counted in the range, and every offer in the config (zeros included)."""
    counted = {offer.offer for offer in report.offers}
    offers = [*report.offers, *(report.offer(o) for o in configured if o not in counted)]
    specs = charts.offer_charts(offers)
    head = ["Offer", "Impressions", "Clicks", "Click-through", "Conversions", "Conversion rate"]
    rows = (
        [
            escape(o.offer),
            number(o.impressions),
            number(o.clicks),
            rate(o.click_rate),
            number(o.conversions),
            rate(o.conversion_rate),
        ]
        for o in offers
    )
    return Page("Offers", figures(specs) + table("Offers", head, rows), specs)


def meter_page(usages: Sequence[tuple[str, MeterUsage]]) -> Page:
    """Meter usage in the period, and the what-if curve, for each kind of reader."""
    specs: list[Chart] = []
    parts = []
    for who, usage in usages:
        curve = what_if(usage)
        slug = who.split()[0].lower()
        pair = [
            charts.usage_chart(f"usage-{slug}", usage, who),
            charts.what_if_chart(f"whatif-{slug}", curve, usage.limit, who),
        ]
        specs.extend(pair)
        rows = (
            [
                number(p.limit) + (" (current)" if p.limit == usage.limit else ""),
                number(p.readers_using_all),
                number(p.readers_walled),
                number(p.walled_views),
                "estimated" if p.estimated else "counted",
            ]
            for p in curve
        )
        summary = (
            f"<p class='lede'>{escape(who)}, {escape(usage.period)} ({usage.start} to"
            f" {usage.end}): {number(usage.readers)} readers used the meter;"
            f" {number(usage.reaching(usage.limit))} used all {usage.limit} free articles;"
            f" {number(usage.walled)} walled attempts.</p>"
        )
        head = ["Limit", "Readers using all", "Readers walled", "Walled views", ""]
        parts.append(
            f"<h2>{escape(who)}</h2>" + summary + figures(pair)
            + table(f"What if ({who})", head, rows)
        )  # fmt: skip
    return Page("Meter", "".join(parts), specs)


def store_page(report: Report) -> Page:
    specs = charts.store_charts(report.store)
    head = ["Day", "Calls", "p50 (ms)", "p99 (ms)", "Errors", "Breaker openings"]
    rows = (
        [
            escape(day.day.isoformat()),
            number(day.calls),
            _ms(day.p50_ms),
            _ms(day.p99_ms),
            number(day.errors),
            number(day.breaker_openings),
        ]
        for day in reversed(report.store)
    )
    return Page("Store health", figures(specs) + table("By day", head, rows), specs)


def config_page(history: Sequence[ConfigChange], days: Sequence[date], zone: tzinfo) -> Page:
    specs = [charts.reload_chart(history, days, zone)]
    head = ["Time", "Result", "Hash", "Before", "Change"]
    rows = (
        [
            escape(f"{change.time.astimezone(zone):%Y-%m-%d %H:%M:%S}"),
            f"<span class='result {escape(change.result)}'>{escape(change.result)}</span>",
            f"<code>{escape(change.hash)}</code>",
            f"<code>{escape(change.previous)}</code>",
            _change(change),
        ]
        for change in history
    )
    note = f"<p class='lede'>Times in {escape(str(zone))}; newest first.</p>"
    return Page(
        "Config history", figures(specs) + note + table("Reloads", head, rows), specs
    )


def _change(change: ConfigChange) -> str:
    problems = "".join(f"<li>{escape(problem)}</li>" for problem in change.problems)
    found = f"<ul class='problems'>{problems}</ul>" if problems else ""
    if change.diff:
        lines = change.diff.count("\n") + 1
        found += (
            f"<details><summary>diff ({lines} lines)</summary>"
            f"<pre>{escape(change.diff)}</pre></details>"
        )
    return found or "—"


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return "&gt; 2,500" if value == float("inf") else number(value)
