"""The compiled build for `python -m bench.run --compiled`: a mypyc wheel in a temp dir.

The source tree is copied to a temp dir, built there with `PAYWALL_COMPILE=1 pip wheel`
(setup.py; pip's isolated build environment gets mypy and the dependencies), and the
wheel is unpacked into a temp target directory with `pip install --target`. The worker
then runs from another temp dir with that target first on its PYTHONPATH, so `paywall`
is the compiled package and nothing compiled ever lands in the source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".venv",
    "venv",
    "*.so",
)


@dataclass(frozen=True)
class CompiledBuild:
    target: Path  # holds the compiled `paywall` package: first on the worker's PYTHONPATH
    wheel: Path
    seconds: float  # building the wheel, pip's build environment included


def build(root: Path, folder: Path, wheel: Path | None = None) -> CompiledBuild:
    """Build (unless `wheel` is given) and unpack the compiled wheel under `folder`."""
    started = time.monotonic()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    if wheel is None:
        source, wheels = folder / "source", folder / "wheels"
        shutil.copytree(root, source, ignore=_NOT_SOURCE)
        print("bench: building the compiled wheel (PAYWALL_COMPILE=1 pip wheel)", file=sys.stderr)
        subprocess.run(
            [*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(source)],
            check=True,
            env={**os.environ, "PAYWALL_COMPILE": "1"},
        )
        (wheel,) = wheels.glob("paywall-*.whl")
    seconds = time.monotonic() - started
    target = folder / "target"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    return CompiledBuild(target, wheel, seconds)


def worker_paths(root: Path, compiled: CompiledBuild | None) -> tuple[Path, str]:
    """(working directory, PYTHONPATH) for a worker: the source tree, or the compiled build
    first (run from elsewhere, as `python -m` puts its working directory first)."""
    if compiled is None:
        return root, str(root)
    return compiled.target.parent, os.pathsep.join([str(compiled.target), str(root)])


def which_paywall(cwd: Path, pythonpath: str) -> str:
    """The file `paywall.middleware` is loaded from by a worker started like this."""
    found = subprocess.run(
        [sys.executable, "-c", "import paywall.middleware as m; print(m.__file__)"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()
