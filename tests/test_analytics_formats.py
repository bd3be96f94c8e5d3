"""`paywall report`'s formats: the gifts and referral reads of known traffic in each, and the
funnel's own columns and keys as they were."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from paywall.analytics.formats import DAY_COLUMNS, render
from paywall.analytics.keys import Field
from paywall.analytics.report import AnalyticsReader, Report, build_report

from .sharing_traffic import EXPECTED, SHARING, TODAY, SharingSite

pytestmark = pytest.mark.anyio


@pytest.fixture
async def report(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> AsyncIterator[Report]:
    site = SharingSite(store, config_file(SHARING), prefix)
    await site.traffic()
    yield await AnalyticsReader(store, prefix).report(TODAY, TODAY)
    await site.paywall.analytics.aclose()


async def test_json_adds_gifts_and_referrals_beside_the_contracts_keys(report: Report) -> None:
    data = json.loads(render(report, "json"))
    assert list(data) == ["days", "offers", "experiments", "gifts", "referrals"]
    assert list(data["days"][0]) == list(DAY_COLUMNS)
    assert data["gifts"] == EXPECTED and data["referrals"] == {"views": 2}


async def test_csv_has_them_per_day_after_the_funnels_columns(report: Report) -> None:
    rows = list(csv.reader(io.StringIO(render(report, "csv"))))
    assert rows == [
        [*DAY_COLUMNS, "gifts_created", "gift_views", "gift_clicks", "gift_conversions",
         "referral_views"],
        ["2027-01-20", "13", "4", "1", "1", "2", "2", "3", "4", "1", "1", "2"],
    ]  # fmt: skip


async def test_the_table_ends_with_a_gifts_line(report: Report) -> None:
    *_, head, rule, total = render(report, "table").splitlines()
    assert head.split("  ") == ["shared", "gift links made", "gift reads", "gift clicks",
                                "gift conversions", "referral reads"]  # fmt: skip
    assert set(rule) == {"-", " "}
    assert total.split() == ["total", "3", "4", "1", "1", "2"]


def test_no_gifts_line_when_none_were_counted() -> None:
    day = date(2027, 1, 5)
    counted: dict[date, dict[Field, int]] = {
        day: {("v", "banner", "meter", "anonymous", "news", "anonymous"): 3}
    }
    table = render(build_report(day, day, counted), "table")
    assert "2027-01-05" in table and "gift" not in table
    assert render(build_report(day, day, counted), "csv").splitlines()[1] == (
        "2027-01-05,3,3,0,0,0,0,0,0,0,0,0"
    )
