"""Load generators: wrk when installed, else a small asyncio HTTP/1.1 client."""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass

_WRK_SCRIPT = """
local counter = 0
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
request = function()
  counter = counter + 1
  local path = string.gsub(wrk.path, "{n}", tostring(math.random(1, 1000000000)))
  return wrk.format("GET", path)
end
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class LoadResult:
    requests: int
    rps: float
    p50: float  # milliseconds
    p99: float
    errors: int  # non-2xx responses and socket errors


def wrk_load(
    base: str, path: str, headers: dict[str, str], seconds: float, connections: int
) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT)
    try:
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(seconds, 1):.0f}s",
            "--latency",
            "-s",
            script.name,
        ]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        output = subprocess.run(
            [*command, base + path], capture_output=True, text=True, check=True
        ).stdout
    finally:
        os.unlink(script.name)
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: .*?(\d+)"):
        found = re.search(pattern, output)
        errors += int(found.group(1)) if found else 0
    return LoadResult(requests, rps, _percentile(output, "50"), _percentile(output, "99"), errors)


def _percentile(output: str, which: str) -> float:
    found = re.search(rf"^\s+{which}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")


async def python_load(
    base: str, path: str, headers: dict[str, str], seconds: float, connections: int
) -> LoadResult:
    """Keep-alive GETs from `connections` sockets for `seconds`; slower than wrk, so the
    ratio it reports understates both servers alike."""
    host, port = base.removeprefix("http://").split(":")
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < deadline:
                target = path.replace("{n}", str(random.randint(1, 1_000_000_000)))
                started = time.perf_counter()
                writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - started) * 1000)
                if not status_line.startswith(b"HTTP/1.1 2"):
                    errors += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()

    def pick(q: float) -> float:
        return latencies[min(int(len(latencies) * q), len(latencies) - 1)] if latencies else 0.0

    return LoadResult(len(latencies), len(latencies) / elapsed, pick(0.5), pick(0.99), errors)
