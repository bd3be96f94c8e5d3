"""Store health for analytics: each store call's latency, failures, breaker openings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from paywall import PaywallMiddleware
from paywall.analytics.report import AnalyticsReader

from .conftest import CONFIG, article_site, client_for

pytestmark = pytest.mark.anyio

NOW = datetime(2027, 1, 5, 3, tzinfo=UTC)


async def test_store_calls_failures_and_breaker_openings_are_counted(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    paywall = PaywallMiddleware(
        article_site, config=config_file(CONFIG + "analytics:\n  enabled: true\n"), redis=store
    )
    paywall.clock = lambda: NOW
    async with client_for(paywall) as reader:
        for n in range(3):
            await reader.get(f"/articles/{n}")
        healthy = paywall.store.client

        class Down:
            def pipeline(self, transaction: bool = True) -> Any:
                raise RedisConnectionError("refused")

        paywall.store.client = paywall.store._script.client = Down()
        for n in range(3):  # the first fails and opens the breaker; the rest fail fast
            response = await reader.get(f"/articles/down-{n}")
            assert response.status_code == 200  # on_store_error: open
        paywall.store.client = paywall.store._script.client = healthy
    await paywall.analytics.aclose()
    report = await AnalyticsReader(store, prefix).report(date(2027, 1, 5), date(2027, 1, 5))
    (day,) = report.store
    assert (day.calls, day.errors, day.breaker_openings) == (3, 3, 1)
    assert day.p50_ms is not None
    assert report.days[0].outcomes["degraded"] == 3
