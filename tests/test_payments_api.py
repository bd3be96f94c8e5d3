"""The JSON API for billing systems other than Stripe, over HTTP against a real uvicorn and
real Redis: the admin token, grant, revoke and status as a signed-in reader then sees them,
idempotent retries, a conversion credited once, and bad input named by its field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from paywall.analytics import AnalyticsReader
from paywall.analytics.refs import Ref, RefSigner
from paywall.names import Status

from .conftest import REAL_REDIS_URL, SECRET
from .payments_site import ADMIN_TOKEN, API, Site, running_site

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not REAL_REDIS_URL, reason="PAYWALL_TEST_REDIS_URL is not set"),
]

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", ADMIN_TOKEN)
    async with running_site(tmp_path) as running:
        yield running


def post(site: Site, value: Any, headers: dict[str, str] = BEARER) -> httpx.Response:
    body = value if isinstance(value, bytes) else None
    json = None if isinstance(value, bytes) else value
    return httpx.post(site.server.url + API, content=body, json=json, headers=headers, timeout=10)


def status_of(site: Site, account: str) -> dict[str, Any]:
    response = httpx.get(site.server.url + API, params={"account": account}, headers=BEARER)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


async def test_the_admin_token_is_required(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    grant = {"account": "acct-1", "plan": "trial", "until": "2027-01-31"}
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": ADMIN_TOKEN}):
        refused = post(site, grant, headers)
        assert (
            refused.status_code == 401 and "bearer" in refused.headers["www-authenticate"].lower()
        )
    assert httpx.get(site.server.url + API, params={"account": "acct-1"}).status_code == 401
    assert await site.status("acct-1") is Status.NONE
    monkeypatch.delenv("PAYWALL_ADMIN_TOKEN")  # no token set: there is no API
    assert post(site, grant).status_code == 404


async def test_grant_revoke_and_status(site: Site) -> None:
    granted = post(site, {"account": "acct-1", "plan": "trial", "until": "2027-01-31"})
    assert granted.status_code == 200
    ends = "2027-01-31T15:00:00+00:00"  # the end of Jan 31st in Tokyo (meter.timezone)
    expected = {"account": "acct-1", "status": "trial", "plan": "trial", "until": ends}
    assert granted.json() == {**expected, "result": "applied"}
    assert status_of(site, "acct-1") == expected
    assert site.view("acct-1") == "full"
    site.at(int(datetime(2027, 1, 31, 15, tzinfo=UTC).timestamp()))
    assert status_of(site, "acct-1")["status"] == "trial_expired"
    assert site.view("acct-1") == "trial-expired"
    upgrade = {"account": "acct-1", "plan": "subscription", "until": "2027-12-31T00:00:00+09:00"}
    assert post(site, upgrade).json()["until"] == "2027-12-30T15:00:00+00:00"
    assert site.view("acct-1") == "full"
    revoked = post(site, {"account": "acct-1", "plan": "none"})
    assert revoked.json() == {
        "account": "acct-1",
        "status": "none",
        "plan": None,
        "until": None,
        "result": "applied",
    }
    assert site.view("acct-1") == "subscribe"
    assert status_of(site, "nobody")["status"] == "none"


async def test_a_retried_grant_changes_nothing_and_counts_one_conversion(site: Site) -> None:
    ref = RefSigner([SECRET]).sign(Ref("subscribe", "trial-3m", "news", date(2027, 1, 1)))
    grant = {"account": "acct-2", "plan": "subscription", "until": "2027-06-30", "ref": ref}
    first = post(site, {**grant, "id": "order-981"})
    assert (first.json()["result"], first.json()["credited"]) == ("applied", True)
    post(site, {"account": "acct-2", "plan": "none", "id": "order-982"})
    again = post(site, {**grant, "id": "order-981"})  # the billing system retries
    assert (again.json()["result"], again.json()["credited"]) == ("duplicate", False)
    assert again.json()["status"] == "none"
    report = await AnalyticsReader(site.redis, site.prefix).report(
        date(2027, 1, 2), date(2027, 1, 2)
    )
    offer = report.offer("trial-3m")
    assert offer is not None and offer.conversions == 1
    forged = post(site, {**grant, "ref": ref[:-2] + "xx"})
    assert (forged.json()["status"], forged.json()["credited"]) == ("subscription", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        ({"plan": "trial", "until": "2027-01-31"}, "account"),
        ({"account": "", "plan": "trial", "until": "2027-01-31"}, "account"),
        ({"account": "a}b", "plan": "trial", "until": "2027-01-31"}, "account"),
        ({"account": "acct", "plan": "lifetime", "until": "2027-01-31"}, "plan"),
        ({"account": "acct", "plan": "trial"}, "until"),
        ({"account": "acct", "plan": "trial", "until": "next month"}, "until"),
        ({"account": "acct", "plan": "trial", "until": "2027-01-31T00:00:00"}, "until"),
        ({"account": "acct", "plan": "trial", "until": 1800000000}, "until"),
        ({"account": "acct", "plan": "trial", "until": "2027-01-31", "ref": 7}, "ref"),
        ({"account": "acct", "plan": "trial", "until": "2027-01-31", "id": ""}, "id"),
        ({"account": "acct", "plan": "trial", "until": "2027-01-31", "plann": 1}, "plann"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(site: Site, body: Any, field: str) -> None:
    response = post(site, body)
    assert response.status_code == 400
    assert response.json()["field"] == field and response.json()["error"].startswith(f"{field}: ")
    assert await site.status("acct") is Status.NONE


async def test_methods_and_sizes(site: Site) -> None:
    put = httpx.put(site.server.url + API, json={}, headers=BEARER)
    assert (put.status_code, put.headers["allow"]) == (405, "GET, POST")
    huge = post(site, b'{"account": "' + b"a" * (2 * 1024 * 1024) + b'"}')
    assert huge.status_code == 413
    assert status_of(site, "acct")["status"] == "none"
    bad = httpx.get(site.server.url + API, params={"account": ""}, headers=BEARER)
    assert (bad.status_code, bad.json()["field"]) == (400, "account")
