"""The meter and entitlements in Redis: key layout, the Lua call, the circuit breaker.

Every key of one reader (or account) carries the same hash tag, so each Lua call
touches one Redis Cluster slot and the layout needs no change to scale out.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Protocol

import redis.asyncio as aioredis

from .batch import ScriptBatcher
from .deadline import LoopLagged, RedisBudget, hard_cap
from .identity import Reader
from .names import Status
from .periods import Period
from .resp import RespClient

logger = logging.getLogger("paywall")

METER_LUA = resources.files("paywall.lua").joinpath("meter.lua").read_text(encoding="utf-8")


_STATUSES = frozenset(status.value for status in Status)


class Outcome(enum.IntEnum):
    """What the meter script decided for one view (values match meter.lua)."""

    ALREADY_READ = 0
    COUNTED = 1
    LIMIT_USED = 2
    ENTITLED = 3
    PREMIUM_WALLED = 4
    REFERRAL = 5  # read free through a referral rule: not counted


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    views: int
    status: Status
    until: int = 0  # ENTITLED only: when the entitlement ends, unix seconds
    gifts_given: int = 0  # ENTITLED, with gifts on: the account's gifts this period


class StoreError(Exception):
    """The store could not answer in time or at all."""


class StoreOverloaded(StoreError):
    """Redis may be fine, but this process was too busy to hear its answer in time (the
    event loop lagged past the hard cap, or the view queued too long): not an outage, so it
    never opens the circuit breaker."""


def article_id(path: str, key: bytes = b"") -> int:
    """A small stable integer for an article path: Redis keeps a set of these as an intset
    (4 bytes each, so a reader-month fits the memory budget).

    Keyed with a server secret: 31 bits would let a reader search offline for another
    URL of an article whose id matches one already read, if they could compute ids."""
    digest = hashlib.blake2b(
        path.encode("utf-8", "surrogateescape"), digest_size=4, key=key[:64]
    ).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


# meter.lua's ARGV[1]: what kind of view, and whether a new reader starts with the meter used.
_METERED, _PREMIUM, _STARTS_USED = "m", "p", "u"
# meter.lua's ARGV[6]: whether the account's entitlement key is passed, then which others.
_SIGNED_IN, _ANONYMOUS, _GIFTS, _REFERRALS = "1", "0", "g", "r"


def view_mode(*, premium: bool, start_used: bool) -> str:
    """meter.lua's view mode: "m" metered or "p" premium (never counted), then "u" for a
    new reader whose meter starts used up (meter.new_readers_per_network)."""
    return (_PREMIUM if premium else _METERED) + (_STARTS_USED if start_used else "")


def meter_key(prefix: str, reader: Reader, period: Period) -> str:
    return f"{prefix}{reader.tag}:m:{period.id}"


def entitlement_key(prefix: str, reader: Reader) -> str:
    """Where an account's entitlement lives (an anonymous reader's is never written)."""
    return f"{prefix}{reader.tag}:ent"


def gifts_key(prefix: str, reader: Reader, period: Period) -> str:
    """How many articles an account gifted this period."""
    return f"{prefix}{reader.tag}:g:{period.id}"


def referrals_key(prefix: str, reader: Reader, period: Period) -> str:
    """The articles a reader read free through referral rules this period."""
    return f"{prefix}{reader.tag}:rf:{period.id}"


@dataclass(frozen=True)
class Extras:
    """What a view asks of meter.lua beyond the meter: the gifts the account gave (to show
    how many are left), and referral reads (`referral`: "<rule>:<cap>" when the reader came
    from a referral rule's site; `referrals`: whether any rule exists, so earlier referral
    reads stay free)."""

    gifts: bool = False
    referrals: bool = False
    referral: str = ""


NO_EXTRAS = Extras()


def _unobserved(seconds: float, ok: bool) -> None:
    pass


class CircuitBreaker:
    """Fails fast for `seconds` after a store error, so a dead Redis costs one timeout per
    interval rather than one per request; then lets a single request probe it again."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._open_until = 0.0
        self._probing = False

    def allow(self) -> bool:
        if self.seconds <= 0 or (self.clock() >= self._open_until and not self._probing):
            self._probing = self._open_until > 0
            return True
        return False

    def succeeded(self) -> None:
        self._open_until = 0.0
        self._probing = False

    def abandoned(self) -> None:
        """A call was cancelled before it could tell: let the next request probe."""
        self._probing = False

    def failed(self) -> bool:
        """Record a failure; True when this failure opened (or re-opened) the circuit."""
        self._probing = False
        was_closed = self._open_until == 0.0
        self._open_until = self.clock() + self.seconds
        return was_closed


class ScriptRunner(Protocol):
    """What runs meter.lua for `MeterStore`: a `resp.Script` or a `ScriptBatcher`. (A
    protocol, so that the compiled build also takes a stand-in, as tests and bench do.)"""

    client: Any
    sha: str

    def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Awaitable[Any]: ...


class MeterStore:
    """Runs meter.lua: entitlement lookup plus check-and-count, in one round trip.

    `client` is a redis.asyncio client (calls coalesced by `ScriptBatcher`, each round trip
    bounded by a `RedisBudget`) or our own `RespClient` (which pipelines and times its
    writes itself, and raises the same redis-py errors): the breaker and the error
    handling below are the same for both.
    """

    def __init__(
        self,
        client: Any,
        prefix: str,
        timeout: float,
        breaker_seconds: float = 5.0,
        id_key: bytes = b"",
    ) -> None:
        self.client = client
        self.id_key = id_key
        self.prefix = prefix
        self.timeout = timeout
        self.breaker = CircuitBreaker(breaker_seconds)
        self._resp = client if isinstance(client, RespClient) else None
        self._script: ScriptRunner = (
            self._resp.script(METER_LUA)
            if self._resp is not None
            else ScriptBatcher(client, METER_LUA, timeout)
        )
        # How long a caller may wait in all: its queue, a round trip before its own, its own
        # round trip at the hard cap. Only a lagging loop gets near it; past it we are slow.
        # A RespClient writes each call in the loop turn it is made, under that write's own
        # budget: nothing to queue behind, so no per-call timer (a few µs per view).
        self.patience: float | None = None if self._resp else 2 * hard_cap(timeout) + timeout
        # Told how long each call took and whether it answered (analytics, Prometheus).
        self.observe: Callable[[float, bool], None] = _unobserved

    async def view(
        self,
        reader: Reader,
        path: str,
        *,
        premium: bool,
        limit: int,
        period: Period,
        now: datetime,
        merge: Sequence[int] = (),
        start_used: bool = False,
        extras: Extras = NO_EXTRAS,
    ) -> Verdict:
        """Meter one view of `path`; raises StoreError when Redis fails or is slow.

        `merge` are article ids read anonymously that now count toward `reader`'s account;
        `start_used` fills a new reader's meter (see meter.new_readers_per_network).
        """
        keys = [meter_key(self.prefix, reader, period)]
        flags = _ANONYMOUS
        if reader.account is not None:
            # Only accounts have entitlements; a key that never exists would make Redis
            # Cluster refuse the call while the reader's slot is being migrated.
            keys.append(entitlement_key(self.prefix, reader))
            flags = _SIGNED_IN
            if extras.gifts:
                keys.append(gifts_key(self.prefix, reader, period))
                flags += _GIFTS
        if extras.referrals:
            keys.append(referrals_key(self.prefix, reader, period))
            flags += _REFERRALS
        args: list[str | int] = [
            view_mode(premium=premium, start_used=start_used),
            article_id(path, self.id_key),
            limit,
            period.seconds_left(now),
            int(now.timestamp()),
            flags,
            extras.referral,
            *merge,
        ]
        outcome, views, status, *rest = await self._call(lambda: self._script(keys, args))
        if isinstance(status, bytes):
            status = status.decode()
        status = Status(status) if status in _STATUSES else Status.NONE
        ends = int(rest[0]) if rest else 0
        given = int(rest[1]) if len(rest) > 1 else 0
        return Verdict(Outcome(int(outcome)), int(views), status, ends, given)

    async def anonymous_views(self, reader_id: str, period: Period) -> list[int]:
        """The article ids a cookie's reader viewed anonymously this period (for sign-in)."""
        key = meter_key(self.prefix, Reader(reader_id), period)
        resp = self._resp
        if resp is not None:
            members = await self._call(lambda: resp.execute("SMEMBERS", key))
        else:
            members = await self._call(lambda: self._bounded(self.client.smembers(key)))
        return sorted(int(member) for member in members if int(member) >= 0)

    async def new_reader_from(self, network: str, period: Period, now: datetime) -> int:
        """Count one new reader id minted for a client network this period; returns the count."""
        key = f"{self.prefix}{{n:{network}}}:new:{period.id}"
        seconds = period.seconds_left(now)

        def count_one() -> Awaitable[list[Any]]:
            if self._resp is not None:
                return self._resp.pipeline(("INCR", key), ("EXPIRE", key, seconds))
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, seconds)
            return self._bounded(pipe.execute())

        count, _ = await self._call(count_one)
        return int(count)

    async def _bounded(self, call: Awaitable[Any]) -> Any:
        """A redis-py call sent at once (not through the batcher), within the store budget
        (a `RespClient` times its own writes)."""
        async with RedisBudget(self.timeout):
            return await call

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """`_guarded_call`, timed for `observe` (queue and round trip: what the view waited)."""
        started = time.perf_counter()
        ok = False
        try:
            result = await self._guarded_call(call)
            ok = True
            return result
        finally:
            self.observe(time.perf_counter() - started, ok)

    async def _guarded_call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run one Redis call behind the circuit breaker; `call` bounds its own round trip
        with the store budget (the batcher and `_bounded` with a `RedisBudget`, a
        `RespClient` with one `BudgetClock` per write).

        Only an outage opens the breaker: a connection refused, reset or closed, a name that
        does not resolve, or Redis silent for a whole budget while our loop was on time
        (`RedisSilent`). A budget run out because our own loop lagged (`LoopLagged`), or a
        caller that waited past `patience` in all, is `StoreOverloaded`: this view only.

        A connection the server closed (Redis restarted, failed over) fails at once on its
        next use; that one is retried straight away on a fresh connection rather than
        taken for an outage. Every call here is safe to repeat: the meter is a set.
        """
        if not self.breaker.allow():
            raise StoreError("circuit open after a recent store error")
        patience = asyncio.timeout(self.patience) if self.patience is not None else None
        try:
            async with patience or contextlib.nullcontext():
                try:
                    result = await call()
                except aioredis.ConnectionError:
                    result = await call()
        except LoopLagged as lagged:  # its own name: mypyc/mypyc#620 would type `exc` by it
            self.breaker.abandoned()  # not an answer about Redis: let the next view probe
            raise StoreOverloaded(str(lagged)) from lagged
        except TimeoutError as exc:
            if patience is not None and patience.expired():  # queued too long: we are slow
                self.breaker.abandoned()
                raise StoreOverloaded(f"no answer within {self.patience:.1f} s") from exc
            self._failed(exc)
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc
        except (OSError, aioredis.ConnectionError, aioredis.TimeoutError) as exc:
            # Redis itself is unreachable or too slow: stop asking it for a while.
            self._failed(exc)
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            # One call refused (OOM, a slot moving) or a client bug: this view follows
            # on_store_error, the others go on asking; never the reader's 500.
            self.breaker.abandoned()
            logger.warning(
                "paywall: store call failed: %s: %s",
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, aioredis.RedisError),
            )
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.breaker.abandoned()
            raise
        self.breaker.succeeded()
        return result

    def _failed(self, exc: BaseException) -> None:
        if self.breaker.failed():
            logger.warning(
                "paywall: store error (%s: %s); not asking Redis again for %.0fs",
                type(exc).__name__,
                exc,
                self.breaker.seconds,
            )
