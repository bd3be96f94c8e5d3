"""The meter script on every backend (fakeredis; real Redis through redis-py and through our
RESP client): one atomic check-and-count per view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from paywall.identity import Reader
from paywall.periods import current_period
from paywall.store import (
    Extras,
    MeterStore,
    Outcome,
    article_id,
    entitlement_key,
    gifts_key,
    meter_key,
    referrals_key,
)

from .conftest import Backend

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PERIOD = current_period("month", ZoneInfo("UTC"), NOW)


async def view(meter: MeterStore, reader: Reader, path: str, premium: bool = False) -> Any:
    return await meter.view(reader, path, premium=premium, limit=2, period=PERIOD, now=NOW)


async def test_counts_up_to_the_limit_then_walls(backend: Backend, prefix: str) -> None:
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    reader = Reader("reader-aaaaaaaaaaaaaaaa")
    first = await view(meter, reader, "/a")
    assert (first.outcome, first.views) == (Outcome.COUNTED, 1)
    assert (await view(meter, reader, "/a")).outcome == Outcome.ALREADY_READ
    assert (await view(meter, reader, "/b")).views == 2
    walled = await view(meter, reader, "/c")
    assert (walled.outcome, walled.views) == (Outcome.LIMIT_USED, 2)
    assert (await view(meter, reader, "/b")).outcome == Outcome.ALREADY_READ
    assert (await view(meter, reader, "/p", premium=True)).outcome == Outcome.PREMIUM_WALLED
    assert await backend.redis.scard(meter_key(prefix, reader, PERIOD)) == 2


async def test_readers_do_not_share_a_meter(backend: Backend, prefix: str) -> None:
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    await view(meter, Reader("reader-aaaaaaaaaaaaaaaa"), "/a")
    assert (await view(meter, Reader("reader-bbbbbbbbbbbbbbbb"), "/a")).views == 1


async def test_raising_the_limit_mid_period_keeps_the_count(backend: Backend, prefix: str) -> None:
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    reader = Reader("reader-aaaaaaaaaaaaaaaa")
    for path in ("/a", "/b"):
        await view(meter, reader, path)
    more = await meter.view(reader, "/c", premium=False, limit=5, period=PERIOD, now=NOW)
    assert (more.outcome, more.views) == (Outcome.COUNTED, 3)


async def test_entitlements_are_read_in_the_same_call(backend: Backend, prefix: str) -> None:
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    reader = Reader("reader-aaaaaaaaaaaaaaaa", account="acct-42")
    until = int((NOW + timedelta(days=30)).timestamp())
    await backend.redis.set(entitlement_key(prefix, reader), f"subscription {until}")
    verdict = await view(meter, reader, "/p", premium=True)
    assert (verdict.outcome, verdict.status) == (Outcome.ENTITLED, "subscription")
    assert verdict.until == until  # kept in the reader's signed summary, for outages
    await backend.redis.set(entitlement_key(prefix, reader), f"trial {int(NOW.timestamp()) - 1}")
    lapsed = await view(meter, reader, "/a")
    assert (lapsed.outcome, lapsed.status) == (Outcome.COUNTED, "trial_expired")


async def test_keys_expire_after_the_period(backend: Backend, prefix: str) -> None:
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    reader = Reader("reader-aaaaaaaaaaaaaaaa")
    await view(meter, reader, "/a")
    ttl = await backend.redis.ttl(meter_key(prefix, reader, PERIOD))
    expected = (PERIOD.ends - NOW).total_seconds()
    assert expected < ttl <= expected + 3600 + 1


async def test_a_sign_in_reads_the_anonymous_views(backend: Backend, prefix: str) -> None:
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    reader = Reader("reader-aaaaaaaaaaaaaaaa")
    for path in ("/a", "/b"):
        await view(meter, reader, path)
    assert await meter.anonymous_views(reader.reader_id, PERIOD) == sorted(
        article_id(path) for path in ("/a", "/b")
    )
    assert await meter.anonymous_views("reader-bbbbbbbbbbbbbbbb", PERIOD) == []
    signed_in = Reader("reader-bbbbbbbbbbbbbbbb", account="acct-7")
    merged = await meter.view(
        signed_in, "/c", premium=False, limit=5, period=PERIOD, now=NOW, merge=[article_id("/a")]
    )
    assert (merged.outcome, merged.views) == (Outcome.COUNTED, 2)


async def test_new_readers_are_counted_per_network_until_the_period_ends(
    backend: Backend, prefix: str
) -> None:
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    network = "203.0.113.0/24"
    counts = [await meter.new_reader_from(network, PERIOD, NOW) for _ in range(3)]
    assert counts == [1, 2, 3]
    assert await meter.new_reader_from("198.51.100.0/24", PERIOD, NOW) == 1
    ttl = await backend.redis.ttl(f"{prefix}{{n:{network}}}:new:{PERIOD.id}")
    assert 0 < ttl <= PERIOD.seconds_left(NOW)


def test_all_of_a_readers_keys_share_one_hash_tag() -> None:
    for reader in (Reader("reader-aaaaaaaaaaaaaaaa"), Reader("r" * 16, account="acct}{42")):
        tags = {
            key[key.index("{") + 1 : key.index("}", key.index("{"))]
            for key in (meter_key("pw:", reader, PERIOD), entitlement_key("pw:", reader))
        }
        assert len(tags) == 1


def test_article_ids_are_small_stable_and_keyed() -> None:
    ids = {article_id(f"/articles/{n}", b"k1") for n in range(10000)}
    assert len(ids) == 10000
    assert all(0 <= i < 2**31 for i in ids)  # a 4-byte intset entry in Redis
    assert article_id("/articles/1", b"k1") == article_id("/articles/1", b"k1")
    # Without the server's key nobody can compute ids, so nobody can search for a
    # colliding URL offline.
    assert article_id("/articles/1", b"k1") != article_id("/articles/1", b"k2")


def test_circuit_breaker_fails_fast_then_lets_one_probe_through() -> None:
    from paywall.store import CircuitBreaker

    now = [100.0]
    breaker = CircuitBreaker(5.0, clock=lambda: now[0])
    assert breaker.allow()
    assert breaker.failed() is True  # opened: the caller logs once
    assert not breaker.allow()
    now[0] += 5.0
    assert breaker.allow()  # one probe...
    assert not breaker.allow()  # ...and only one while it is out
    assert breaker.failed() is False  # still down: re-opened, no second log
    assert not breaker.allow()
    now[0] += 5.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.allow() and breaker.allow()


def test_a_cancelled_probe_does_not_leave_the_circuit_stuck() -> None:
    from paywall.store import CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker(1.0, clock=lambda: now[0])
    breaker.allow()
    breaker.failed()
    now[0] = 2.0
    assert breaker.allow()
    breaker.abandoned()
    assert breaker.allow()


def test_breaker_seconds_zero_disables_it() -> None:
    from paywall.store import CircuitBreaker

    breaker = CircuitBreaker(0)
    breaker.failed()
    assert breaker.allow()


async def test_a_refused_call_fails_alone_and_does_not_open_the_breaker(prefix: str) -> None:
    from redis.exceptions import ResponseError

    from paywall.store import StoreError

    class RefusingPipeline:
        def execute_command(self, *args: Any) -> None:
            pass

        async def execute(self, raise_on_error: bool = True) -> list[Any]:
            return [ResponseError("OOM command not allowed when used memory > 'maxmemory'")]

    class RefusingClient:
        calls = 0

        def pipeline(self, transaction: bool = True) -> RefusingPipeline:
            RefusingClient.calls += 1
            return RefusingPipeline()

    meter = MeterStore(RefusingClient(), prefix, timeout=1.0, breaker_seconds=60)
    for _ in range(3):
        with pytest.raises(StoreError, match="OOM"):
            await view(meter, Reader("reader-aaaaaaaaaaaaaaaa"), "/a")
    assert RefusingClient.calls == 3  # each view still asked: the breaker stayed closed


async def extra_view(meter: MeterStore, reader: Reader, path: str, extras: Extras) -> Any:
    return await meter.view(
        reader, path, premium=False, limit=2, period=PERIOD, now=NOW, extras=extras
    )


async def test_referral_reads_are_capped_per_rule_and_spend_no_views(
    backend: Backend, prefix: str
) -> None:
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    reader = Reader("reader-aaaaaaaaaaaaaaaa")
    google, social = Extras(referrals=True, referral="0:2"), Extras(referrals=True, referral="1:1")
    outcomes = [(await extra_view(meter, reader, p, google)).outcome for p in ("/a", "/b", "/c")]
    assert outcomes == [Outcome.REFERRAL, Outcome.REFERRAL, Outcome.COUNTED]
    assert (await extra_view(meter, reader, "/d", social)).outcome == Outcome.REFERRAL
    again = await extra_view(meter, reader, "/a", Extras(referrals=True))  # no referer now
    assert (again.outcome, again.views) == (Outcome.ALREADY_READ, 1)
    assert await backend.redis.scard(meter_key(prefix, reader, PERIOD)) == 1
    key = referrals_key(prefix, reader, PERIOD)
    assert await backend.redis.hlen(key) == 3
    assert 0 < await backend.redis.ttl(key) <= PERIOD.seconds_left(NOW)


async def test_the_entitled_reply_carries_the_gifts_given(backend: Backend, prefix: str) -> None:
    meter = MeterStore(backend.client, prefix, timeout=1.0)
    reader = Reader("reader-aaaaaaaaaaaaaaaa", account="acct-7")
    until = int((NOW + timedelta(days=30)).timestamp())
    await backend.redis.set(entitlement_key(prefix, reader), f"subscription {until}")
    assert (await extra_view(meter, reader, "/a", Extras(gifts=True))).gifts_given == 0
    await backend.redis.set(gifts_key(prefix, reader, PERIOD), 3)
    verdict = await extra_view(meter, reader, "/a", Extras(gifts=True, referrals=True))
    assert (verdict.outcome, verdict.until, verdict.gifts_given) == (Outcome.ENTITLED, until, 3)
