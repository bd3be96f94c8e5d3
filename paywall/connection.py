"""Building the Redis client from `store.url` (or the embedded store when there is none)."""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis

logger = logging.getLogger("paywall")


def connect(url: str | None, timeout: float) -> Any:
    """A redis.asyncio client for `url`, or the embedded in-memory store when there is none."""
    if not url:
        import fakeredis

        logger.warning(
            "paywall: no store.url and no redis= client: using the embedded in-memory store;"
            " counts are not shared between processes and are lost on restart"
        )
        return fakeredis.FakeAsyncRedis()
    return aioredis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )
