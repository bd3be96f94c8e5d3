"""Known traffic through real uvicorn (2 workers) and real Redis: every number of the funnel
is exact in `paywall report --format json` and in `/paywall/metrics`, and a scrape of either
worker reports the sum over both.

Twelve simulated readers, limit 3: reader i reads i % 6 articles (so 0 to 2 articles past
the limit), re-reads its first one, every third opens a premium article; the readers walled
by the meter click the first offer on their last wall, two premium readers the second offer;
three clickers convert (a fourth grant carries a forged ref). The server's clock is fixed,
so everything lands on one known day. Counts reach the store only at shutdown
(flush_seconds is long): that is the lifespan flush at work in both workers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis.asyncio as aioredis

from paywall import Entitlements
from paywall.analytics.metrics import APPLY_SECONDS, sample_value, sweep
from paywall.config import load_config

from . import servers
from .conftest import CONFIG, REAL_REDIS_URL, SECRET
from .redis_server import free_port

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not REAL_REDIS_URL, reason="PAYWALL_TEST_REDIS_URL is not set"),
]

READERS = 12
NOW = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)  # noon in Tokyo
DAY = date(2027, 1, 5)
_LINK = re.compile(r'href="(/paywall/o/([a-z0-9-]+)\?r=[^"]+)"')


def config_text(prefix: str) -> str:
    text = CONFIG.replace("PREFIX", prefix)
    text = text.replace("access: premium}", "access: premium, section: premium}")
    text = text.replace("access: metered}", "access: metered, section: news}")
    text = text.replace(
        "store:\n",
        "  - {id: annual, headline: Annual, url: 'https://shop.example/annual',"
        " audience: [anonymous]}\n"
        f"store:\n  url: {REAL_REDIS_URL}\n",
    )
    text = text.replace("timeout_ms: 1000", "timeout_ms: 2000")
    return text + (
        "cookie:\n  secure: false\n"
        "analytics:\n  enabled: true\n  flush_seconds: 600\n"
        "metrics:\n  enabled: true\n"
    )


@dataclass
class Server:
    port: int
    config: Path
    prefix: str
    proc: subprocess.Popen[bytes] | None = None
    pids: set[str] = field(default_factory=set)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            limits=httpx.Limits(max_keepalive_connections=0),  # spread over the workers
            timeout=10.0,
        )

    async def get(self, client: httpx.AsyncClient, path: str) -> httpx.Response:
        response = await client.get(path)
        self.pids.add(response.headers["x-worker-pid"])
        return response


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("exact")
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    srv = Server(free_port(), folder / "paywall.yaml", prefix)
    srv.config.write_text(config_text(prefix), encoding="utf-8")
    env = {
        **os.environ,
        "PAYWALL_SECRET_KEYS": SECRET,
        "PAYWALL_TEST_CONFIG": str(srv.config),
        "PAYWALL_TEST_NOW": NOW.isoformat(),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the workers choose their run's own
    command = [
        sys.executable, "-m", "uvicorn", "tests.workers_app:app",
        "--host", "127.0.0.1", "--port", str(srv.port),
        "--workers", "2", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    answers = lambda: httpx.get(f"http://127.0.0.1:{srv.port}/", timeout=1.0).status_code == 200  # noqa: E731
    srv.proc = servers.serve(command, env, folder / "uvicorn.log", answers, 20.0)
    try:
        yield srv
    finally:
        servers.stop(srv.proc)
        servers.delete_keys(str(REAL_REDIS_URL), prefix)
        sweep(Path(tempfile.gettempdir()))  # the run's metrics directory, now the run is over


@dataclass
class Clicked:
    reader: int
    offer: str
    ref: str


async def one_reader(server: Server, i: int) -> list[Clicked]:
    """Reader i's visit; returns the offer clicks it made, with the ref each carried on."""
    views = i % 6
    clicks = []
    async with server.client() as client:
        walls: list[str] = []
        for n in range(views):
            page = await server.get(client, f"/articles/r{i}-{n}")
            assert page.status_code == 200
            if n >= 3:
                walls.append(page.text)
        if views:
            await server.get(client, f"/articles/r{i}-0")  # already read
        wanted = None
        if walls:
            wanted = (walls[-1], "trial-3m")
        if i % 3 == 0:
            premium = await server.get(client, "/premium/x")
            if i in (0, 6):
                wanted = (premium.text, "annual")
        if wanted is not None:
            links = {offer: link for link, offer in _LINK.findall(wanted[0])}
            response = await server.get(client, links[wanted[1]])
            assert response.status_code == 303
            ref = parse_qs(urlsplit(response.headers["location"]).query)["paywall_ref"][0]
            clicks.append(Clicked(i, wanted[1], ref))
    return clicks


async def test_the_funnel_is_exact_in_the_report_and_in_metrics(server: Server) -> None:
    clicked = [
        c
        for found in await asyncio.gather(*(one_reader(server, i) for i in range(READERS)))
        for c in found
    ]
    assert sorted((c.reader, c.offer) for c in clicked) == [
        (0, "annual"), (4, "trial-3m"), (5, "trial-3m"), (6, "annual"), (10, "trial-3m"),
        (11, "trial-3m"),
    ]  # fmt: skip
    async with server.client() as client:  # a click with a forged ref: redirected, not counted
        forged = await server.get(client, "/paywall/o/trial-3m?r=forged.ref")
        assert forged.status_code == 303
    assert len(server.pids) == 2, f"one worker served everything ({server.pids})"

    # Conversions: three of the clickers, with the ref their offer page received; one forged.
    config = load_config(server.config)
    store = aioredis.from_url(str(REAL_REDIS_URL))
    entitlements = Entitlements.for_config(store, config)
    until = datetime(2027, 2, 5, tzinfo=UTC)
    converting = [c for c in clicked if c.reader in (4, 5, 0)]
    for c in converting:
        assert await entitlements.grant(
            f"acct-{c.reader}", plan="subscription", until=until, ref=c.ref, now=NOW
        )
    assert (
        await entitlements.grant("acct-x", plan="trial", until=until, ref="forged", now=NOW) is None
    )
    await store.aclose()

    # /metrics, from whichever worker answers: always the sum over both, once the other
    # worker's last views have reached its prometheus-client values (APPLY_SECONDS).
    await asyncio.sleep(APPLY_SECONDS * 5)
    scrapes: dict[str, str] = {}
    async with server.client() as client:
        for _ in range(20):
            response = await client.get("/paywall/metrics")
            scrapes[response.headers["x-worker-pid"]] = response.text
    assert len(set(scrapes.values())) == 1, "the workers disagree"
    metrics = next(iter(scrapes.values()))

    def metric(name: str, **labels: str) -> float:
        return sample_value(metrics, name, labels)

    outcomes = {
        "banner": 18, "last_free": 6, "walled_limit": 6, "walled_premium": 4, "already_read": 10,
    }  # fmt: skip
    for outcome, count in outcomes.items():
        assert metric("paywall_views_total", outcome=outcome) == count, outcome
    assert metric("paywall_views_total") == 44
    assert metric("paywall_views_total", outcome="walled_limit", prompt="subscribe") == 6
    for offer, clicks, conversions in (("trial-3m", 4, 2), ("annual", 2, 1)):
        assert metric("paywall_offer_impressions_total", offer=offer) == 10
        assert metric("paywall_offer_clicks_total", offer=offer) == clicks
        assert metric("paywall_conversions_total", offer=offer) == conversions
    assert metric("paywall_store_seconds_count") == 44  # one store call per view
    assert metric("paywall_config_info") == 1

    # Stop: each worker flushes at lifespan shutdown; then the report from the shell.
    assert server.proc is not None
    servers.stop(server.proc)
    day = DAY.isoformat()
    report = subprocess.run(
        [sys.executable, "-m", "paywall", "report", "--config", str(server.config),
         "--from", day, "--to", day, "--format", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(report.stdout) == {
        "days": [
            {
                "date": day, "views": 44, "banners": 18, "last_free": 6, "walls": 10,
                "clicks": 6, "conversions": 3,
            }
        ],
        "offers": {
            "annual": {"impressions": 10, "clicks": 2, "conversions": 1},
            "trial-3m": {"impressions": 10, "clicks": 4, "conversions": 2},
        },
        "experiments": {},
        "gifts": {"created": 0, "views": 0, "clicks": 0, "conversions": 0},
        "referrals": {"views": 0},
    }  # fmt: skip
    await check_breakdowns(server.prefix, config)


async def check_breakdowns(prefix: str, config: object) -> None:
    """Sections, prompts and meter usage through the read API."""
    from paywall.analytics.report import AnalyticsReader

    store = aioredis.from_url(str(REAL_REDIS_URL))
    try:
        reader = AnalyticsReader(store, prefix)
        report = await reader.report(DAY, DAY)
        sections = {s.name: (s.views, s.walls, s.clicks, s.conversions) for s in report.sections}
        assert sections == {"news": (40, 6, 4, 2), "premium": (4, 4, 2, 1)}
        prompts = {p.name: p.views for p in report.prompts}
        assert prompts == {"meter": 18, "last-free": 6, "subscribe": 10}
        usage = await reader.meter_usage(period="month", today=DAY, limit=3)
        assert (usage.reached, usage.walled) == ((10, 8, 6), 6)
        assert report.store[0].calls == 44 and report.store[0].errors == 0
        history = await reader.config_history()
        assert [change.result for change in history] == ["start"]  # once, not once per worker
    finally:
        await store.aclose()
