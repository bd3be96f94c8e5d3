"""The signed summary cookie: what it says, when it is set, and what it decides in an outage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.middleware.authentication import AuthenticationMiddleware

from paywall import Entitlements, PaywallMiddleware
from paywall.identity import Reader, ReaderCookie
from paywall.names import Status
from paywall.periods import current_period
from paywall.store import Outcome, Verdict
from paywall.summary import (
    MAX_SEEN,
    Summary,
    SummaryCookie,
    binding_of,
    degraded,
    mark_seen,
    summarise,
    was_seen,
)

from .conftest import CONFIG, article_site, client_for
from .overload_app import SignedInByHeader

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
PERIOD = current_period("month", UTC, NOW)  # type: ignore[arg-type]
LAST_PERIOD = current_period("month", UTC, NOW - timedelta(days=40))  # type: ignore[arg-type]
ANON = Reader("reader-aaaaaaaaaaaaaaaa")
ACCOUNT = Reader("reader-aaaaaaaaaaaaaaaa", account="acct-1")
LATER = int((NOW + timedelta(days=30)).timestamp())


def summary_of(outcome: Outcome, views: int, reader: Reader = ANON, until: int = 0) -> Summary:
    return summarise(Verdict(outcome, views, Status.NONE, until), reader, PERIOD, 3, None)


# --- what a verdict becomes -----------------------------------------------------------------


def test_summaries_of_verdicts() -> None:
    assert summary_of(Outcome.COUNTED, 1) == Summary(binding_of(ANON), PERIOD.id, 1, False, 0)
    assert summary_of(Outcome.COUNTED, 3).used_up  # the last free article
    assert summary_of(Outcome.LIMIT_USED, 3).used_up
    assert summary_of(Outcome.ALREADY_READ, 3).used_up
    assert not summary_of(Outcome.ALREADY_READ, 2).used_up
    entitled = summary_of(Outcome.ENTITLED, 0, ACCOUNT, LATER)
    assert (entitled.entitled_until, entitled.binding) == (LATER, binding_of(ACCOUNT))


def test_verdicts_that_do_not_read_the_meter_keep_its_part_of_the_last_summary() -> None:
    walled = summary_of(Outcome.LIMIT_USED, 3, ACCOUNT)
    entitled = summarise(
        Verdict(Outcome.ENTITLED, 0, Status.TRIAL, LATER), ACCOUNT, PERIOD, 3, walled
    )
    assert entitled == Summary(walled.binding, PERIOD.id, 3, True, LATER)
    premium = summarise(
        Verdict(Outcome.PREMIUM_WALLED, 0, Status.NONE), ACCOUNT, PERIOD, 3, entitled
    )
    assert premium == Summary(walled.binding, PERIOD.id, 3, True, 0)  # the plan is over
    # ... but not another reader's, nor another period's.
    moved = summarise(Verdict(Outcome.PREMIUM_WALLED, 0, Status.NONE), ANON, PERIOD, 3, walled)
    assert not moved.used_up and moved.binding == binding_of(ANON)
    old = Summary(walled.binding, LAST_PERIOD.id, 3, True, 0)
    assert not summarise(
        Verdict(Outcome.PREMIUM_WALLED, 0, Status.NONE), ACCOUNT, PERIOD, 3, old
    ).used_up


def test_bindings_tell_readers_and_accounts_apart() -> None:
    assert binding_of(ANON) != binding_of(ACCOUNT)
    assert binding_of(ACCOUNT) == binding_of(Reader("another-cookie-id-xx", account="acct-1"))
    assert binding_of(ACCOUNT) != binding_of(Reader(ACCOUNT.reader_id, account="acct-2"))


# --- what it decides in an outage -----------------------------------------------------------


def test_the_degraded_rule() -> None:
    def decide(summary: Summary | None, reader: Reader = ANON, premium: bool = False) -> Any:
        verdict = degraded(summary, reader, PERIOD, NOW, premium)
        return None if verdict is None else verdict.outcome

    walled = summary_of(Outcome.LIMIT_USED, 3)
    assert decide(walled) == Outcome.LIMIT_USED
    assert decide(walled, premium=True) is None  # premium is walled anyway
    assert decide(walled, reader=ACCOUNT) is None  # not this reader's
    assert decide(Summary(walled.binding, LAST_PERIOD.id, 3, True, 0)) is None  # last period
    assert decide(summary_of(Outcome.COUNTED, 2)) is None  # views left: on_store_error
    assert decide(None) is None
    entitled = summary_of(Outcome.ENTITLED, 0, ACCOUNT, LATER)
    assert decide(entitled, reader=ACCOUNT) == Outcome.ENTITLED
    assert decide(entitled, reader=ACCOUNT, premium=True) == Outcome.ENTITLED
    assert decide(entitled, reader=Reader("x" * 16, account="acct-2")) is None
    expired = Summary(entitled.binding, PERIOD.id, 0, False, int(NOW.timestamp()))
    assert decide(expired, reader=ACCOUNT) is None


# --- the cookie -----------------------------------------------------------------------------


def cookie_header(name: str, value: str) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", f"other=1; {name}={value}; x=y".encode())]


def value_of(set_cookie: str) -> str:
    return set_cookie.split(";")[0].partition("=")[2]


def test_the_cookie_round_trips_and_refuses_forgeries() -> None:
    cookies = SummaryCookie(["new-key", "old-key"], "paywall_rid", secure=True, max_age=60)
    summary = summary_of(Outcome.COUNTED, 2)
    header = cookies.header(summary)
    assert header.startswith("paywall_rid_s=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Secure", "Max-Age=60", "Path=/"):
        assert attribute in header
    value = value_of(header)
    assert cookies.read(cookie_header("paywall_rid_s", value)) == (summary, True)
    payload, _, signature = value.rpartition(".")
    for forged in (
        payload.replace(".2.0.", ".0.0.") + "." + signature,  # edited
        payload,  # unsigned
        value + "x",
        "x" * 5000,
        "",
    ):
        assert cookies.read(cookie_header("paywall_rid_s", forged)) == (None, False)
    assert cookies.read([]) == (None, False)
    # The reader cookie's value, under the summary's name (same keys, other salt): refused.
    rid = ReaderCookie(["new-key"], "paywall_rid", secure=True, max_age=60).header("a" * 16)
    assert cookies.read(cookie_header("paywall_rid_s", value_of(rid.decode()))) == (None, False)


def test_an_old_key_still_verifies_and_asks_to_be_re_signed() -> None:
    old = SummaryCookie(["old-key"], "paywall_rid", secure=True, max_age=60)
    rotated = SummaryCookie(["new-key", "old-key"], "paywall_rid", secure=True, max_age=60)
    summary = summary_of(Outcome.COUNTED, 1)
    value = value_of(old.header(summary))
    assert rotated.read(cookie_header("paywall_rid_s", value)) == (summary, False)


# --- experiment marks ----------------------------------------------------------------------


def test_experiment_marks_ride_along_and_are_kept_by_every_verdict() -> None:
    marked = summarise(Verdict(Outcome.COUNTED, 1, Status.NONE), ANON, PERIOD, 3, None, "AAAAAA")
    assert marked.seen == "AAAAAA" and marked.payload().endswith(".0.AAAAAA")
    for outcome in Outcome:  # a new verdict keeps the marks, even after signing in
        again = summarise(Verdict(outcome, 2, Status.NONE), ACCOUNT, PERIOD, 3, marked)
        assert again.seen == "AAAAAA"
    assert summary_of(Outcome.COUNTED, 1).payload().count(".") == 4  # no marks: as before


def test_marks_are_whole_tokens_and_the_oldest_go_first() -> None:
    seen = mark_seen("", ["abcdef", "ghijkl"])
    assert was_seen(seen, "abcdef") and was_seen(seen, "ghijkl")
    assert not was_seen(seen, "cdefgh")  # straddling two tokens is no token
    full = mark_seen("", (f"tok{n:03d}" for n in range(MAX_SEEN + 3)))
    assert len(full) == MAX_SEEN * 6 and not was_seen(full, "tok000") and was_seen(full, "tok014")


def test_a_cookie_with_marks_round_trips_within_its_size() -> None:
    cookies = SummaryCookie(["new-key"], "paywall_rid", secure=True, max_age=60)
    full = replace(summary_of(Outcome.LIMIT_USED, 999_999), seen="Zz0_-9" * MAX_SEEN)
    value = value_of(cookies.header(full))
    assert len(value) <= 256 and cookies.read(cookie_header("paywall_rid_s", value)) == (full, True)
    payload, _, signature = value.rpartition(".")
    assert cookies.read(cookie_header("paywall_rid_s", payload + "x." + signature))[0] is None


# --- through the middleware -----------------------------------------------------------------


@pytest.fixture
def app(store: Any, config_file: Callable[..., Path]) -> tuple[PaywallMiddleware, Any]:
    paywall = PaywallMiddleware(article_site, config=config_file(CONFIG), redis=store)
    paywall.clock = lambda: NOW
    return paywall, AuthenticationMiddleware(paywall, backend=SignedInByHeader())


def summaries_set(page: httpx.Response) -> list[str]:
    return [c for c in page.headers.get_list("set-cookie") if c.startswith("paywall_rid_s=")]


async def test_the_summary_is_set_only_when_it_changes(app: tuple[Any, Any]) -> None:
    async with client_for(app[1]) as reader:
        first = await reader.get("/articles/1")
        assert len(summaries_set(first)) == 1 and ".2026-11.1.0.0." in summaries_set(first)[0]
        assert summaries_set(await reader.get("/articles/1")) == []  # already read: same
        assert len(summaries_set(await reader.get("/articles/2"))) == 1
        assert ".3.1.0." in summaries_set(await reader.get("/articles/3"))[0]  # used up
        assert summaries_set(await reader.get("/articles/4")) == []  # walled: no change
        assert summaries_set(await reader.get("/premium/1")) == []
        assert summaries_set(await reader.get("/sponsored/1")) == []  # free pages: untouched


async def test_entitled_readers_carry_their_plans_end(
    app: tuple[Any, Any], store: Any, prefix: str
) -> None:
    until = NOW + timedelta(days=30)
    await Entitlements(store, prefix).grant("acct-1", plan="subscription", until=until)
    async with client_for(app[1]) as reader:
        reader.headers["x-test-account"] = "acct-1"
        page = await reader.get("/premium/1")
        (header,) = summaries_set(page)
        assert f".{int(until.timestamp())}." in header
        assert summaries_set(await reader.get("/articles/1")) == []
        await Entitlements(store, prefix).revoke("acct-1")
        (after,) = summaries_set(await reader.get("/premium/2"))
        assert after.split(";")[0].split(".")[4] == "0"  # the store says: no plan now


async def test_signing_keys_rotated_the_summary_is_re_signed(
    app: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch, config_file: Callable[..., Path]
) -> None:
    async with client_for(app[1]) as reader:
        await reader.get("/articles/1")
        monkeypatch.setenv("PAYWALL_SECRET_KEYS", "a-new-key,test-signing-key")
        client = app[0].store.client
        rotated = PaywallMiddleware(article_site, config=config_file(CONFIG), redis=client)
        rotated.clock = lambda: NOW
        async with client_for(rotated) as same_browser:
            same_browser.cookies = reader.cookies
            page = await same_browser.get("/articles/1")  # already read: nothing changed
        assert len(summaries_set(page)) == 1  # but signed with the old key: re-signed
