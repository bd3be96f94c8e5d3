"""The YAML file ops edit: loading it (validation is schema.py's) and reloading it live."""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from .analytics.history import ConfigChange, content_hash, short_diff
from .experiments.protect import changed_while_running
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


def load_shared_store_config(path: str | Path, command: str, needs: str) -> Config:
    """`load_config` for the command `paywall COMMAND`, which works on the shared store;
    raises ConfigError when the config has no `store.url` (`needs` says what lives there)."""
    config = load_config(path)
    if not config.startup.store_url:
        raise ConfigError([f"paywall {command}: {path} has no store.url; {needs}"])
    return config


class LiveConfig:
    """The current config, re-read within a second or two of ops editing the file or templates.

    An edit that does not validate is logged once and the last good version keeps serving.
    Each start and reload, accepted or rejected, is also told to `listeners` as a
    `ConfigChange` (its hash, a short diff): the config history and the reload metrics.
    """

    def __init__(
        self, path: str | Path, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.path = Path(path)
        self.clock = clock  # what "today" is for running experiments
        self.config = load_config(self.path)
        files = self._read_files()
        self._stamp = _fingerprint(files)
        self._text = _text_of(files)
        self.hash = content_hash([content for _, content in files])
        self.started = ConfigChange(datetime.now(UTC), "start", self.hash, "", "")
        self.listeners: list[Callable[[ConfigChange], None]] = []
        self._next_check = time.monotonic() + RELOAD_CHECK_SECONDS

    def current(self) -> Config:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + RELOAD_CHECK_SECONDS
            files = self._read_files()
            stamp = _fingerprint(files)
            if stamp != self._stamp:
                self._stamp = stamp
                self._reload(files)
        return self.config

    def _reload(self, files: list[tuple[Path, bytes]]) -> None:
        new_hash, text = content_hash([content for _, content in files]), _text_of(files)
        diff = short_diff(self._text, text, self.path.name)
        try:
            config = load_config(self.path)
            today = self.clock().astimezone(config.timezone).date()
            running = changed_while_running(
                self.config.experiments, config.experiments, today, self.path
            )
            if running:
                raise ConfigError(running)
        except ConfigError as exc:
            logger.error(
                "paywall: config edit rejected, still serving the last good version:\n%s", exc
            )
            now = datetime.now(UTC)
            problems = tuple(exc.problems)
            self._tell(ConfigChange(now, "rejected", new_hash, self.hash, diff, problems))
            return
        if config.startup != self.config.startup:
            logger.warning(
                "paywall: store and cookie.secret_env changes in %s take effect on restart",
                self.path,
            )
            config = replace(config, startup=self.config.startup)
        self.config = config
        logger.info("paywall: reloaded %s", self.path)
        previous, self.hash, self._text = self.hash, new_hash, text
        self._tell(ConfigChange(datetime.now(UTC), "ok", new_hash, previous, diff))

    def _tell(self, change: ConfigChange) -> None:
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:  # a listener's bug must not stop the reload
                logger.exception("paywall: config change listener failed")

    def _read_files(self) -> list[tuple[Path, bytes]]:
        """The file and the templates, as they are now (unreadable ones left out)."""
        paths = [self.path]
        folder = self.config.templates_dir
        if folder is not None and folder.is_dir():
            paths.extend(sorted(folder.iterdir()))
        paths.extend(self.config.experiments.files)  # arms' templates
        found = []
        for path in paths:
            try:
                found.append((path, path.read_bytes()))
            except OSError:
                continue
        return found


def _fingerprint(files: list[tuple[Path, bytes]]) -> tuple[tuple[str, int, int], ...]:
    """Size and content hash of the file and templates: robust to coarse mtimes."""
    return tuple((str(path), len(content), zlib.crc32(content)) for path, content in files)


def _text_of(files: list[tuple[Path, bytes]]) -> str:
    """The config file's text (the first file), for diffs."""
    return files[0][1].decode("utf-8", "replace") if files else ""
