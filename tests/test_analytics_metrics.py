"""Prometheus metrics: the run directory workers share, the names the Grafana dashboard uses,
conversions from the store. (Two real workers summed: tests/test_analytics_exact.py; a real
Prometheus server: tests/test_analytics_prometheus.py.)"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from paywall.analytics import metrics
from paywall.analytics.keys import LATENCY_BUCKETS_MS, arm_totals_key, encode, totals_key
from paywall.analytics.metrics import (
    APPLY_SECONDS,
    PrometheusMetrics,
    conversion_counts,
    run_directory,
    sample_value,
    samples,
    sweep,
)

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-paywall.json"


def no_directory_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset PROMETHEUS_MULTIPROC_DIR for the test, and unset again afterwards even if the
    code under test set it."""
    monkeypatch.setenv(metrics.ENV, "")
    monkeypatch.delenv(metrics.ENV)


class _Parent:
    def __init__(self, pid: int) -> None:
        self.pid = pid


def test_a_process_on_its_own_keeps_metrics_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    no_directory_set(monkeypatch)
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
    assert run_directory() is None


def test_workers_of_one_supervisor_share_a_directory_of_its_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_directory_set(monkeypatch)
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: _Parent(os.getpid()))
    stale = tmp_path / f"paywall-metrics-{os.getuid()}-{os.getpid()}-1"  # an older process
    stale.mkdir()
    folder = run_directory()
    assert folder is not None and os.environ[metrics.ENV] == folder
    assert Path(folder).is_dir() and Path(folder).name.startswith(f"paywall-metrics-{os.getuid()}-")
    assert not stale.exists()  # a run whose supervisor is gone is swept away
    assert run_directory() == folder  # the sibling worker gets the same one
    sweep(tmp_path)
    assert Path(folder).is_dir()  # ours is alive


def test_an_operators_directory_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(metrics.ENV, str(tmp_path / "mine"))
    assert run_directory() == str(tmp_path / "mine") and (tmp_path / "mine").is_dir()


def exposition_names(text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line.startswith("paywall_")
    }


@pytest.mark.anyio
async def test_the_grafana_dashboard_asks_only_for_metrics_we_export(
    store: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
    no_directory_set(monkeypatch)
    exported = PrometheusMetrics()
    exported.view("walled_limit", "subscribe")
    exported.impression("trial-3m")
    exported.click("trial-3m")
    exported.store_call(0.002, True)
    exported.store_call(0.1, False)
    exported.breaker(True)
    exported.config("abc123def456", "ok")
    await store.hset(totals_key(prefix), "trial-3m", 3)
    text = (await exported.exposition(store, prefix)).decode()
    assert sample_value(text, "paywall_conversions_total", {"offer": "trial-3m"}) == 3
    assert sample_value(text, "paywall_store_breaker_openings_total") == 1
    assert sample_value(text, "paywall_config_reloads_total", {"result": "ok"}) == 1
    names = exposition_names(text)
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"paywall_[a-z_]+", target["expr"])
    }
    assert asked and asked <= names, asked - names


@pytest.mark.anyio
async def test_views_and_conversions_carry_their_experiment_arms(
    store: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
    no_directory_set(monkeypatch)
    exported = PrometheusMetrics()
    exported.view("banner", "meter")
    exported.view("walled_limit", "subscribe", "limits", "five")
    exported.view("walled_limit", "subscribe", "limits+copy", "five+b")  # one view, one series
    await store.hset(totals_key(prefix), "trial-3m", 5)
    await store.hset(arm_totals_key(prefix), encode(("trial-3m", "limits", "five")), 2)
    await store.hset(arm_totals_key(prefix), encode(("trial-3m", "limits+copy", "control+b")), 1)
    text = (await exported.exposition(store, prefix)).decode()
    assert sample_value(text, "paywall_views_total") == 3  # each view once
    assert sample_value(text, "paywall_views_total", {"experiment": "limits", "arm": "five"}) == 1
    assert sample_value(text, "paywall_views_total", {"experiment": ""}) == 1
    conversions = {
        (labels["experiment"], labels["arm"]): value
        for labels, value in samples(text, "paywall_conversions_total")
    }
    assert conversions == {("", ""): 2, ("limits", "five"): 2, ("limits+copy", "control+b"): 1}
    assert sample_value(text, "paywall_conversions_total", {"offer": "trial-3m"}) == 5


def in_memory_metrics(monkeypatch: pytest.MonkeyPatch) -> PrometheusMetrics:
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
    no_directory_set(monkeypatch)
    return PrometheusMetrics()


def registry_text(exported: PrometheusMetrics) -> str:
    """What prometheus-client holds, read without a scrape (a scrape first writes what is
    pending): under multiprocess mode, what the other workers' scrapes read of this one."""
    assert exported.registry is not None
    return generate_latest(exported.registry).decode()


@pytest.mark.anyio
async def test_counts_reach_prometheus_client_a_tenth_of_a_second_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a scrape of this worker, counts reach prometheus-client (and so the other
    workers' scrapes) APPLY_SECONDS after the first of them, all at once."""
    exported = in_memory_metrics(monkeypatch)
    exported.view("banner", "meter")
    await asyncio.sleep(0)
    assert sample_value(registry_text(exported), "paywall_views_total") == 0  # not yet
    exported.impression("trial-3m")
    exported.store_call(0.002, True)
    exported.store_call(0.1, False)
    await asyncio.sleep(APPLY_SECONDS * 1.5)  # timers run in order: the apply's is first
    text = registry_text(exported)
    assert sample_value(text, "paywall_views_total", {"outcome": "banner"}) == 1
    assert sample_value(text, "paywall_offer_impressions_total", {"offer": "trial-3m"}) == 1
    assert sample_value(text, "paywall_store_seconds_count") == 1
    assert sample_value(text, "paywall_store_errors_total") == 1


@pytest.mark.anyio
async def test_a_scrape_and_a_shutdown_see_every_count_of_their_worker(
    store: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = in_memory_metrics(monkeypatch)
    for _ in range(3):
        exported.view("walled_limit", "subscribe")
    text = (await exported.exposition(store, prefix)).decode()  # in the same loop iteration
    assert sample_value(text, "paywall_views_total", {"outcome": "walled_limit"}) == 3
    exported.view("banner", "meter")
    exported.close()
    assert sample_value(registry_text(exported), "paywall_views_total") == 4


@pytest.mark.anyio
async def test_store_latency_written_in_bulk_is_the_histogram_observe_would_make(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exported = in_memory_metrics(monkeypatch)
    reference = Histogram(
        "paywall_store_seconds",
        "reference",
        buckets=[bound / 1000 for bound in LATENCY_BUCKETS_MS],
        registry=CollectorRegistry(),
    )
    latencies = [0.0001, 0.0005, 0.0005000001, 0.001, 0.004, 0.0099, 0.2, 0.7, 3.0, 42.0]
    for seconds in latencies * 3:
        exported.store_call(seconds, True)
        reference.observe(seconds)
    await asyncio.sleep(APPLY_SECONDS * 1.5)
    ours = {
        labels.get("le"): value
        for labels, value in samples(registry_text(exported), "paywall_store_seconds_bucket")
    }
    theirs = {
        sample.labels.get("le"): sample.value
        for family in reference.collect()
        for sample in family.samples
        if sample.name == "paywall_store_seconds_bucket"
    }
    assert ours == theirs
    total = sample_value(registry_text(exported), "paywall_store_seconds_sum")
    assert total == pytest.approx(sum(latencies) * 3)


def test_conversion_series_sum_to_the_totals() -> None:
    arms = {encode(("annual", "x", "a")).encode(): b"3", b"not json": b"1"}
    found = conversion_counts({b"annual": b"3", b"trial-3m": b"1"}, arms)
    assert found == {("annual", "x", "a"): 3, ("trial-3m", "", ""): 1, ("annual", "", ""): 0}


_GIVE = """
from paywall.analytics.metrics import PrometheusMetrics
metrics = PrometheusMetrics()
for _ in range({n}):
    metrics.gift()
metrics.close()
"""
_SCRAPE = """
import asyncio, fakeredis
from paywall.analytics.metrics import PrometheusMetrics
text = asyncio.run(PrometheusMetrics().exposition(fakeredis.FakeAsyncRedis(), "p:"))
print(text.decode())
"""


def test_gift_links_made_by_workers_that_stopped_are_still_summed(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, metrics.ENV: str(tmp_path)}
    for n in (2, 3):  # two workers, one after the other, each gone by the scrape
        subprocess.run([sys.executable, "-c", _GIVE.format(n=n)], env=env, check=True)
    scrape = subprocess.run(
        [sys.executable, "-c", _SCRAPE], env=env, check=True, capture_output=True, text=True
    )
    assert sample_value(scrape.stdout, "paywall_gifts_created_total") == 5
