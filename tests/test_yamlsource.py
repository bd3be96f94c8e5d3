"""YAML to plain values: line numbers for every key, ${VAR} interpolation, syntax errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from paywall.yamlsource import ConfigError, read_source


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "paywall.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_values_and_line_of_every_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "publication: Gazette\n"
        "meter:\n"
        "  limit: 3\n"
        "  period: week\n"
        "content:\n"
        "  rules:\n"
        '    - {path: "/a/*", access: free}\n'
        "    - path: /b/*\n"
        "      access: premium\n",
    )
    source = read_source(path)
    assert source.data == {
        "publication": "Gazette",
        "meter": {"limit": 3, "period": "week"},
        "content": {
            "rules": [{"path": "/a/*", "access": "free"}, {"path": "/b/*", "access": "premium"}]
        },
    }
    assert source.lines[("publication",)] == 1
    assert source.lines[("meter", "limit")] == 3
    assert source.lines[("meter", "period")] == 4
    assert source.lines[("content", "rules", 0)] == 7
    assert source.lines[("content", "rules", 0, "access")] == 7
    assert source.lines[("content", "rules", 1, "access")] == 9
    assert source.problems == []


def test_error_names_file_line_and_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, "offers:\n  - id: a\n  - id: b\n    url: x\n")
    source = read_source(path)
    source.error(("offers", 1, "url"), "bad")
    # A key the file does not have falls back to the line of its nearest parent.
    source.error(("offers", 0, "headline"), "is required")
    assert source.problems == [
        f"{path}:4: offers[1].url: bad",
        f"{path}:2: offers[0].headline: is required",
    ]


def test_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    assert read_source(write(tmp_path, "# nothing yet\n")).data == {}


def test_duplicate_key_is_a_problem_naming_its_second_line(tmp_path: Path) -> None:
    path = write(tmp_path, "meter:\n  limit: 3\n  period: month\n  limit: 5\n")
    source = read_source(path)
    assert source.problems == [f"{path}:4: meter.limit: key appears twice"]


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "publication: Gazette\nmeter:\n  limit: [3\n  period: month\n")
    with pytest.raises(ConfigError) as caught:
        read_source(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}:")
    assert "YAML syntax error" in problem
    line = int(problem.split(":")[1])
    assert 3 <= line <= 5


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        read_source(missing)
    assert str(missing) in caught.value.problems[0]


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "publication: !!python/name:os.getcwd ''\n")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        read_source(path)


def test_env_var_interpolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUB", "The Gazette")
    monkeypatch.setenv("HOST", "redis.internal")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    path = write(
        tmp_path,
        "a: ${PUB}\n"
        "b: redis://${HOST}:6379/0\n"
        "c: ${UNSET_VAR:-fallback}\n"
        "d: ${PUB:-fallback}\n"
        "e: ${UNSET_VAR}\n"
        "f: x${UNSET_VAR}y\n",
    )
    assert read_source(path).data == {
        "a": "The Gazette",
        "b": "redis://redis.internal:6379/0",
        "c": "fallback",
        "d": "The Gazette",
        "e": "",
        "f": "xy",
    }


def test_empty_env_var_takes_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMPTY", "")
    assert read_source(write(tmp_path, "a: ${EMPTY:-dflt}\n")).data == {"a": "dflt"}


def test_unquoted_env_var_takes_its_yaml_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMIT", "7")
    monkeypatch.setenv("SECURE", "false")
    monkeypatch.setenv("RATIO", "0.5")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    path = write(
        tmp_path,
        "limit: ${LIMIT}\n"
        "secure: ${SECURE}\n"
        "ratio: ${RATIO}\n"
        "dflt: ${UNSET_VAR:-12}\n"
        'quoted: "${LIMIT}"\n',
    )
    data = read_source(path).data
    assert data["limit"] == 7 and type(data["limit"]) is int
    assert data["secure"] is False
    assert data["ratio"] == 0.5
    assert data["dflt"] == 12
    assert data["quoted"] == "7"  # quoting keeps it text


def test_unquoted_env_var_can_be_a_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFER_ENDS", "2027-06-30")
    assert read_source(write(tmp_path, "ends: ${OFFER_ENDS}\n")).data == {"ends": date(2027, 6, 30)}


@pytest.mark.parametrize("value", ["Save 50%: now: {only}", "@handle", "[draft", "a: b: c", "*x"])
def test_env_value_that_is_not_valid_yaml_stays_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HEADLINE", value)
    assert read_source(write(tmp_path, "headline: ${HEADLINE}\n")).data == {"headline": value}


def test_env_var_is_not_read_from_comments_or_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X", "boom")
    data = read_source(write(tmp_path, "# ${X}\n${X}: 1\n")).data
    assert data == {"${X}": 1}
