"""Coalescing the meter calls of concurrent requests into pipelined round trips.

While one round trip is in flight, the calls that arrive queue up and leave together in
the next one: under load a busy worker sends a few large pipelines instead of many
small requests, and an idle one still sends each call at once.

Each round trip is bounded by a `RedisBudget` entered just before the pipeline is written:
the budget measures Redis's answer, not the time a call spent queued behind the round trip
before it, nor the time our own event loop was busy elsewhere (see `paywall.deadline`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError

from .deadline import RedisBudget, RedisSilent


class ScriptBatcher:
    """Runs one Lua script for many callers, batching concurrent calls per round trip."""

    def __init__(self, client: Any, script: str, timeout: float) -> None:
        """`timeout` is the store budget (`store.timeout_ms`) of each round trip."""
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
                if batch and isinstance(await self._send(batch), RedisSilent):
                    # Redis stayed silent for a whole budget of on-time loop: the calls that
                    # queued meanwhile would each wait another; they learn it at once.
                    waiting, self._pending = self._pending, []
                    for _, _, future in waiting:
                        if not future.done():
                            future.set_exception(RedisSilent("Redis is not answering"))
        finally:
            self._flushing = False

    async def _send(
        self, batch: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]]
    ) -> BaseException | None:
        """One round trip for `batch`; returns the error that failed all of it, if any."""
        failure: BaseException | None = None
        try:
            # A round trip that outlives its budget is cancelled (its connection dropped),
            # so Redis does not run, long after, calls whose readers were already served
            # as "store down". The clock starts here, as the pipeline is written.
            async with RedisBudget(self.timeout):
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
            failure = exc
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
        return failure

    async def _execute(
        self, batch: list[tuple[Sequence[Any], Sequence[Any], asyncio.Future[Any]]]
    ) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for keys, args, _ in batch:
            # Not pipe.evalsha: redis-py refuses that on a cluster pipeline; this form is
            # routed by key on a cluster and works the same elsewhere.
            pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))
