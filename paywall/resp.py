"""Our own RESP client for one plain Redis server (`redis://`, `unix://`): the meter's hot path.

Why: redis-py costs 100-180 µs of CPU per metered view here (pool, generic command packing,
response callbacks) for what is one EVALSHA. This client keeps one connection per process,
an asyncio Protocol (no streams), writes the calls made in one loop turn in one
`transport.write`, parses replies with hiredis and resolves the callers' futures in order.

What it guarantees, so that `MeterStore` treats it exactly like redis-py:

- Errors are redis-py's types: an error reply is what redis-py's own table makes of it
  (`NoScriptError`, `OutOfMemoryError`, `ResponseError`…); a refused, reset or closed
  connection is `redis.exceptions.ConnectionError`.
- The store budget is measured on the wire: a `deadline.BudgetClock` times each write from
  the moment it is written. One that runs out closes the connection, so Redis drops what it
  has not run (never runs it long after its reader was served as "store down"), and every
  caller waiting on that connection fails at once with RedisSilent or LoopLagged.
- A caller that gives up still has its reply read, in order, and dropped; a call given up
  before its write is never sent.
- Connections are made on demand (AUTH, SELECT first). After a failed attempt, calls fail
  at once until a backoff has passed: a dead server is never asked in a tight loop. A
  connection the server closed is made again by the next call, at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import hiredis
from redis._parsers import BaseParser
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError, NoScriptError, RedisError

from .deadline import BudgetClock, LoopLagged, RedisBudget

Arg = str | bytes | int | float
# One call waiting to be written: its RESP bytes, its caller's future, and 0 for one
# command (the future gets its reply) or n for n commands (the future gets a list).
_Call = tuple[bytes, asyncio.Future[Any], int]

BACKOFF, MAX_BACKOFF = 0.05, 1.0  # seconds after a failed connect, doubled per failure
_URL_OPTIONS = frozenset({"host", "port", "path", "db", "username", "password", "connection_class"})


def _reply_error(message: str) -> Exception:
    """An error reply as the exception redis-py raises for it (hiredis's replyError)."""
    return cast(Exception, BaseParser.parse_error(message))  # type: ignore[no-untyped-call]


def _bulk(value: Arg) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


def encode(*args: Arg) -> bytes:
    """One command in RESP: an array of bulk strings."""
    return b"*%d\r\n" % len(args) + b"".join(_bulk(arg) for arg in args)


@dataclass(frozen=True)
class Endpoint:
    """Where the server is and how to log in: a TCP host and port, or a unix socket path."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Endpoint | None:
        """A `redis://` or `unix://` URL read as redis-py reads it; None when it asks for
        something only redis-py does (TLS, or any query option but `db` and `password`)."""
        if urlsplit(url).scheme.lower() not in ("redis", "unix"):
            return None
        options: dict[str, Any] = dict(parse_url(url))
        if set(options) - _URL_OPTIONS:
            return None
        options.pop("connection_class", None)
        return cls(**{key: value for key, value in options.items() if value is not None})

    def handshake(self) -> list[tuple[Arg, ...]]:
        """The commands a new connection sends first."""
        hello: list[tuple[Arg, ...]] = []
        if self.password is not None:
            login = (self.username, self.password) if self.username else (self.password,)
            hello.append(("AUTH", *login))
        if self.db:
            hello.append(("SELECT", self.db))
        return hello

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path else f"{self.host}:{self.port}"


def _fail(calls: Iterable[_Call], error: Callable[[], BaseException]) -> None:
    for _, future, _ in calls:
        if not future.done():
            future.set_exception(error())


class RespClient:
    """Pipelined calls to one Redis server over one connection (per event loop).

    `budget` is the store budget (`store.timeout_ms`) of every write. `send` queues raw
    RESP and returns a future of the reply (error replies are exception objects, not
    raised); `execute`, `pipeline` and `script` are the typed ways in.
    """

    def __init__(self, endpoint: Endpoint, budget: float) -> None:
        self.endpoint = endpoint
        self.budget = budget
        self.writes = 0  # transport writes made (each carries every call of one loop turn)
        self.connects = 0  # connection attempts made
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._out: list[_Call] = []
        self._flushing = False
        self._failures = 0
        self._retry_at = 0.0
        self._last_error = ""

    @classmethod
    def from_url(cls, url: str, budget: float) -> RespClient:
        endpoint = Endpoint.from_url(url)
        if endpoint is None:
            raise ValueError(f"not a plain redis:// or unix:// URL: {url.partition('@')[2]!r}")
        return cls(endpoint, budget)

    @property
    def pending(self) -> int:
        """Calls queued for the next write or written and not yet answered."""
        return len(self._out) + (len(self._conn.waiting) if self._conn is not None else 0)

    def script(self, source: str) -> Script:
        return Script(self, source)

    async def execute(self, *args: Arg) -> Any:
        """One command; an error reply is raised."""
        reply = await self.send(encode(*args))
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def pipeline(self, *commands: Sequence[Arg]) -> list[Any]:
        """Several commands in one write; their replies in order, the first error raised
        (as redis-py's `pipeline().execute()` does)."""
        replies: list[Any] = await self.send(
            b"".join(encode(*command) for command in commands), len(commands)
        )
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def send(self, command: bytes, commands: int = 0) -> asyncio.Future[Any]:
        """Queue `command` (RESP bytes) for this loop turn's write; the future gets its reply
        (error replies as exception objects), or with `commands` = n a list of the n
        replies of the n commands it holds."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        future = loop.create_future()
        self._out.append((command, future, commands))
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._flush)
        return future

    async def aclose(self) -> None:
        """Close the connection; calls still waiting fail with ConnectionError. A later
        call connects again."""
        if asyncio.get_running_loop() is not self._loop:  # nothing of this loop to close
            self._bind(asyncio.get_running_loop())
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.shut(lambda: ConnectionError("closed by the paywall"))
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        out, self._out = self._out, []
        _fail(out, lambda: ConnectionError("closed by the paywall"))

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """First use, or use from another event loop (whose connection cannot serve here).
        In a forked child the parent's connection is only forgotten: closing it here would
        reach into the parent's socket and event loop."""
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            conn.shut(lambda: ConnectionError("event loop changed"), abandon=True)
        self._loop, self._connecting, self._pid = loop, None, os.getpid()
        self._out, self._flushing, self._failures, self._retry_at = [], False, 0, 0.0

    def _flush(self) -> None:
        """Write what this loop turn queued, or connect first (not within a backoff)."""
        self._flushing = False
        loop = cast(asyncio.AbstractEventLoop, self._loop)
        if not self._out or self._connecting is not None:
            return
        if self._conn is not None:
            out, self._out = self._out, []
            self._conn.write(out)
        elif (wait := self._retry_at - loop.time()) > 0:  # a recent attempt failed
            out, self._out = self._out, []
            message = f"{self._last_error} (next attempt in {wait * 1000:.0f} ms)"
            _fail(out, lambda: ConnectionError(message))
        else:
            self._connecting = loop.create_task(self._open(loop))

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect and log in within one budget; then write what queued meanwhile."""
        self.connects += 1
        conn = _Connection(self, loop)
        try:
            async with RedisBudget(self.budget):
                await self._dial(loop, conn)
            if conn.closed:  # closed by the server as soon as we were in
                raise ConnectionError(f"Connection to {self.endpoint} closed by server.")
        except Exception as exc:
            conn.shut(lambda: ConnectionError("connection abandoned"))
            self._connecting = None
            if not isinstance(exc, LoopLagged):  # our own lag is no failure of Redis's: no backoff
                self._failures += 1
                backoff = min(MAX_BACKOFF, BACKOFF * 2 ** (self._failures - 1))
                self._retry_at = loop.time() + backoff
                self._last_error = f"{type(exc).__name__}: {exc}"
            error = exc
            if not isinstance(exc, RedisError | TimeoutError):
                error = ConnectionError(f"Error connecting to {self.endpoint}: {exc}")
            out, self._out = self._out, []
            _fail(out, lambda: type(error)(*error.args))
            return
        except BaseException:
            conn.shut(lambda: ConnectionError("connection abandoned"))
            raise
        self._connecting, self._failures, self._conn = None, 0, conn
        self._flush()

    async def _dial(self, loop: asyncio.AbstractEventLoop, conn: _Connection) -> None:
        endpoint = self.endpoint
        try:
            if endpoint.path is not None:
                await loop.create_unix_connection(lambda: conn, endpoint.path)
            else:
                await loop.create_connection(lambda: conn, endpoint.host, endpoint.port)
        except OSError as exc:
            raise ConnectionError(f"Error connecting to {endpoint}: {exc}") from exc
        hello = endpoint.handshake()
        if hello:
            future = loop.create_future()
            conn.write([(b"".join(encode(*c) for c in hello), future, len(hello))], timed=False)
            for reply in await future:
                if isinstance(reply, Exception):
                    raise reply

    def _lost(self, conn: _Connection) -> None:
        """`conn` is closed: calls queued since go out on a new connection."""
        if self._conn is conn:
            self._conn = None
            if self._out and not self._flushing and self._loop is not None:
                self._flushing = True
                self._loop.call_soon(self._flush)


class _Trip(BudgetClock):
    """The budget of one write on one connection: its replies end at reply number `end`."""

    def __init__(self, conn: _Connection, end: int) -> None:
        super().__init__(conn.client.budget)
        self.conn = conn
        self.end = end

    def ran_out(self, loop: asyncio.AbstractEventLoop) -> None:
        # Soon, not now: an answer read in this same loop turn gets to finish the trip first.
        loop.call_soon(self.conn.ran_out, self)


class _Connection(asyncio.Protocol):
    """One connection: writes calls, reads replies in order, fails the waiters when it ends."""

    def __init__(self, client: RespClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=_reply_error)
        self.waiting: deque[tuple[asyncio.Future[Any], int]] = deque()
        self.trips: deque[_Trip] = deque()
        self.group: list[Any] = []  # replies so far of a call of several commands
        self.sent = 0  # replies expected in all
        self.received = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def write(self, calls: list[_Call], timed: bool = True) -> None:
        """Write every call whose caller still waits, in one write, and time it."""
        chunks = []
        waiting = self.waiting
        for command, future, commands in calls:
            if not future.done():  # a caller gone before its call was written
                chunks.append(command)
                waiting.append((future, commands))
                self.sent += commands or 1
        if not chunks:
            return
        cast(asyncio.Transport, self.transport).write(b"".join(chunks))
        self.client.writes += 1
        if timed:
            trip = _Trip(self, self.sent)
            trip.start(self.loop)
            self.trips.append(trip)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        received = self.received
        try:
            while (reply := reader.gets()) is not False:
                future, commands = waiting[0]
                received += 1
                if commands:
                    self.group.append(reply)
                    if len(self.group) < commands:
                        continue
                    reply, self.group = self.group, []
                waiting.popleft()
                if not future.done():  # else its caller gave up: the reply is dropped
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage, or a reply nobody asked for
            self.received = received
            message = f"Protocol error from {self.client.endpoint}: {exc!r}"
            self.shut(lambda: ConnectionError(message))
            return
        self.received = received
        trips = self.trips
        while trips and trips[0].end <= received:
            trips.popleft().stop()

    def connection_lost(self, exc: Exception | None) -> None:
        why = f"Error while reading from {self.client.endpoint}: {exc}" if exc else None
        self.shut(lambda: ConnectionError(why or "Connection closed by server."))

    def ran_out(self, trip: _Trip) -> None:
        """A write's budget ran out before all its replies came: close the connection, so
        Redis never runs what it has not run yet, and fail every waiter with that error."""
        if self.closed or trip.end <= self.received:
            return
        kind, message = trip.expired or LoopLagged, str(trip.error(self.loop))
        self.shut(lambda: kind(message))

    def shut(self, error: Callable[[], BaseException], abandon: bool = False) -> None:
        """Close (once): every waiter fails with `error()`, the client forgets us."""
        if self.closed:
            return
        self.closed = True
        self.client._lost(self)
        for trip in self.trips:
            trip.stop()
        self.trips.clear()
        waiting, self.waiting = self.waiting, deque()
        for future, _ in waiting:
            if not future.done():
                future.set_exception(error())
        if self.transport is not None:
            try:
                self.transport.abort()
            except RuntimeError:  # abandoned: its event loop is closed
                if not abandon:
                    raise


class Script:
    """A Lua script run by EVALSHA: its command head (EVALSHA and the SHA) encoded once; on
    NOSCRIPT (a restart, SCRIPT FLUSH) it is loaded once for every caller that needs it and
    those calls are sent again."""

    def __init__(self, client: RespClient, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._head = _bulk("EVALSHA") + _bulk(self.sha)
        self._load = encode("SCRIPT", "LOAD", source)
        self._loading: asyncio.Future[Any] | None = None

    async def __call__(self, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """The script's reply for `keys` and `args`; an error reply is raised."""
        values = [len(keys), *keys, *args]
        text = "".join([f"${len(v)}\r\n{v}\r\n" for v in map(str, values)])
        if text.isascii() and not any(isinstance(v, bytes) for v in values):  # lengths = bytes
            command = b"*%d\r\n%b%b" % (2 + len(values), self._head, text.encode())
        else:
            command = b"*%d\r\n%b" % (2 + len(values), self._head) + b"".join(map(_bulk, values))
        reply = await self.client.send(command)
        if isinstance(reply, NoScriptError):
            await self._loaded()
            reply = await self.client.send(command)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def _loaded(self) -> None:
        """SCRIPT LOAD, shared by the callers refused together (replies come in order, so a
        NOSCRIPT after a finished load means the script was flushed again)."""
        loading = self._loading
        if loading is None or loading.done() or loading.get_loop() is not self.client._loop:
            self._loading = self.client.send(self._load)
            loading = self._loading
        reply = await asyncio.shield(loading)
        if isinstance(reply, Exception):
            raise reply
