"""One paywalled worker whose configs take turns in short slices: an A/B test over HTTP that
the machine's own drift cannot bias.

On the project's shared 2-core VM the CPU a worker spends per request moves by 10 to 30 % from
one few-second run to the next (measured: the same worker, 136 to 213 µs per request, fully
busy throughout), so two workers measured one after the other differ by more than the 2 %
issue 12 asks about. Here one uvicorn worker serves every config: each slice (`SLICE`
seconds) one of them is the live config, the order shuffled in every block of one slice per
config, and the worker's own CPU time and answered requests are added up per config. Every
config meets the same moments of the machine, the same process, memory layout and Redis.

    BENCH_SLICED = "off=paywall.yaml,analytics=paywall-analytics-only.yaml"

names the configs (files in bench/; the first is the baseline); `GET /_sliced/start` zeroes
the sums (after the warm-up), `GET /_sliced/blocks` answers them per block as JSON. A config
with `metrics.enabled` counts into Prometheus while it is live, as it would alone.

Full garbage collections are timed per slice (the fourth figure), for the run as a whole:
one is triggered by the whole heap's history, so the config whose slice it lands in is not
the one that caused it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from paywall import PaywallMiddleware
from paywall.analytics.metrics import PrometheusMetrics
from paywall.config import load_config

from .app import _signed_in, upstream

HERE = Path(__file__).resolve().parent
SLICE = 0.25  # seconds: long enough for ~1,000 requests, short next to the machine's drift


class Sliced:
    """The configs' turns, and each block's CPU seconds, requests, seconds and seconds of full
    garbage collections per config."""

    def __init__(self, middleware: PaywallMiddleware, configs: dict[str, Any]) -> None:
        self.middleware = middleware
        self.configs = configs
        counts_metrics = any(config.analytics.metrics for config in configs.values())
        self.metrics = PrometheusMetrics() if counts_metrics else None
        self.blocks: list[dict[str, list[float]]] = []
        self.measuring = False
        self.answered = 0
        self.collecting = 0.0  # seconds spent in full (generation 2) garbage collections
        self._collection_started = 0.0
        self._task: asyncio.Task[None] | None = None
        gc.callbacks.append(self._collection)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._turns())
        self.blocks = []
        self.measuring = True

    def _collection(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._collection_started = time.perf_counter()
            else:
                self.collecting += time.perf_counter() - self._collection_started

    async def _turns(self) -> None:
        while True:
            names = list(self.configs)
            random.shuffle(names)
            block: dict[str, list[float]] = {}
            for name in names:
                self._use(name)
                cpu, answered, started = time.process_time(), self.answered, time.monotonic()
                collecting = self.collecting
                await asyncio.sleep(SLICE)
                block[name] = [
                    time.process_time() - cpu,
                    self.answered - answered,
                    time.monotonic() - started,
                    self.collecting - collecting,
                ]
            if self.measuring:
                self.blocks.append(block)

    def _use(self, name: str) -> None:
        config = self.configs[name]
        self.middleware.live.config = config
        self.middleware.analytics.metrics = self.metrics if config.analytics.metrics else None


def app() -> ASGIApp:
    files = dict(part.split("=", 1) for part in os.environ["BENCH_SLICED"].split(","))
    middleware = PaywallMiddleware(upstream, config=HERE / next(iter(files.values())))
    first = middleware.live.config
    configs = {name: load_config(HERE / file) for name, file in files.items()}
    for name, config in configs.items():  # one store and one set of keys for all of them
        assert config.startup == first.startup, f"{name}: another store or cookie key"
    sliced = Sliced(middleware, configs)
    paywalled = _signed_in(middleware)

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path.startswith("/_sliced/"):
            if path == "/_sliced/start":
                sliced.start()
            body = json.dumps(sliced.blocks).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        await paywalled(scope, receive, send)
        if scope["type"] == "http":
            sliced.answered += 1

    return serve
