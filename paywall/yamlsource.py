"""YAML to plain Python values, remembering the line of every key for error messages."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """Config or template problems, one line each, naming file and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Source:
    """A parsed YAML file plus where each key came from."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def error(self, at: KeyPath, message: str) -> None:
        line = self.line_of(at)
        dotted = ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in at).replace(".[", "[")
        self.problems.append(f"{self.path}:{line}: {dotted or '(top)'}: {message}")

    def line_of(self, at: KeyPath) -> int:
        while at and at not in self.lines:
            at = at[:-1]
        return self.lines.get(at, 1)


def read_source(path: Path) -> Source:
    """Parse `path`; syntax errors become a ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config: {exc}"]) from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        source = Source(path, None)
        source.data = {} if node is None else _plain(loader, node, (), source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}:{line}: YAML syntax error: {problem}"]) from exc
    finally:
        loader.dispose()
    return source


def _plain(loader: yaml.SafeLoader, node: yaml.Node, at: KeyPath, source: Source) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node))
            path = (*at, key)
            source.lines[path] = key_node.start_mark.line + 1
            if key in result:
                source.error(path, "key appears twice")
            result[key] = _plain(loader, value_node, path, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            source.lines[(*at, index)] = item.start_mark.line + 1
            items.append(_plain(loader, item, (*at, index), source))
        return items
    value = loader.construct_object(node)
    if isinstance(value, str) and "${" in value:
        expanded = _interpolate(value)
        if isinstance(node, yaml.ScalarNode) and node.style is None:
            # An unquoted ${VAR} takes the type its value would have in YAML: 10, true, a date;
            # a value that is not valid YAML on its own (e.g. "a: b: c") simply stays text.
            try:
                typed = yaml.safe_load(expanded) if expanded.strip() else None
            except yaml.YAMLError:
                typed = None
            if isinstance(typed, bool | int | float | date):
                return typed
        return expanded
    return value


def _interpolate(value: str) -> str:
    """Replace ${VAR} and ${VAR:-default} from the environment; unset without default is ''."""

    def substitute(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if found is None or found == "":
            return match.group(2) or ""
        return found

    return _ENV_VAR.sub(substitute, value)
