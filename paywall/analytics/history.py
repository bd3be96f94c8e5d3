"""The config history: each accepted or rejected reload (and each start), with its time,
the file's hash and a short diff, kept in the store for the dashboard.

Every worker notices an edit on its own, within a second or two of the others; the first
to write a change records it and the rest see its mark (`SET NX`, kept a day), so the
history has one line per change, not one per worker.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .keys import history_key, history_seen_key

HISTORY_LENGTH = 200  # entries kept
SEEN_SECONDS = 86400  # how long a change's mark keeps other workers from repeating it
DIFF_LINES = 40  # a diff is cut after this many lines
DIFF_LINE_CHARS = 200

RESULTS = ("start", "ok", "rejected")


@dataclass(frozen=True)
class ConfigChange:
    """One reload as the dashboard lists it."""

    time: datetime
    result: str  # start | ok | rejected
    hash: str  # of the file's bytes (and templates), 12 hex digits
    previous: str  # the hash of the version serving before ("" at start)
    diff: str  # unified diff against the version serving before, cut short
    problems: tuple[str, ...] = ()  # why a rejected edit was rejected

    @property
    def change_id(self) -> str:
        """Same for every worker that sees this change."""
        return f"{self.result}:{self.previous}:{self.hash}"

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["time"] = self.time.astimezone(UTC).isoformat()
        data["problems"] = list(self.problems)
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: bytes | str) -> ConfigChange | None:
        try:
            data = json.loads(raw)
            return cls(
                time=datetime.fromisoformat(data["time"]),
                result=str(data["result"]),
                hash=str(data["hash"]),
                previous=str(data["previous"]),
                diff=str(data["diff"]),
                problems=tuple(str(p) for p in data.get("problems", ())),
            )
        except (ValueError, KeyError, TypeError):
            return None


def content_hash(texts: list[bytes]) -> str:
    """The hash the history and `paywall_config_info` show for a config version."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text).digest())
    return digest.hexdigest()[:12]


def short_diff(before: str, after: str, name: str = "paywall.yaml") -> str:
    """A unified diff of two versions of the file, at most DIFF_LINES lines."""
    lines = list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), f"{name} (before)", name, n=1, lineterm=""
        )
    )
    cut = [line[:DIFF_LINE_CHARS] for line in lines[:DIFF_LINES]]
    if len(lines) > DIFF_LINES:
        cut.append(f"… {len(lines) - DIFF_LINES} more lines")
    return "\n".join(cut)


# KEYS[1] the change's mark, KEYS[2] the history list; ARGV[1] the entry, ARGV[2] mark TTL,
# ARGV[3] entries kept. The first worker to record a change writes it; the others see the mark.
RECORD_LUA = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
  return 1
end
return 0
"""


def record_args(prefix: str, change: ConfigChange) -> tuple[list[str], list[Any]]:
    """The keys and arguments of RECORD_LUA for `change` (both keys share one hash tag)."""
    keys = [history_seen_key(prefix, change.change_id), history_key(prefix)]
    return keys, [change.to_json(), SEEN_SECONDS, HISTORY_LENGTH]


async def read_history(client: Any, prefix: str, count: int = 50) -> tuple[ConfigChange, ...]:
    """The latest `count` changes, newest first (entries this version cannot read skipped)."""
    raw = await client.lrange(history_key(prefix), 0, max(count, 1) - 1)
    found = (ConfigChange.from_json(item) for item in raw)
    return tuple(change for change in found if change is not None)
