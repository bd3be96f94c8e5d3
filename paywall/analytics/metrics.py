"""Prometheus metrics at `{prefix}/metrics` (`metrics.enabled: true`), via prometheus-client.

One scrape reports the sum over every worker of the host. Under `uvicorn --workers N` each
worker is a child of one supervisor, so the workers agree, without being told, on a
directory named after the supervisor (its pid and start time: a new one per run) and use
prometheus-client's multiprocess mode there: each worker writes its counters to its own
memory-mapped file, and whichever worker a scrape reaches sums all the files. Directories of
runs that have ended are removed by the next run. `PROMETHEUS_MULTIPROC_DIR`, when set, is
used instead (set it, to a fresh empty directory per run, under a server that forks its
workers itself, such as gunicorn). A process that is nobody's worker keeps its metrics in
memory.

Views, impressions and store calls are counted in plain dicts and written to
prometheus-client `APPLY_SECONDS` (0.1 s) after the first of them, before any scrape this
worker serves, and at shutdown: a view costs a dict increment instead of a lock and a value
write per counter (a memory-mapped file write in multiprocess mode), and the writes of a
tenth of a second's views cost about what one view's used to. A scrape so sees every view
its own worker counted, and every view of the other workers but those of their last tenth
of a second (more only if a worker's event loop is blocked for longer).

`paywall_conversions_total` is the exception: conversions are recorded by whoever grants
(the CLI, a webhook on another host), so it reports the store's all-time count, the same on
every host (aggregate it across hosts with `max`, not `sum`).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import multiprocessing
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from .keys import LATENCY_BUCKETS_MS, arm_totals_key, decode, totals_key

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ENV = "PROMETHEUS_MULTIPROC_DIR"
_RUN_DIR = re.compile(r"paywall-metrics-(\d+)-(\d+)-(\d+)")
NO_PROMPT = "none"
_STORE_BOUNDS = tuple(bound / 1000 for bound in LATENCY_BUCKETS_MS)  # seconds, +Inf last
APPLY_SECONDS = 0.1  # counts reach prometheus-client (the other workers' scrapes) this late


def run_directory() -> str | None:
    """The multiprocess directory this worker shares with its siblings, or None (one
    process alone). Sets PROMETHEUS_MULTIPROC_DIR when it chose the directory itself."""
    chosen = os.environ.get(ENV)
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        return chosen
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return None
    base = Path(tempfile.gettempdir())
    sweep(base)
    folder = base / f"paywall-metrics-{os.getuid()}-{parent.pid}-{_started(parent.pid)}"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.environ[ENV] = str(folder)
    return str(folder)


def _started(pid: int) -> int:
    """When process `pid` started (clock ticks since boot; 0 where /proc is not there), so a
    reused pid does not inherit an old run's counts."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[19])


def sweep(base: Path) -> None:
    """Remove this user's run directories whose supervisor is gone."""
    if not Path("/proc/self/stat").exists():
        return
    for folder in base.glob(f"paywall-metrics-{os.getuid()}-*"):
        match = _RUN_DIR.fullmatch(folder.name)
        if match is not None and _started(int(match.group(2))) != int(match.group(3)):
            shutil.rmtree(folder, ignore_errors=True)


class _Conversions:
    """A collector for the conversions read from the store just before a scrape: one series
    per offer and experiment arms (empty when none), so that their sum is every conversion."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "paywall_conversions",
            "Conversions credited to an offer (store-wide)",
            labels=["offer", "experiment", "arm"],
        )
        for labels, count in sorted(self.counts.items()):
            family.add_metric(list(labels), count)
        yield family


def conversion_counts(
    totals: dict[Any, Any], arms: dict[Any, Any]
) -> dict[tuple[str, str, str], int]:
    """Series of `paywall_conversions_total` from the all-time totals by offer and those by
    offer and arms (fields `[offer, experiments, arms]`, experiments joined by "+")."""
    counts = {(_text(offer), "", ""): int(count) for offer, count in (totals or {}).items()}
    for raw, count in (arms or {}).items():
        labels = decode(raw)
        if labels is None or len(labels) != 3:
            continue
        offer, experiment, arm = (str(label) for label in labels)
        counts[(offer, experiment, arm)] = int(count)
        plain = counts.get((offer, "", ""), 0) - int(count)
        counts[(offer, "", "")] = max(plain, 0)
    return {labels: count for labels, count in counts.items() if count or not labels[1]}


class PrometheusMetrics:
    """The paywall's metrics for one worker (one instance per middleware)."""

    def __init__(self) -> None:
        self.directory = run_directory()
        if self.directory is not None and not getattr(
            prometheus_values.ValueClass, "_multiprocess", False
        ):
            # prometheus-client picks its value class when first imported; ours must write
            # to the shared files even if the app imported it before the directory was set.
            prometheus_values.ValueClass = prometheus_values.MultiProcessValue()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry() if self.directory is None else None
        self._conversions = _Conversions()
        self._views_total = Counter(
            "paywall_views",
            "Decided views (experiment and arm: the view's experiment arms, '+'-joined)",
            ["outcome", "prompt", "experiment", "arm"],
            registry=self.registry,
        )
        self._impressions = Counter(
            "paywall_offer_impressions", "Offers shown", ["offer"], registry=self.registry
        )
        self._clicks = Counter(
            "paywall_offer_clicks", "Offer links followed", ["offer"], registry=self.registry
        )
        self._gifts = Counter(
            "paywall_gifts_created", "Gift links subscribers made", registry=self.registry
        )
        self.reloads = Counter(
            "paywall_config_reloads", "Config reloads", ["result"], registry=self.registry
        )
        self._store = Histogram(
            "paywall_store_seconds",
            "Store calls answered, queue and round trip",
            buckets=_STORE_BOUNDS,
            registry=self.registry,
        )
        self._store_errors = Counter(
            "paywall_store_errors", "Store calls failed or refused", registry=self.registry
        )
        self._breaker_openings = Counter(
            "paywall_store_breaker_openings", "Circuit breaker openings", registry=self.registry
        )
        self._breaker_open = Gauge(
            "paywall_store_breaker_open",
            "1 while a worker's circuit breaker is open",
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self._info = Gauge(
            "paywall_config_info",
            "The live config's hash (1 for the version serving)",
            ["hash"],
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self._hash = ""
        self._view_children: dict[tuple[str, str, str, str], Any] = {}
        self._offer_children: dict[str, tuple[Any, Any]] = {}
        # Counted, not yet written to prometheus-client (see `apply`).
        self._views: dict[tuple[str, str, str, str], int] = {}
        self._shown: dict[str, int] = {}
        self._calls = [0] * len(_STORE_BOUNDS)  # answered store calls per histogram bucket
        self._calls_seconds = 0.0
        self._call_errors = 0
        self._scheduled = False
        if self.registry is not None:
            self.registry.register(self._conversions)

    # -- called by the recorder --

    def view(self, outcome: str, prompt: str, experiment: str = "", arm: str = "") -> None:
        key = (outcome, prompt, experiment, arm)
        views = self._views
        views[key] = views.get(key, 0) + 1
        if not self._scheduled:
            self._schedule()

    def _offer(self, offer: str) -> tuple[Any, Any]:
        children = self._offer_children.get(offer)
        if children is None:
            children = (self._impressions.labels(offer), self._clicks.labels(offer))
            self._offer_children[offer] = children
        return children

    def impression(self, offer: str) -> None:
        shown = self._shown
        shown[offer] = shown.get(offer, 0) + 1
        if not self._scheduled:
            self._schedule()

    def click(self, offer: str) -> None:
        self._offer(offer)[1].inc()

    def gift(self) -> None:
        self._gifts.inc()

    def store_call(self, seconds: float, ok: bool) -> None:
        if ok:
            # the bucket Histogram.observe picks: the first bound at or above `seconds`
            self._calls[bisect.bisect_left(_STORE_BOUNDS, seconds)] += 1
            self._calls_seconds += seconds
        else:
            self._call_errors += 1
        if not self._scheduled:
            self._schedule()

    def breaker(self, is_open: bool) -> None:
        self._breaker_open.set(1 if is_open else 0)
        if is_open:
            self._breaker_openings.inc()

    def apply(self) -> None:
        """Write what was counted since the last call to prometheus-client's values."""
        self._scheduled = False
        if self._views:
            views, self._views = self._views, {}
            for key, count in views.items():
                child = self._view_children.get(key)
                if child is None:
                    outcome, prompt, experiment, arm = key
                    child = self._views_total.labels(outcome, prompt or NO_PROMPT, experiment, arm)
                    self._view_children[key] = child
                child.inc(count)
        if self._shown:
            shown, self._shown = self._shown, {}
            for offer, count in shown.items():
                self._offer(offer)[0].inc(count)
        if any(self._calls):
            calls, self._calls = self._calls, [0] * len(_STORE_BOUNDS)
            seconds, self._calls_seconds = self._calls_seconds, 0.0
            # Histogram.observe, for many observations at once: its per-bucket counts and
            # sum (prometheus-client's own attributes; tests check the result matches).
            for index, count in enumerate(calls):
                if count:
                    self._store._buckets[index].inc(count)
            self._store._sum.inc(seconds)
        if self._call_errors:
            errors, self._call_errors = self._call_errors, 0
            self._store_errors.inc(errors)

    def _schedule(self) -> None:
        """Apply in APPLY_SECONDS (at once when no loop runs)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.apply()
            return
        self._scheduled = True
        loop.call_later(APPLY_SECONDS, self.apply)

    def config(self, config_hash: str, result: str | None) -> None:
        """The serving config's hash, and a reload's result (`ok`, `rejected`) if any."""
        if result is not None:
            self.reloads.labels(result).inc()
        if config_hash != self._hash:
            if self._hash:
                self._info.labels(self._hash).set(0)
            self._info.labels(config_hash).set(1)
            self._hash = config_hash

    # -- the scrape --

    async def exposition(self, client: Any, prefix: str) -> bytes:
        """The text format, every worker of the host summed; conversions read from `client`."""
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(totals_key(prefix))
        pipe.hgetall(arm_totals_key(prefix))
        counts = conversion_counts(*await pipe.execute())
        self.apply()  # this worker's views so far
        if self.registry is not None:
            self._conversions.counts = counts
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        conversions = _Conversions()
        conversions.counts = counts
        registry.register(conversions)
        return generate_latest(registry)

    def close(self) -> None:
        """This worker is stopping: what it counted is written, its live gauges no longer
        count."""
        self.apply()
        if self.directory is not None:
            with contextlib.suppress(OSError):
                mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def sample_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The sum of the samples of `name` in exposition `text` that carry `labels` (0 when
    there are none): for tests and scripts."""
    wanted = (labels or {}).items()
    return sum(value for found, value in samples(text, name) if wanted <= found.items())


def samples(text: str, name: str) -> Iterator[tuple[dict[str, str], float]]:
    """Every sample of `name` in exposition `text`, with its labels."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                yield dict(sample.labels), float(sample.value)
