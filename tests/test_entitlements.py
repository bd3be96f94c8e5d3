"""Entitlements: grant, revoke and status, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from paywall import Entitlements

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


async def test_statuses(store: Any, prefix: str) -> None:
    ents = Entitlements(store, prefix=prefix)
    assert await ents.status("acct-42", now=NOW) == "none"
    await ents.grant("acct-42", plan="trial", until=NOW + timedelta(days=1))
    assert await ents.status("acct-42", now=NOW) == "trial"
    assert await ents.status("acct-42", now=NOW + timedelta(days=2)) == "trial_expired"
    await ents.grant("acct-42", plan="subscription", until=NOW + timedelta(days=30))
    assert await ents.status("acct-42", now=NOW) == "subscription"
    assert await ents.status("acct-42", now=NOW + timedelta(days=31)) == "access_expired"
    await ents.revoke("acct-42")
    assert await ents.status("acct-42", now=NOW) == "none"


async def test_a_grant_in_the_past_records_a_lapsed_reader(store: Any, prefix: str) -> None:
    ents = Entitlements(store, prefix=prefix)
    await ents.grant("lapsed", plan="subscription", until=datetime(2026, 1, 31, tzinfo=UTC))
    assert await ents.status("lapsed") == "access_expired"
    plan, until = await ents.lookup("lapsed")
    assert plan == "subscription" and until == datetime(2026, 1, 31, tzinfo=UTC)


async def test_accounts_are_separate_and_keys_use_the_prefix(store: Any, prefix: str) -> None:
    ents = Entitlements(store, prefix=prefix)
    await ents.grant("a", plan="trial", until=NOW + timedelta(days=1))
    assert await ents.status("b", now=NOW) == "none"
    keys = [key async for key in store.scan_iter(match=prefix + "*")]
    assert keys == [f"{prefix}{{a:a}}:ent".encode()]


async def test_bad_grants_are_refused(store: Any, prefix: str) -> None:
    ents = Entitlements(store, prefix=prefix)
    with pytest.raises(ValueError, match="timezone-aware"):
        await ents.grant("a", plan="trial", until=datetime(2027, 1, 1))
    with pytest.raises(ValueError, match="plan must be one of"):
        await ents.grant("a", plan="lifetime", until=NOW)
    with pytest.raises(ValueError, match="account"):
        await ents.grant("", plan="trial", until=NOW)


# -- conversions: a grant carrying the ref of the offer link the reader followed -----------


async def test_a_grant_with_our_ref_is_a_conversion_for_that_offer(store: Any, prefix: str) -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from paywall.analytics.keys import totals_key
    from paywall.analytics.refs import Ref, RefSigner
    from paywall.analytics.report import AnalyticsReader

    from .conftest import SECRET

    ref = RefSigner([SECRET]).sign(Ref("subscribe", "trial-3m", "news", date(2026, 11, 20)))
    tokyo = ZoneInfo("Asia/Tokyo")
    ents = Entitlements(store, prefix=prefix, timezone=tokyo)
    late = datetime(2026, 11, 27, 20, tzinfo=UTC)  # already the 28th in Tokyo
    credited = await ents.grant(
        "acct-1", plan="subscription", until=NOW + timedelta(30), ref=ref, now=late
    )
    assert credited == Ref("subscribe", "trial-3m", "news", date(2026, 11, 20))
    assert await ents.status("acct-1", now=NOW) == "subscription"
    report = await AnalyticsReader(store, prefix).report(date(2026, 11, 27), date(2026, 11, 28))
    assert [day.conversions for day in report.days] == [0, 1]
    assert report.sections[0].name == "news" and report.prompts[0].conversions == 1
    assert await store.hget(totals_key(prefix), "trial-3m") == b"1"


async def test_a_bad_ref_is_not_credited_but_the_grant_stands(
    store: Any, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import date

    from paywall.analytics.refs import Ref, RefSigner

    forged = RefSigner(["someone else's key"]).sign(Ref("subscribe", "x", "news", date(2026, 1, 1)))
    ents = Entitlements(store, prefix=prefix)
    for ref in (forged, "not-a-ref", ""):
        assert await ents.grant("acct-2", plan="trial", until=NOW + timedelta(1), ref=ref) is None
    assert await ents.status("acct-2", now=NOW) == "trial"
    assert "not credited" in caplog.text
    assert [key async for key in store.scan_iter(match=prefix + "{an:*")] == []


async def test_a_conversion_through_an_arms_wall_is_credited_to_the_arm(
    store: Any, prefix: str
) -> None:
    from datetime import date

    from paywall.analytics.keys import arm_totals_key, day_key, decode
    from paywall.analytics.refs import Ref, RefSigner

    from .conftest import SECRET

    shown = Ref("subscribe", "trial-3m", "news", date(2026, 11, 20), arm="limits=five,copy=b")
    ents = Entitlements(store, prefix=prefix)
    credited = await ents.grant(
        "acct-1",
        plan="trial",
        until=NOW + timedelta(30),
        ref=RefSigner([SECRET]).sign(shown),
        now=NOW,
    )
    assert credited is not None and credited.arms == [("limits", "five"), ("copy", "b")]
    day = {decode(k): int(v) for k, v in (await store.hgetall(day_key(prefix, NOW.date()))).items()}
    assert (
        day[("ax", "limits", "five", "trial-3m")] == 1 and day[("ax", "copy", "b", "trial-3m")] == 1
    )
    totals = {decode(k): int(v) for k, v in (await store.hgetall(arm_totals_key(prefix))).items()}
    assert totals == {("trial-3m", "limits+copy", "five+b"): 1}  # one conversion, one series
