"""The dashboard's pages: the exact numbers in tables beside the charts, every stored label
escaped, offers in the config shown even before anyone saw them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from paywall.admin import pages
from paywall.analytics import ConfigChange, MeterUsage
from paywall.analytics.report import build_report

JAN5 = date(2027, 1, 5)
HOSTILE = "<script>alert(1)</script>"


def view(outcome: str, prompt: str = "", section: str = "City") -> tuple[Any, ...]:
    return ("v", outcome, prompt, "anonymous" if prompt else "", section, "anonymous")


REPORT = build_report(
    JAN5,
    JAN5,
    {
        JAN5: {
            view("banner", "meter"): 1200,
            view("walled_limit", "subscribe", HOSTILE): 30,
            ("i", HOSTILE, "subscribe", HOSTILE): 30,
            ("c", HOSTILE, "subscribe", HOSTILE): 3,
        }
    },
)


def test_the_funnel_page_has_cards_charts_and_the_day_table() -> None:
    page = pages.funnel_page(REPORT)
    assert page.title == "Funnel"
    assert "<strong>1,230</strong>" in page.main  # views, with a thousands separator
    assert "<th scope='row'>2027-01-05</th><td>1,230</td><td>1,200</td><td>0</td><td>30</td>" in (
        page.main
    )
    for spec in page.charts:
        assert f"data-chart='{spec['id']}'" in page.main
    assert "walled_limit" in page.main  # views by outcome


def test_gifts_and_referrals_show_when_configured_or_counted() -> None:
    assert "Gifts and referrals" not in pages.funnel_page(REPORT).main
    configured = pages.funnel_page(REPORT, sharing=True)
    assert (
        "data-card='Gift links made'><span class='label'>Gift links made</span><strong>0<"
        in configured.main
    )
    assert "sharing-daily" in [spec["id"] for spec in configured.charts]
    gifted = build_report(
        JAN5,
        JAN5,
        {
            JAN5: {
                ("g", "City"): 4,
                view("gift", "gifted"): 10,
                ("c", "trial-3m", "gifted", "City"): 3,
                ("x", "trial-3m", "gifted", "City"): 2,
                view("referral"): 1,
            }
        },
    )
    page = pages.funnel_page(gifted)  # counted: shown whatever the config says now
    for label, value in (("Gift links made", "4"), ("Gift reads", "10"),
                         ("Gift offer clicks", "3"), ("Conversions after a gift", "2"),
                         ("Referral reads", "1")):  # fmt: skip
        assert f"data-card='{label}'><span class='label'>{label}</span><strong>{value}<" in (
            page.main
        ), label
    assert "20.0 % of gift reads" in page.main
    assert "data-chart='sharing-daily'" in page.main


def test_labels_from_the_store_are_escaped_everywhere() -> None:
    for page in (pages.sections_page(REPORT), pages.offers_page(REPORT)):
        assert HOSTILE not in page.main
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.main


def test_offers_in_the_config_are_listed_with_zeros() -> None:
    page = pages.offers_page(REPORT, ["trial-3m", HOSTILE])
    assert "<th scope='row'>trial-3m</th><td>0</td><td>0</td><td>0.0 %</td>" in page.main
    assert page.main.count("&lt;script&gt;") == 1  # counted once, not listed twice
    assert page.charts[0]["labels"] == [HOSTILE, "trial-3m"]


def test_an_empty_range_says_so() -> None:
    empty = build_report(JAN5, JAN5, {})
    assert "Nothing counted yet" in pages.offers_page(empty).main
    assert "Nothing counted yet" in pages.sections_page(empty).main


def test_the_meter_page_shows_usage_and_the_what_if_table() -> None:
    usage = MeterUsage("2027-01", date(2027, 1, 1), JAN5, "anonymous", 3, (100, 40, 10), 25)
    page = pages.meter_page([("Anonymous readers", usage)])
    assert "100 readers used the meter; 10 used all 3 free articles; 25 walled attempts" in (
        page.main
    )
    assert "<th scope='row'>1</th><td>100</td><td>40</td><td>75</td><td>counted</td>" in page.main
    assert "<th scope='row'>3 (current)</th>" in page.main
    assert [spec["id"] for spec in page.charts] == ["usage-anonymous", "whatif-anonymous"]


def test_the_config_page_lists_reloads_with_their_diff_and_problems() -> None:
    zone = ZoneInfo("Asia/Singapore")
    history = [
        ConfigChange(
            datetime(2027, 1, 5, 2, 0, tzinfo=UTC), "rejected", "ccc", "bbb",
            "-  limit: 3\n+  limit: three", ("paywall.yaml:4: meter.limit: expected a number",),
        ),
        ConfigChange(datetime(2027, 1, 4, 2, 0, tzinfo=UTC), "ok", "bbb", "aaa", "-a\n+b"),
    ]  # fmt: skip
    page = pages.config_page(history, [date(2027, 1, 4), JAN5], zone)
    assert "2027-01-05 10:00:00" in page.main  # in meter.timezone
    assert "<span class='result rejected'>rejected</span>" in page.main
    assert "meter.limit: expected a number" in page.main
    assert "<summary>diff (2 lines)</summary><pre>-  limit: 3\n+  limit: three</pre>" in page.main
    assert page.charts[0]["series"][0]["values"] == [1, 0]
    assert page.charts[0]["series"][1]["values"] == [0, 1]


def test_store_health_marks_the_open_bucket() -> None:
    slow = build_report(JAN5, JAN5, {JAN5: {("s", "+Inf"): 3, ("se",): 2, ("so",): 1}})
    page = pages.store_page(slow)
    assert "<td>3</td><td>&gt; 2,500</td><td>&gt; 2,500</td><td>2</td><td>1</td>" in page.main
