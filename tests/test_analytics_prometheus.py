"""A real Prometheus server scrapes the demo (real uvicorn) at /paywall/metrics, and a
PromQL query over its HTTP API counts exactly the walls the test caused.

Needs the `prometheus` binary (Debian's package); skipped without it."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from . import servers
from .redis_server import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
pytestmark = pytest.mark.skipif(
    not os.access(PROMETHEUS, os.X_OK), reason="no prometheus binary (apt-get install prometheus)"
)

READERS = 5
METERED = [
    "harbour-ferries-go-electric", "monetary-authority-holds-rates", "chip-packaging-plant-to-hire",
    "lantern-street-hawkers-reprieve", "automated-cranes-port-productivity",
]  # fmt: skip
WALLS = READERS * (len(METERED) - 3 + 1)  # limit 3: two walled articles and the premium one
WALL_QUERY = 'sum(paywall_views_total{outcome=~"walled_limit|walled_premium|register_wall"})'


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PAYWALL_SECRET_KEYS": "prometheus-test-key"}
    command = [sys.executable, "-m", "paywall", "demo", "--port", str(port)]
    answers = lambda: httpx.get(f"{base}/", timeout=1.0).status_code == 200  # noqa: E731
    proc = servers.serve(command, env, folder / "demo.log", answers)
    try:
        yield base
    finally:
        servers.stop(proc)


@pytest.fixture(scope="module")
def prometheus(demo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("prometheus")
    target = demo.removeprefix("http://")
    (folder / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: paywall\n"
        "    metrics_path: /paywall/metrics\n"
        f"    static_configs:\n      - targets: ['{target}']\n",
        encoding="utf-8",
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        PROMETHEUS,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    answers = lambda: httpx.get(f"{base}/-/ready", timeout=1.0).status_code == 200  # noqa: E731
    proc = servers.serve(command, dict(os.environ), folder / "prometheus.log", answers, 30.0)
    try:
        yield base
    finally:
        servers.stop(proc)


def query(prometheus: str, promql: str) -> float | None:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5.0)
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_promql_over_a_real_prometheus_counts_the_walls(demo: str, prometheus: str) -> None:
    for _ in range(READERS):
        with httpx.Client(base_url=demo, timeout=10.0) as reader:  # a new reader each time
            for slug in METERED:
                assert reader.get(f"/articles/{slug}").status_code == 200
            walled = reader.get("/premium/who-pays-for-new-land")
            assert 'data-paywall="subscribe"' in walled.text
    deadline = time.monotonic() + 30
    walls = None
    while time.monotonic() < deadline:
        walls = query(prometheus, WALL_QUERY)
        if walls == WALLS:
            break
        time.sleep(0.5)
    assert walls == WALLS, f"Prometheus saw {walls} walls, not {WALLS}"
    assert query(prometheus, 'up{job="paywall"}') == 1
    assert query(prometheus, 'sum(paywall_views_total{outcome="banner"})') == READERS * 2
