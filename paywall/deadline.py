"""The store's time budget, measured as Redis's time to answer, not as our own queue.

`store.timeout_ms` (100 ms by default) is how long Redis may stay silent before the paywall
takes it for unreachable and opens the circuit breaker for everyone. Measured naively, with
a timer started when a view asks for its meter, it also counts time that has nothing to do
with Redis: the view waiting for the round trip before its own, and, above all, the event
loop being busy elsewhere (a burst of requests, a big page being rewritten, a synchronous
handler). A loop blocked for 300 ms fires every 100 ms timer at once when it wakes, before
it has read the answers that arrived meanwhile, so one busy moment in one process used to
look like a Redis outage and open the wall for every reader.

`RedisBudget` (the clock itself is `BudgetClock`, which `paywall.resp` also runs for each
pipelined write) fixes both:

- The clock starts when the round trip is written (the batcher enters the budget just
  before it sends its pipeline), so time spent queueing behind another round trip is not
  Redis's.
- While it waits, it checks the loop every quarter budget. A check that fires late by more
  than the tolerance (a tenth of the budget, at least 2 ms) means the loop itself was busy:
  that lateness is added to the lag and not charged to Redis. The budget runs out only at a
  check that fires on time, once the time charged to Redis (elapsed minus lag) reaches the
  budget. Expiring only on an on-time check matters: after a late check the loop gets one
  more turn to read an answer that arrived while it was busy.
- Lag can extend the wait only up to a hard cap (`hard_cap`: ten budgets, at least 1 s).

Running out is one of two errors, both `TimeoutError`s:

- `RedisSilent`: Redis stayed silent for a whole budget of on-time loop: a real timeout,
  which the store treats as an outage (the breaker opens).
- `LoopLagged`: the hard cap was reached while the loop was late: we are slow, Redis may
  be fine. The store reports it as `StoreOverloaded`, which never opens the breaker.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from .native import mypyc_attr

MIN_CAP_SECONDS = 1.0
CAP_BUDGETS = 10


@mypyc_attr(native_class=False)  # mypyc compiles no subclass of this builtin
class RedisSilent(TimeoutError):
    """Redis did not answer within its budget while the event loop was on time."""


@mypyc_attr(native_class=False)  # mypyc compiles no subclass of this builtin
class LoopLagged(TimeoutError):
    """The wait reached its hard cap because the event loop was late: we are slow."""


def hard_cap(budget: float) -> float:
    """The longest a round trip may wait when the loop is late: 10 budgets, at least 1 s."""
    return max(MIN_CAP_SECONDS, CAP_BUDGETS * budget)


def socket_timeout(budget: float) -> float:
    """redis-py's own socket timeouts for a store with this budget: only a safety net behind
    `RedisBudget`, long enough never to fire first (a socket timeout of one budget would
    fire on every busy moment of the loop, and say nothing about Redis)."""
    return 2 * hard_cap(budget)


class BudgetClock:
    """The budget of one wait, as the module docstring describes it: started when the round
    trip is written, checked every quarter budget, lag not charged to Redis. When it runs
    out it sets `expired` to `RedisSilent` or `LoopLagged` and calls `ran_out`; what that
    does (cancel an awaited block, fail the calls written on a connection) is the
    subclass's business. `RedisBudget` is the form the store's own code awaits in;
    `paywall.resp` gives each pipelined write one of these."""

    def __init__(self, budget: float, cap: float | None = None) -> None:
        self.budget = budget
        self.cap = max(hard_cap(budget) if cap is None else cap, budget)
        self.tick = budget / 4
        self.tolerance = max(0.002, budget / 10)
        self.lag = 0.0  # seconds the loop was late while waiting: not charged to Redis
        self.expired: type[TimeoutError] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._final = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the clock now (the round trip is being written)."""
        self._start = loop.time()
        self._schedule(loop, self._start + self.tick)

    def stop(self) -> None:
        """The answer came (or the wait was given up): no more checks."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def error(self, loop: asyncio.AbstractEventLoop) -> TimeoutError:
        """The error a wait that ran out ends with, saying how long and how much was lag."""
        waited = loop.time() - self._start
        return (self.expired or RedisSilent)(
            f"no answer from Redis after {waited * 1000:.0f} ms"
            f" ({self.lag * 1000:.0f} ms of it our own event loop's lag)"
        )

    def ran_out(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called once when the budget runs out (`expired` says how)."""
        raise NotImplementedError

    def _schedule(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._handle = loop.call_at(when, self._check, loop, when)

    def _check(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        now = loop.time()
        late = now - due
        on_time = late <= self.tolerance
        if not on_time:
            self.lag += late
        elapsed = now - self._start
        charged = elapsed - self.lag
        if on_time and charged >= self.budget:
            self._expire(loop, RedisSilent)
        elif elapsed >= self.cap and (on_time or self._final):
            self._expire(loop, LoopLagged)
        elif elapsed >= self.cap:
            self._final = True  # late at the cap: one more turn to read what has arrived
            self._schedule(loop, now + 0.001)
        else:
            wait = self.tick if not on_time else min(self.tick, self.budget - charged)
            self._schedule(loop, now + max(wait, 0.001))

    def _expire(self, loop: asyncio.AbstractEventLoop, kind: type[TimeoutError]) -> None:
        self.expired = kind
        self._handle = None
        self.ran_out(loop)


class RedisBudget(BudgetClock):
    """`async with RedisBudget(0.1): await round_trip()`: cancels the round trip and raises
    `RedisSilent` or `LoopLagged` (see the module docstring) when it runs out."""

    def __init__(self, budget: float, cap: float | None = None) -> None:
        super().__init__(budget, cap)
        self._timeout = asyncio.timeout(None)

    async def __aenter__(self) -> RedisBudget:
        await self._timeout.__aenter__()
        self.start(asyncio.get_running_loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        try:
            await self._timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError as timeout:
            raise self.error(asyncio.get_running_loop()) from timeout

    def ran_out(self, loop: asyncio.AbstractEventLoop) -> None:
        # Rescheduled to now, not cancelled at once: an answer read in this same loop turn
        # has already scheduled its reader, which then runs first and finishes the round trip.
        self._timeout.reschedule(loop.time())
