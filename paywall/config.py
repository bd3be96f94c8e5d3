"""The YAML file ops edit: loading it (validation is schema.py's) and reloading it live."""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import replace
from pathlib import Path

from .schema import build
from .settings import Config
from .yamlsource import ConfigError, read_source

logger = logging.getLogger("paywall")

RELOAD_CHECK_SECONDS = 1.0


def load_config(path: str | Path) -> Config:
    """Read and validate `path`; raises ConfigError listing every problem found."""
    source = read_source(Path(path))
    config = build(source)
    if source.problems or config is None:
        raise ConfigError(source.problems)
    return config


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
            config = load_config(self.path)
        except ConfigError as exc:
            logger.error(
                "paywall: config edit rejected, still serving the last good version:\n%s", exc
            )
            return
        if config.startup != self.config.startup:
            logger.warning(
                "paywall: store and cookie.secret_env changes in %s take effect on restart",
                self.path,
            )
            config = replace(config, startup=self.config.startup)
        self.config = config
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
