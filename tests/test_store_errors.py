"""A dead or slow store degrades to `on_store_error` within the store timeout, never a 500."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis.asyncio as aioredis

from paywall import PaywallMiddleware

from .conftest import ARTICLE_PARAGRAPHS, CONFIG, article_site, client_for
from .test_middleware import hidden_text_in, prompts

pytestmark = pytest.mark.anyio


FAST = CONFIG.replace("timeout_ms: 1000", "timeout_ms: 100")  # the default budget


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BUDGET = 0.1  # store.timeout_ms of FAST, in seconds


class HangingClient:
    """Stands in for a Redis that accepts the call and never answers."""

    def __init__(self) -> None:
        self.executed = 0

    def pipeline(self, transaction: bool = True) -> Any:
        return HangingPipeline(self)


class HangingPipeline:
    """What the batcher uses: execute_command to queue EVALSHA, execute to send the batch."""

    def __init__(self, client: HangingClient) -> None:
        self.client = client
        self.commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any) -> HangingPipeline:
        self.commands.append(args)
        return self

    async def execute(self, raise_on_error: bool = True) -> Any:
        assert self.commands and self.commands[0][0] == "EVALSHA", self.commands
        self.client.executed += 1
        await asyncio.sleep(30)


def stores() -> list[Any]:
    return [aioredis.from_url(f"redis://127.0.0.1:{closed_port()}/0"), HangingClient()]


def assert_waited(store: Any, seconds: float) -> None:
    """A hanging store really was asked, and the view waited for the whole budget."""
    if isinstance(store, HangingClient):
        assert store.executed == 1
        assert BUDGET <= seconds < 1.0, seconds


@pytest.mark.parametrize("make_store", [0, 1], ids=["refused", "hanging"])
async def test_open_serves_metered_pages_in_full(
    config_file: Callable[..., Path], make_store: int
) -> None:
    store = stores()[make_store]
    paywall = PaywallMiddleware(article_site, config=config_file(FAST), redis=store)
    async with client_for(paywall) as reader:
        started = time.monotonic()
        with anyio.fail_after(5):
            page = await reader.get("/articles/one")
        assert_waited(store, time.monotonic() - started)
        assert page.status_code == 200 and prompts(page) == []
        assert ARTICLE_PARAGRAPHS[-1] in page.text
        assert "private" in page.headers["cache-control"]
        premium = await reader.get("/premium/one")
        assert premium.status_code == 200 and hidden_text_in(premium) == []


@pytest.mark.parametrize("make_store", [0, 1], ids=["refused", "hanging"])
async def test_closed_walls_metered_pages(
    config_file: Callable[..., Path], make_store: int
) -> None:
    text = FAST + "on_store_error: closed\n"
    store = stores()[make_store]
    paywall = PaywallMiddleware(article_site, config=config_file(text), redis=store)
    async with client_for(paywall) as reader:
        started = time.monotonic()
        with anyio.fail_after(5):
            page = await reader.get("/articles/one")
        assert_waited(store, time.monotonic() - started)
        assert page.status_code == 200 and prompts(page) == ["subscribe"]
        assert hidden_text_in(page) == []


async def test_free_pages_never_touch_the_store(config_file: Callable[..., Path]) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=HangingClient())
    async with client_for(paywall) as reader:
        with anyio.fail_after(1):
            page = await reader.get("/sponsored/one")
        assert page.status_code == 200 and "set-cookie" not in page.headers
