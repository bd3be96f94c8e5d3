"""Coalescing the meter calls of concurrent requests into pipelined round trips.

While one round trip is in flight, the calls that arrive queue up and leave together in
the next one: under load a busy worker sends a few large pipelines instead of many
small requests, and an idle one still sends each call at once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError


class ScriptBatcher:
    """Runs one Lua script for many callers, batching concurrent calls per round trip."""

    def __init__(self, client: Any, script: str, timeout: float) -> None:
        self.client = client
        self.timeout = timeout
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()
        self._pending: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None  # kept: the loop holds tasks weakly

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((keys, args, future))
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                batch = [call for call in batch if not call[2].done()]  # callers gone
                if batch:
                    await self._send(batch)
        finally:
            self._flushing = False

    async def _send(
        self, batch: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]]
    ) -> None:
        try:
            # Bounded like its callers: a round trip that outlives the store timeout is
            # cancelled (its connection dropped), so Redis does not run, long after, calls
            # whose readers were already served as "store down".
            async with asyncio.timeout(self.timeout):
                results = await self._execute(batch)
                missing = [
                    n for n, result in enumerate(results) if isinstance(result, NoScriptError)
                ]
                if missing:  # Redis restarted or its scripts were flushed: load, run those again
                    await self.client.script_load(self.script)
                    again = await self._execute([batch[n] for n in missing])
                    for n, result in zip(missing, again, strict=True):
                        results[n] = result
        except Exception as exc:  # the whole round trip failed: every caller learns why
            results = [exc] * len(batch)
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            raise
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _execute(
        self, batch: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]]
    ) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for keys, args, _ in batch:
            # Not pipe.evalsha: redis-py refuses that on a cluster pipeline; this form is
            # routed by key on a cluster and works the same elsewhere.
            pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))
