"""The config history in the store: one entry per change however many workers saw it,
newest first, readable through the read API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from paywall import PaywallMiddleware
from paywall.analytics.history import (
    DIFF_LINES,
    HISTORY_LENGTH,
    ConfigChange,
    content_hash,
    short_diff,
)
from paywall.analytics.report import AnalyticsReader

from .conftest import CONFIG, article_site

pytestmark = pytest.mark.anyio

ON = CONFIG + "analytics:\n  enabled: true\n"


def edit(path: Path, old: str, new: str, paywalls: list[PaywallMiddleware]) -> None:
    path.write_text(path.read_text().replace(old, new), encoding="utf-8")
    for paywall in paywalls:
        paywall.live._next_check = 0
        paywall.live._stamp = ()  # a coarse mtime must not hide the edit
        paywall.live.current()


async def test_two_workers_record_each_change_once(
    store: Any, config_file: Callable[..., Path], prefix: str
) -> None:
    path = config_file(ON)
    workers = [PaywallMiddleware(article_site, config=path, redis=store) for _ in range(2)]
    edit(path, "  limit: 3", "  limit: 4", workers)
    edit(path, "  limit: 4", "  limit: lots", workers)
    for worker in workers:
        await worker.analytics.flush()
    history = await AnalyticsReader(store, prefix).config_history()
    assert [change.result for change in history] == ["rejected", "ok", "start"]
    rejected, ok, start = history
    assert ok.previous == start.hash and rejected.previous == ok.hash
    assert "+  limit: 4" in ok.diff and rejected.problems
    for worker in workers:
        await worker.analytics.aclose()


async def test_history_is_kept_short(store: Any, prefix: str) -> None:
    from paywall.analytics.history import RECORD_LUA, record_args

    for n in range(HISTORY_LENGTH + 5):
        change = ConfigChange(datetime(2027, 1, 1, tzinfo=UTC), "ok", f"h{n}", f"h{n - 1}", "")
        keys, args = record_args(prefix, change)
        await store.eval(RECORD_LUA, len(keys), *keys, *args)
    history = await AnalyticsReader(store, prefix).config_history(HISTORY_LENGTH + 10)
    assert len(history) == HISTORY_LENGTH
    assert history[0].hash == f"h{HISTORY_LENGTH + 4}"


def test_entries_round_trip_and_diffs_stay_short() -> None:
    change = ConfigChange(datetime(2027, 1, 1, tzinfo=UTC), "rejected", "a", "b", "-x\n+y", ("p",))
    assert ConfigChange.from_json(change.to_json()) == change
    assert ConfigChange.from_json("{not json") is None
    before = "\n".join(f"line {n}" for n in range(100))
    after = "\n".join(f"line {n}!" for n in range(100))
    diff = short_diff(before, after).splitlines()
    assert len(diff) == DIFF_LINES + 1 and diff[-1].startswith("…")
    assert content_hash([b"a", b"b"]) != content_hash([b"ab"])
