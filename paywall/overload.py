"""Bounds on views being metered at once in one process, so that a burst queues or is
refused instead of slowing every view down.

- **Per reader** (`overload.per_reader`, default 4): views of one reader (the cookie's
  reader id, or the account when signed in) being metered at once. One more is refused
  at once with `429 Too Many Requests`: nothing is asked of the store, nothing counted,
  no article. A browser rarely has more than a couple of article views of one reader in
  flight; a script firing hundreds at once gets 429s for all but a few.
- **Per process** (`overload.per_process`, default 256): views being metered at once in
  all. One more waits for a slot, first come first served, for at most the store's hard
  cap (`deadline.hard_cap`: 1 s with the default 100 ms budget); if none frees up it gets
  `503 Service Unavailable`. Never the article, never uncounted.

Both answers carry `Retry-After: 1`, `Cache-Control: private, no-store`, `Vary: Cookie` and a
one-line text body.
A slot is held while the view is metered (the store round trips), not while the page is
rewritten or sent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

from starlette.types import Send

RETRY_AFTER_SECONDS = 1
_BODIES = {
    429: b"Too many requests for this reader at once. Try again in a moment.\n",
    503: b"Too busy to serve this article right now. Try again in a moment.\n",
}


class Busy(Exception):
    """Too many views in flight: the view gets `status` (429 or 503), no article, no count."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status

    async def send(self, send: Send) -> None:
        """The whole response: status, Retry-After, no-store, a one-line body."""
        body = _BODIES[self.status]
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"private, no-store"),
            (b"vary", b"Cookie"),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class InFlight:
    """Counts the views being metered in this process, per reader and in all."""

    def __init__(self) -> None:
        self._readers: dict[str, int] = {}
        self._running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def running(self) -> int:
        return self._running

    def of(self, reader: str) -> int:
        return self._readers.get(reader, 0)

    def slot(self, reader: str, *, per_reader: int, per_process: int, wait: float) -> Slot:
        """`async with` it to hold a slot for one view of `reader`: raises `Busy` (429 at
        once past `per_reader`, 503 after waiting `wait` seconds for one of `per_process`)."""
        return Slot(self, reader, per_reader, per_process, wait)

    def _take(self, reader: str, per_reader: int) -> None:
        held = self._readers.get(reader, 0)
        if held >= per_reader:
            raise Busy(429, f"{held} views of this reader already in flight")
        self._readers[reader] = held + 1

    def _release(self, reader: str) -> None:
        left = self._readers[reader] - 1
        if left:
            self._readers[reader] = left
        else:
            del self._readers[reader]

    async def _enter(self, limit: int, wait: float) -> None:
        self._wake(limit)
        if self._running < limit and not self._waiters:
            self._running += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            async with asyncio.timeout(wait):
                await future
        except BaseException as exc:
            if future.done() and not future.cancelled():
                self._leave(limit)  # handed a slot just as we gave up: pass it on
            else:
                future.cancel()
            if isinstance(exc, TimeoutError):
                raise Busy(503, f"no slot among {limit} within {wait:.1f} s") from None
            raise

    def _leave(self, limit: int) -> None:
        self._running -= 1
        self._wake(limit)

    def _wake(self, limit: int) -> None:
        """Hand free slots to waiters, oldest first (a woken waiter's slot is counted here)."""
        while self._waiters and (self._waiters[0].done() or self._running < limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._running += 1
                waiter.set_result(None)


class Slot:
    """One view's place in `InFlight` (a class, not a generator: it is entered per view)."""

    __slots__ = ("_in_flight", "_per_process", "_per_reader", "_reader", "_wait")

    def __init__(
        self, in_flight: InFlight, reader: str, per_reader: int, per_process: int, wait: float
    ) -> None:
        self._in_flight = in_flight
        self._reader = reader
        self._per_reader = per_reader
        self._per_process = per_process
        self._wait = wait

    async def __aenter__(self) -> None:
        in_flight = self._in_flight
        in_flight._take(self._reader, self._per_reader)
        try:
            await in_flight._enter(self._per_process, self._wait)
        except BaseException:
            in_flight._release(self._reader)
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._in_flight._leave(self._per_process)
        self._in_flight._release(self._reader)
