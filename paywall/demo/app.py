"""The demo: the sample newspaper behind the paywall, ready for uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.types import ASGIApp

from ..middleware import PaywallMiddleware
from .site import build_site

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


def build_demo(config: str | Path = DEMO_CONFIG, redis: Any = None) -> ASGIApp:
    """The demo site wrapped in the paywall, configured by `config`."""
    return PaywallMiddleware(build_site(), config=config, redis=redis)
