"""The YAML file ops edit: loading it (see schema.py) and reloading it live."""

from __future__ import annotations

import logging
import time
import zlib
from pathlib import Path

from .schema import load_config
from .settings import ACCESS_LEVELS, AUDIENCES, Access, Config, Offer, Rule, human_date
from .yamlsource import ConfigError

__all__ = [
    "ACCESS_LEVELS",
    "AUDIENCES",
    "RELOAD_CHECK_SECONDS",
    "Access",
    "Config",
    "ConfigError",
    "LiveConfig",
    "Offer",
    "Rule",
    "human_date",
    "load_config",
]

logger = logging.getLogger("paywall")

RELOAD_CHECK_SECONDS = 1.0


class LiveConfig:
    """The current config, re-read within a second or two of ops editing the file or templates.

    An edit that does not validate is logged once and the last good version keeps serving.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = load_config(self.path)
        self._stamp = self._fingerprint()
        self._next_check = time.monotonic() + RELOAD_CHECK_SECONDS

    def current(self) -> Config:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + RELOAD_CHECK_SECONDS
            stamp = self._fingerprint()
            if stamp != self._stamp:
                self._stamp = stamp
                self._reload()
        return self.config

    def _reload(self) -> None:
        try:
            self.config = load_config(self.path)
        except ConfigError as exc:
            logger.error(
                "paywall: config edit rejected, still serving the last good version:\n%s", exc
            )
        else:
            logger.info("paywall: reloaded %s", self.path)

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """Size and content hash of the file and templates: robust to coarse mtimes."""
        files = [self.path]
        folder = self.config.templates_dir
        if folder is not None and folder.is_dir():
            files.extend(sorted(folder.iterdir()))
        stamps = []
        for file in files:
            try:
                content = file.read_bytes()
            except OSError:
                continue
            stamps.append((str(file), len(content), zlib.crc32(content)))
        return tuple(stamps)
