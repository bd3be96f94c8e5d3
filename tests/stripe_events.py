"""Stripe events for tests: the fixtures in tests/fixtures/stripe, with fields changed, and
signed as Stripe signs a delivery (`t=TIMESTAMP,v1=HMAC-SHA256(secret, "TIMESTAMP.BODY")`)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).with_name("fixtures") / "stripe"
BASE = 1798761600  # 2027-01-01T00:00:00Z: every time in the fixtures is counted from it
BASE_TIME = datetime.fromtimestamp(BASE, UTC)
DAY = 86400
WEBHOOK_SECRET = "whsec_test_5f1d0c8e2b7a4c91a3e6d2f08b9c7e41"
CUSTOMER = "cus_QXg1o8vcGmoR32"
SUBSCRIPTION = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"


def fixture(name: str) -> dict[str, Any]:
    """A fixture's event, as a fresh dict."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def event(
    name: str, event_id: str | None = None, created: int | None = None, **changes: Any
) -> dict[str, Any]:
    """A fixture's event with its id, `created` and fields of its object changed; a change
    named `a__b` sets `object["a"]["b"]`, `items__period` sets both period ends of every item
    (`(start, end)`)."""
    data = fixture(name)
    if event_id is not None:
        data["id"] = event_id
    if created is not None:
        data["created"] = created
    obj = data["data"]["object"]
    for key, value in changes.items():
        if key == "items__period":
            for item in obj["items"]["data"]:
                item["current_period_start"], item["current_period_end"] = value
            continue
        if key == "lines__period":
            for line in obj["lines"]["data"]:
                line["period"] = {"start": value[0], "end": value[1]}
            continue
        *path, last = key.split("__")
        target = obj
        for part in path:
            target = target[part]
        target[last] = value
    return data


def body_of(data: Any) -> bytes:
    return json.dumps(data).encode()


def signature(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header for `body`, signed now (or at `timestamp`)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"
