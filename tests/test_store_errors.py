"""A dead or slow store degrades to `on_store_error` within the store timeout, never a 500:
through a redis-py client passed as `redis=` and through our RESP client (`store.url`)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis.asyncio as aioredis

from paywall import PaywallMiddleware
from paywall.resp import RespClient

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


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port where something accepts connections and never says a word: a hung Redis."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in accepted:
            writer.close()
        server.close()


KINDS = ["refused", "hanging", "resp-refused", "resp-hanging"]


def paywall_on(kind: str, text: str, config_file: Callable[..., Path], silent: int) -> Any:
    """The paywall on a refusing or hanging store: a redis-py client (or a stand-in) passed
    as `redis=`, or `store.url` for our RESP client."""
    if kind == "refused":
        store: Any = aioredis.from_url(f"redis://127.0.0.1:{closed_port()}/0")
        return PaywallMiddleware(article_site, config=config_file(text), redis=store)
    if kind == "hanging":
        return PaywallMiddleware(article_site, config=config_file(text), redis=HangingClient())
    port = closed_port() if kind == "resp-refused" else silent
    text = text.replace("store:\n", f"store:\n  url: redis://127.0.0.1:{port}/0\n", 1)
    paywall = PaywallMiddleware(article_site, config=config_file(text))
    assert isinstance(paywall.store.client, RespClient)
    return paywall


def assert_waited(kind: str, paywall: Any, seconds: float) -> None:
    """A hanging store really was asked (once), and the view waited for the whole budget."""
    store = paywall.store.client
    if kind == "hanging":
        assert store.executed == 1
    elif kind == "resp-hanging":
        assert (store.connects, store.writes) == (1, 1)
    if kind.endswith("hanging"):
        assert BUDGET <= seconds < 1.0, seconds


@pytest.mark.parametrize("kind", KINDS)
async def test_open_serves_metered_pages_in_full(
    config_file: Callable[..., Path], kind: str, silent_port: int
) -> None:
    paywall = paywall_on(kind, FAST, config_file, silent_port)
    async with client_for(paywall) as reader:
        started = time.monotonic()
        with anyio.fail_after(5):
            page = await reader.get("/articles/one")
        assert_waited(kind, paywall, time.monotonic() - started)
        assert page.status_code == 200 and prompts(page) == []
        assert ARTICLE_PARAGRAPHS[-1] in page.text
        assert "private" in page.headers["cache-control"]
        premium = await reader.get("/premium/one")
        assert premium.status_code == 200 and hidden_text_in(premium) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_closed_walls_metered_pages(
    config_file: Callable[..., Path], kind: str, silent_port: int
) -> None:
    text = FAST + "on_store_error: closed\n"
    paywall = paywall_on(kind, text, config_file, silent_port)
    async with client_for(paywall) as reader:
        started = time.monotonic()
        with anyio.fail_after(5):
            page = await reader.get("/articles/one")
        assert_waited(kind, paywall, time.monotonic() - started)
        assert page.status_code == 200 and prompts(page) == ["subscribe"]
        assert hidden_text_in(page) == []


async def test_free_pages_never_touch_the_store(config_file: Callable[..., Path]) -> None:
    paywall = PaywallMiddleware(article_site, config=config_file(), redis=HangingClient())
    async with client_for(paywall) as reader:
        with anyio.fail_after(1):
            page = await reader.get("/sponsored/one")
        assert page.status_code == 200 and "set-cookie" not in page.headers
