"""Real servers for tests: a process on a loopback port, started in its own session,
waited for until it answers, stopped (with everything it started) afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent


def serve(
    command: list[str],
    env: dict[str, str],
    log: Path,
    answers: Callable[[], bool],
    seconds: float = 20.0,
) -> subprocess.Popen[bytes]:
    """Start `command` (its output to `log`) and return once `answers()` is true."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if answers():
                return proc
        except (OSError, httpx.HTTPError):  # not listening yet
            pass
        time.sleep(0.1)
    stop(proc)
    pytest.fail(f"server did not answer within {seconds:.0f}s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a uvicorn supervisor stops its workers), then SIGKILL the whole session."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def delete_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
