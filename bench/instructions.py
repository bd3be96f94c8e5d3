"""Instructions a paywalled worker executes per request, counted by valgrind's callgrind.

A count of instructions does not move with the machine's speed: the same worker, config and
requests give the same count within about 0.25 %, however loaded or throttled the machine is,
where its CPU time per request moves by 10 to 30 % from one run to the next on the project's
shared 2-core VM. It is not time (a cache miss costs more than an add), but for the same
Python doing a little more work it is the steadiest measure there is, and a change of a
fraction of a percent shows.

Each config gets its own uvicorn worker (uvloop, httptools) under `valgrind --tool=callgrind`
on one redis-server, with `PYTHONHASHSEED=0`; after a warm-up the counts are zeroed
(`callgrind_control -z`), `views` new readers read random articles, 32 at a time, and the
counts are taken (`-d`); then the worker is stopped (SIGINT), and what its shutdown ran,
including analytics' last flush, is counted apart. Analytics' periodic flush is set past the
run (`BENCH_FLUSH_SECONDS`): under valgrind a worker serves about a fiftieth of its normal
requests per second, so a flush every 5 s would weigh fifty times what it weighs in use.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .run import SECRET, free_port, uvicorn_command

HERE = Path(__file__).resolve().parent
_TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)


@dataclass(frozen=True)
class Counted:
    """Instructions per request while serving, and those of the worker's shutdown."""

    per_request: float
    shutdown: int


def available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def count(config: Path, redis_url: str, views: int = 2000, warm_up: int = 300) -> Counted:
    """Run one worker on `config` under callgrind and count what `views` views cost."""
    with tempfile.TemporaryDirectory(prefix="paywall-callgrind-") as name:
        folder = Path(name)
        with _worker(config, redis_url, folder) as (base, pid):
            _views(base, warm_up)
            _control("-z", pid)
            _views(base, views)
            _control("-d", pid)  # callgrind.out.PID.1: the views
        # callgrind.out.PID, written at exit: what ran after the views, the shutdown's
        return Counted(
            _total(folder / f"callgrind.out.{pid}.1") / views,
            _total(folder / f"callgrind.out.{pid}"),
        )


@contextmanager
def _worker(config: Path, redis_url: str, folder: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "PAYWALL_SECRET_KEYS": SECRET,
        "BENCH_REDIS_URL": redis_url,
        "BENCH_CONFIG": str(config),
        "BENCH_FLUSH_SECONDS": "3600",
        "PYTHONPATH": str(HERE.parent),
        "PYTHONHASHSEED": "0",
    }
    callgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/callgrind.out.%p"]
    command = [*callgrind, *uvicorn_command("paywalled", port)]
    process = subprocess.Popen(command, cwd=HERE.parent, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base, process)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait(base: str, process: subprocess.Popen[bytes], seconds: float = 180.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/free/0", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the worker under valgrind did not answer within {seconds:.0f} s")


def _views(base: str, views: int) -> None:
    def view(_: int) -> None:
        path = f"/articles/{random.randrange(10**9)}"
        with urllib.request.urlopen(base + path, timeout=60) as answer:
            answer.read()

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(view, range(views)))


def _control(option: str, pid: int) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def _total(path: Path) -> int:
    found = _TOTALS.search(path.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"{path}: no instruction total in callgrind's output")
    return int(found.group(1))
