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
