"""The demo's simulated month: driven through the real middleware on a moving clock, it
leaves every number the dashboard draws, on the days it simulated and nowhere else."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from paywall.analytics import AnalyticsReader
from paywall.analytics.keys import Kind, day_key, decode
from paywall.config import load_config
from paywall.demo.app import DEMO_CONFIG
from paywall.demo.traffic import simulate

pytestmark = pytest.mark.anyio

END = date(2027, 1, 31)
START = END - timedelta(days=29)


def demo_config(tmp_path: Path, prefix: str) -> Path:
    """The demo's config, its keys under the test's prefix."""
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    text = text.replace("url: memory://", f'url: memory://\n  prefix: "{prefix}"')
    path = tmp_path / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def gift_links_made(client: Any, prefix: str, start: date, end: date) -> int:
    """The gift links the analytics counted over the days (fields [g, section])."""
    made = 0
    for n in range((end - start).days + 1):
        counters = await client.hgetall(day_key(prefix, start + timedelta(days=n)))
        made += sum(int(v) for f, v in counters.items() if (decode(f) or ("",))[0] == Kind.GIFT)
    return made


@pytest.fixture
def config(tmp_path: Path, prefix: str) -> Path:
    return demo_config(tmp_path, prefix)


async def test_a_simulated_month_fills_every_chart(store: Any, config: Path, prefix: str) -> None:
    done = await simulate(config, store, end=END)
    assert (done.start, done.end) == (START, END)
    assert done.requests > 2000 and done.conversions > 0
    reader = AnalyticsReader(store, prefix)
    report = await reader.report(START, END)
    assert all(day.views > 0 for day in report.days)
    total = report.total
    assert total.banners and total.last_free and total.walls and total.clicks
    assert total.conversions == done.conversions  # every purchase credited to its offer
    for outcome in ("walled_limit", "walled_premium", "entitled", "already_read", "crawler",
                    "prefetch", "degraded", "gift", "referral"):  # fmt: skip
        assert total.outcomes.get(outcome, 0) > 0, outcome
    assert {"City", "Business", "Technology", "Premium"} <= {s.name for s in report.sections}
    assert {"subscribe", "trial-expired", "gift", "gifted"} <= {p.name for p in report.prompts}
    # Subscribers made gift links through the gift endpoint, counted on the simulated days;
    # newcomers open them, each link once (a gifted view), the last day's after the month.
    assert done.gifts > 0 and await gift_links_made(store, prefix, START, END) == done.gifts
    assert 0 < total.outcomes["gift"] <= done.gifts
    assert all(offer.impressions > 0 for offer in report.offers)
    # One evening the store was down: errors and a breaker opening on that day only.
    troubled = [day for day in report.store if day.errors]
    assert len(troubled) == 1 and troubled[0].breaker_openings >= 1
    assert report.days[[d.day for d in report.days].index(troubled[0].day)].outcomes["degraded"]
    usage = await reader.meter_usage(period="month", today=END, limit=3, who="anonymous")
    assert usage.readers > 0 and usage.reaching(3) > 0 and usage.walled > 0


async def test_counts_land_on_the_simulated_days_only(
    store: Any, config: Path, prefix: str
) -> None:
    await simulate(config, store, end=END, days=2)
    reader = AnalyticsReader(store, prefix)
    around = await reader.report(END - timedelta(days=3), END + timedelta(days=1))
    assert [day.views > 0 for day in around.days] == [False, False, True, True, False]


async def test_the_same_seed_gives_the_same_month(tmp_path: Path, prefix: str) -> None:
    reports = []
    for n in range(2):
        folder = tmp_path / str(n)
        folder.mkdir()
        client = fakeredis.FakeAsyncRedis()
        path = demo_config(folder, prefix)
        await simulate(path, client, end=END, days=7)
        reader = AnalyticsReader(client, prefix)
        reports.append(await reader.report(END - timedelta(days=6), END, load_config(path)))
    first, second = reports
    assert first.days == second.days and first.offers == second.offers
    assert first.experiments == second.experiments  # reader ids, and so arms, are seeded too


async def test_the_demos_experiments_fill_from_the_simulated_month(
    store: Any, config: Path, prefix: str
) -> None:
    await simulate(config, store, end=END)
    settings = load_config(config)
    report = await AnalyticsReader(store, prefix).report(START, END, settings)
    found = {result.id: result for result in report.experiments}
    assert set(found) == {"annual-first", "limit-3-vs-5"}
    for result in found.values():
        assert result.end == END and not result.mismatch
        for arm in result.arms:
            assert arm.readers > 50 and arm.views > arm.readers, (result.id, arm)
    offers = found["annual-first"]
    assert all(arm.walls > 100 and arm.clicks > 0 for arm in offers.arms)
    assert sum(arm.conversions for arm in offers.arms) > 0
    assert all(arm.revenue_per_mille is not None for arm in offers.arms)  # offers have prices
    limit = found["limit-3-vs-5"]
    assert limit.arm("control").walls > limit.arm("five").walls  # five free articles, not three


async def test_without_analytics_nothing_is_simulated(tmp_path: Path, prefix: str) -> None:
    path = demo_config(tmp_path, prefix)
    path.write_text(path.read_text().replace("enabled: true", "enabled: false"))
    client = fakeredis.FakeAsyncRedis()
    done = await simulate(path, client, end=END)
    assert done.requests == 0
    assert (await AnalyticsReader(client, prefix).report(START, END)).total.views == 0
