"""Validating `endpoints.prefix`, `analytics.*`, `metrics.enabled` and `admin.token_env`
(schema.py calls this with its builder, so problems name the file, line and key)."""

from __future__ import annotations

import re
from typing import Any, Protocol

from ..settings import Analytics
from ..yamlsource import KeyPath

TOP_KEYS = ("endpoints", "analytics", "metrics", "admin")
_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MIN_FLUSH_SECONDS = 0.1


class Builder(Protocol):
    """What this module uses of schema._Builder."""

    def error(self, at: KeyPath, message: str) -> None: ...

    def section(self, value: Any, at: KeyPath, allowed: set[str]) -> dict[str, Any]: ...

    def text(self, where: dict[str, Any], at: KeyPath, default: str | None) -> str: ...

    def integer(self, where: dict[str, Any], at: KeyPath, default: int, low: int = 0) -> int: ...

    def boolean(self, where: dict[str, Any], at: KeyPath, default: bool) -> bool: ...


def analytics_settings(builder: Builder, top: dict[str, Any]) -> Analytics:
    """The validated settings; every problem is recorded through `builder`."""
    default = Analytics()
    endpoints = builder.section(top.get("endpoints", {}), ("endpoints",), {"prefix"})
    analytics = builder.section(
        top.get("analytics", {}),
        ("analytics",),
        {"enabled", "flush_seconds", "retention_days"},
    )
    metrics = builder.section(top.get("metrics", {}), ("metrics",), {"enabled"})
    admin = builder.section(top.get("admin", {}), ("admin",), {"token_env"})
    prefix = builder.text(endpoints, ("endpoints", "prefix"), default.prefix).rstrip("/")
    if not _PREFIX.fullmatch(prefix):
        builder.error(
            ("endpoints", "prefix"),
            f"{prefix!r} must be a path like /paywall (letters, digits, . _ ~ -; no query)",
        )
        prefix = default.prefix
    token_env = builder.text(admin, ("admin", "token_env"), default.admin_token_env)
    if not _ENV_NAME.fullmatch(token_env):
        builder.error(("admin", "token_env"), f"{token_env!r} is not an environment variable name")
    return Analytics(
        enabled=builder.boolean(analytics, ("analytics", "enabled"), default.enabled),
        flush_seconds=_seconds(builder, analytics, default.flush_seconds),
        retention_days=builder.integer(
            analytics, ("analytics", "retention_days"), default.retention_days, low=1
        ),
        metrics=builder.boolean(metrics, ("metrics", "enabled"), default.metrics),
        prefix=prefix,
        admin_token_env=token_env,
    )


def _seconds(builder: Builder, analytics: dict[str, Any], default: float) -> float:
    value = analytics.get("flush_seconds", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < MIN_FLUSH_SECONDS:
        builder.error(
            ("analytics", "flush_seconds"),
            f"expected a number of seconds ≥ {MIN_FLUSH_SECONDS}, got {value!r}",
        )
        return default
    return float(value)
