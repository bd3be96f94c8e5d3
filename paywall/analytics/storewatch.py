"""The store's health for analytics and Prometheus: each call's latency (store.py's
`observe` hook) and the circuit breaker's openings and state."""

from __future__ import annotations

from collections.abc import Callable

from ..store import CircuitBreaker, MeterStore
from .recorder import Recorder


class WatchedBreaker(CircuitBreaker):
    """The store's circuit breaker, telling the recorder when it opens and closes."""

    def __init__(self, seconds: float, recorder: Recorder, clock: Callable[[], float]) -> None:
        super().__init__(seconds, clock)
        self.recorder = recorder

    def failed(self) -> bool:
        opened = super().failed()
        if opened:
            self.recorder.breaker_opened()
            if self.recorder.metrics is not None:
                self.recorder.metrics.breaker(True)
        return opened

    def succeeded(self) -> None:
        was_open = self._open_until != 0.0
        super().succeeded()
        if was_open and self.recorder.metrics is not None:
            self.recorder.metrics.breaker(False)


def watch(store: MeterStore, recorder: Recorder) -> None:
    """Time every store call and watch the breaker, for `recorder` (and its metrics)."""
    store.breaker = WatchedBreaker(store.breaker.seconds, recorder, store.breaker.clock)
    store.observe = recorder.store_call
