"""CPU per view of experiments: `decide_view` (identity, assignment, the meter call, the
summary, the decision) with the store's script answered at once in-process, so the figure
is the paywall's own Python and the difference between rows is what experiments add.

    python -m bench.experiments                  # 5 rounds of 100,000 views per row
    python -m bench.experiments --views 50000 --rounds 3

Rows: no `experiments:` at all; experiments configured but none in force that day; one in
force for the reader; two in force, one of them limited to sections. Each row repeats the
same returning reader (a signed cookie and summary), the common case; rows are measured in
turn, several rounds, and the best of each is printed. No assertions; nothing touches Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paywall import PaywallMiddleware
from paywall.metering import decide_view

NOW = datetime(2027, 1, 5, 3, tzinfo=UTC)
BASE = """\
publication: Bench
meter: {limit: 1000, timezone: Asia/Tokyo}
content:
  rules:
    - {path: "/articles/*", access: metered, section: news}
store: {url: "memory://"}
"""
ONE = """\
experiments:
  - id: limits
    starts: 2027-01-01
    arms:
      - {name: control, weight: 1}
      - {name: more, weight: 1, meter: {limit: 1005}}
"""
TWO = (
    ONE
    + """\
  - id: teaser
    starts: 2027-01-01
    applies_to: {sections: [news]}
    arms:
      - {name: control, weight: 1}
      - {name: short, weight: 1, teaser_paragraphs: 1}
"""
)
ROWS = {
    "no experiments": BASE,
    "configured, none in force": BASE + ONE.replace("2027-01-01", "2027-06-01"),
    "one in force": BASE + ONE,
    "two in force, one by section": BASE + TWO,
}


class Answering:
    """Stands in for the meter script: "counted, 7 views" at once."""

    sha = "0" * 40

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return [1, 7, b"none"]


async def _no_site(scope: Any, receive: Any, send: Any) -> None:
    """The upstream (never called: the bench decides views without responding)."""


async def per_view(text: str, folder: Path, views: int) -> float:
    """CPU µs per `decide_view` of one returning reader under the config `text`."""
    path = folder / "bench.yaml"
    path.write_text(text, encoding="utf-8")
    paywall = PaywallMiddleware(_no_site, config=path)
    paywall.clock = lambda: NOW
    paywall.store._script = Answering()  # type: ignore[assignment]
    config = paywall.live.current()
    tools = paywall.tools(config)
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/articles/a",
                             "query_string": b"", "headers": [],
                             "client": ("192.0.2.1", 1)}  # fmt: skip
    first = await decide_view(tools, config, scope, "metered")
    assert first.identified is not None and first.identified.cookie is not None
    cookie = tools.cookies.header(first.identified.cookie).split(b";")[0]
    summary = (first.identified.summary or "").split(";")[0].encode()
    scope["headers"] = [(b"cookie", cookie + b"; " + summary)]
    for _ in range(2000):
        await decide_view(tools, config, scope, "metered")
    started = time.process_time()
    for _ in range(views):
        await decide_view(tools, config, scope, "metered")
    return (time.process_time() - started) / views * 1e6


async def main(views: int, rounds: int) -> None:
    os.environ.setdefault("PAYWALL_SECRET_KEYS", "bench-signing-key")
    results = dict.fromkeys(ROWS, float("inf"))
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):  # rows interleaved, the best of each: a shared machine is noisy
            for name, text in ROWS.items():
                results[name] = min(results[name], await per_view(text, Path(folder), views))
    base = results["no experiments"]
    print(f"{'row':32} {'µs per view':>12} {'added':>8}")
    for name, micros in results.items():
        print(f"{name:32} {micros:12.2f} {micros - base:+8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.views, arguments.rounds))
