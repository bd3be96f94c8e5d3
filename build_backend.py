"""The build backend: setuptools', plus what the optional mypyc build needs to build.

With PAYWALL_COMPILE=1 (see setup.py) the isolated build environment also gets mypy,
which type-checks and compiles the package, and the runtime dependencies and stubs it
type-checks against. Without it this is setuptools.build_meta unchanged.
"""

from __future__ import annotations

import os
import tomllib
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every hook, unchanged)


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    requires: list[str] = _setuptools.get_requires_for_build_wheel(config_settings)
    if os.environ.get("PAYWALL_COMPILE") == "1":
        with open("pyproject.toml", "rb") as file:
            project = tomllib.load(file)["project"]
        requires += ["mypy>=1.10", "types-PyYAML", *project["dependencies"]]
    return requires
