"""A throwaway `redis-server` on a free loopback port, for fault-injection tests.

Each server lives in its own temp dir with an append-only file fsynced on every write,
so a count Redis acknowledged survives `stop()`/`kill()` plus `start()`. The process is
always killed and the dir removed: by `close()`, by the fixture, or at interpreter exit.

    from .redis_server import redis_server  # noqa: F401   (the fixture)
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

BINARY = "redis-server"


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


class RedisServer:
    """One redis-server process on 127.0.0.1; `stop()`/`start()` keep its port and data."""

    def __init__(self, binary: str = BINARY, *extra_args: str) -> None:
        path = shutil.which(binary)
        if path is None:
            raise FileNotFoundError(f"{binary} is not installed")
        self.binary = path
        self.extra_args = extra_args
        self.dir = Path(tempfile.mkdtemp(prefix="paywall-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._finalizer = weakref.finalize(self, _cleanup, self.dir, [])

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sync_client(self, **kwargs: Any) -> redis.Redis:
        """A plain sync client on this server (no retries: a fault shows at once)."""
        options: dict[str, Any] = {"socket_timeout": 5, "retry": Retry(NoBackoff(), 0)}
        return redis.Redis(host="127.0.0.1", port=self.port, **{**options, **kwargs})

    def start(self, timeout: float = 10.0) -> None:
        """Start (or start again, same port and dir) and wait until it answers PING."""
        if self.running:
            return
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--daemonize", "no",
            "--logfile", str(self.dir / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, self.dir, [self.process])
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server on port {self.port} exited:\n{log}")
            try:
                with self.sync_client(socket_timeout=0.5, socket_connect_timeout=0.5) as c:
                    if c.ping():
                        return
            except redis.RedisError:  # refused, or still LOADING the append-only file
                pass
            if time.monotonic() > deadline:
                _kill(self.process)
                raise TimeoutError(f"redis-server on port {self.port} did not answer")
            time.sleep(0.02)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: Redis fsyncs the append-only file and exits)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill(self.process)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown at all (acknowledged writes are already on disk)."""
        if self.process is not None:
            _kill(self.process)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self, ms: int) -> None:
        """CLIENT PAUSE every client for `ms` (returns at once; the pause runs server-side)."""
        with self.sync_client() as client:
            client.client_pause(ms)

    def close(self) -> None:
        """Kill the process and remove its dir."""
        self.kill()
        self._finalizer()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cleanup(directory: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        _kill(process)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server of this test's own; skipped when the binary is missing."""
    if shutil.which(BINARY) is None:
        pytest.skip(f"{BINARY} is not installed")
    with RedisServer() as server:
        yield server
