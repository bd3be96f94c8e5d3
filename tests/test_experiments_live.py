"""An experiment through real uvicorn (two workers) and a real Redis of the test's own: a
limit override changes exactly what readers in its arm see, and nothing else. Control's
reader meets the wall at the fourth article, arm five's at the sixth; their meters in Redis
hold 3 and 5 articles; each view is one EVALSHA; Prometheus labels the views and the
conversion by arm; `paywall report --experiment` counts one reader per arm.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis.asyncio as aioredis

from paywall import Entitlements
from paywall.analytics.metrics import APPLY_SECONDS, sample_value, sweep
from paywall.config import load_config
from paywall.identity import ReaderCookie

from . import servers
from .conftest import CONFIG, SECRET
from .redis_server import RedisServer, free_port, redis_server  # noqa: F401 (the fixture)

pytestmark = pytest.mark.anyio

NOW = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)  # noon in Tokyo
EXPERIMENT = "limit-3-vs-5"
_LEFT = re.compile(r"You have (\d) free articles? left|(your last free article)")


def config_text(url: str, prefix: str) -> str:
    text = CONFIG.replace("PREFIX", prefix).replace(
        "access: metered}", "access: metered, section: news}"
    )
    return (
        text.replace("store:\n", f"store:\n  url: {url}\n")
        + f"""
cookie: {{secure: false}}
analytics: {{enabled: true, flush_seconds: 600}}
metrics: {{enabled: true}}
experiments:
  - id: {EXPERIMENT}
    starts: 2027-01-01
    applies_to: {{audience: [anonymous], sections: [news]}}
    arms:
      - {{name: control, weight: 50}}
      - {{name: five, weight: 50, meter: {{limit: 5}}}}
"""
    )


@dataclass
class Site:
    url: str
    config: Path
    prefix: str
    redis: RedisServer
    proc: object


@pytest.fixture
def site(redis_server: RedisServer, tmp_path: Path) -> Iterator[Site]:  # noqa: F811
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    config = tmp_path / "paywall.yaml"
    config.write_text(config_text(redis_server.url, prefix), encoding="utf-8")
    port = free_port()
    env = {**os.environ, "PAYWALL_SECRET_KEYS": SECRET, "PAYWALL_TEST_CONFIG": str(config),
           "PAYWALL_TEST_NOW": NOW.isoformat()}  # fmt: skip
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "uvicorn", "tests.workers_app:app", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "2", "--log-level", "warning",
               "--no-access-log"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    answers = lambda: httpx.get(url + "/", timeout=1.0).status_code == 200  # noqa: E731
    proc = servers.serve(command, env, tmp_path / "uvicorn.log", answers, 20.0)
    try:
        yield Site(url, config, prefix, redis_server, proc)
    finally:
        servers.stop(proc)
        sweep(Path(tempfile.gettempdir()))


def reader_in(arm: str, site: Site) -> str:
    experiment = load_config(site.config).experiments.get(EXPERIMENT)
    assert experiment is not None
    return next(
        r for r in (f"live-reader-{n:06d}" for n in range(1000)) if experiment.arm_of(r).name == arm
    )


def browser(site: Site, reader_id: str) -> httpx.AsyncClient:
    """A browser whose reader cookie (signed with the server's key) carries `reader_id`."""
    cookie = ReaderCookie([SECRET], "paywall_rid", secure=False, max_age=3600).header(reader_id)
    client = httpx.AsyncClient(
        base_url=site.url, timeout=10.0, limits=httpx.Limits(max_keepalive_connections=0)
    )
    client.cookies.set("paywall_rid", cookie.decode().split(";")[0].split("=", 1)[1])
    return client


def seen(page: httpx.Response) -> str:
    found = _LEFT.search(page.text)
    if found is None:
        return "walled" if 'data-paywall="subscribe"' in page.text else "?"
    return found.group(1) or "last"


def command_calls(site: Site) -> dict[str, int]:
    with site.redis.sync_client() as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


async def test_a_limit_override_changes_exactly_what_its_arm_sees(site: Site) -> None:
    # Warm up: each worker loads the meter script (premium views: outside the experiment).
    async with browser(site, "warm-up-reader-000000") as warm:
        for n in range(8):
            assert (await warm.get(f"/premium/warm-{n}")).status_code == 200
    with site.redis.sync_client() as client:
        client.config_resetstat()

    control, five = reader_in("control", site), reader_in("five", site)
    async with browser(site, control) as reader:
        walk = [seen(await reader.get(f"/articles/c{n}")) for n in range(5)]
        assert walk == ["2", "1", "last", "walled", "walled"]
        wall = (await reader.get("/articles/c0")).text  # already read: in full
    async with browser(site, five) as reader:
        walk = [seen(await reader.get(f"/articles/f{n}")) for n in range(7)]
        assert walk == ["4", "3", "2", "1", "last", "walled", "walled"]
        last_wall = (await reader.get("/articles/f9")).text
        assert "You have read your 5 free articles this month" in last_wall
        link = re.search(r'href="(/paywall/o/trial-3m\?r=[^"]+)"', last_wall)
        assert link is not None
        clicked = await reader.get(link.group(1).replace("&amp;", "&"))
        assert clicked.status_code == 303
    assert "secret-text-6" in wall

    calls = command_calls(site)
    assert calls.pop("evalsha") == 5 + 1 + 7 + 1  # one round trip per view, override and all
    inside_lua = {"sismember", "scard", "sadd", "expire", "exists", "get"}
    ours = {"info", "config|resetstat", "hello"}  # this test's own client
    assert set(calls) <= inside_lua | ours, calls  # no other command sent per view
    with site.redis.sync_client() as client:
        assert client.scard(f"{site.prefix}{{r:{control}}}:m:2027-01") == 3
        assert client.scard(f"{site.prefix}{{r:{five}}}:m:2027-01") == 5

    # A conversion through the ref of arm five's wall.
    ref = parse_qs(urlsplit(clicked.headers["location"]).query)["paywall_ref"][0]
    store = aioredis.from_url(site.redis.url)
    config = load_config(site.config)
    credited = await Entitlements.for_config(store, config).grant(
        "acct-five", plan="subscription", until=datetime(2027, 6, 1, tzinfo=UTC), ref=ref, now=NOW
    )
    await store.aclose()
    assert credited is not None and credited.arms == [(EXPERIMENT, "five")]

    await asyncio.sleep(APPLY_SECONDS * 5)  # the other worker's last views reach its metrics
    metrics = httpx.get(site.url + "/paywall/metrics", timeout=5).text
    labels = {"experiment": EXPERIMENT}
    assert sample_value(metrics, "paywall_views_total", {**labels, "arm": "control"}) == 5 + 1
    assert sample_value(metrics, "paywall_views_total", {**labels, "arm": "five"}) == 7 + 1
    assert sample_value(metrics, "paywall_views_total", {"experiment": ""}) == 8  # warm-up
    five_conversions = {**labels, "arm": "five", "offer": "trial-3m"}
    assert sample_value(metrics, "paywall_conversions_total", five_conversions) == 1
    assert sample_value(metrics, "paywall_conversions_total", {"offer": "trial-3m"}) == 1

    servers.stop(site.proc)  # type: ignore[arg-type]  # both workers flush at shutdown
    printed = subprocess.run(
        [sys.executable, "-m", "paywall", "report", "--config", str(site.config), "--experiment",
         EXPERIMENT, "--to", "2027-01-05", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "PAYWALL_SECRET_KEYS": SECRET},
    )  # fmt: skip
    arms = json.loads(printed.stdout)["experiments"][EXPERIMENT]
    assert {name: (a["readers"], a["views"], a["walls"], a["clicks"], a["conversions"])
            for name, a in arms.items()} == {"control": (1, 6, 2, 0, 0),
                                             "five": (1, 8, 3, 1, 1)}  # fmt: skip
