"""`paywall preview-url`: prints a link that the middleware shows in the asked state, and
says what is wrong (exit 1) for a free path, an unknown arm or a missing admin token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paywall.cli import main
from paywall.config import load_config
from paywall.sharing.previews import preview_token, previewed

ADMIN_TOKEN = "an-admin-token-for-the-cli"


@pytest.fixture
def config(config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", ADMIN_TOKEN)
    return config_file()


def test_prints_a_link_that_shows_the_state(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "preview-url",
            "/premium/story",
            "--as",
            "trial-expired",
            "--config",
            str(config),
            "--base",
            "https://news.example/",
            "--minutes",
            "30",
        ]
    )
    url = capsys.readouterr().out.strip()
    assert code == 0 and url.startswith("https://news.example/premium/story?paywall_preview=")
    token = preview_token(url.split("?", 1)[1].encode())
    assert token is not None
    now = datetime.now(UTC)
    decision = previewed(load_config(config), token, "/premium/story", "", "premium", now)
    assert decision is not None and decision.prompt == "trial-expired"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/sponsored/x", "--as", "subscribe"], "free to read"),
        (["/articles/x", "--as", "subscribe", "--arm", "nope=a"], "no experiment 'nope'"),
        (["/articles/x", "--as", "gifted"], "gifts"),
    ],
)
def test_problems_are_named(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["preview-url", *args, "--config", str(config)]) == 1
    assert message in capsys.readouterr().err


def test_without_the_admin_token_it_says_which_variable(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYWALL_ADMIN_TOKEN")
    assert main(["preview-url", "/articles/x", "--as", "meter", "--config", str(config)]) == 1
    assert "PAYWALL_ADMIN_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["/articles/x", "--as", "teaser"],
        ["/articles/x", "--as", "meter", "--arm", "no-equals"],
        ["/articles/x", "--as", "meter", "--minutes", "0"],
    ],
)
def test_bad_arguments_are_usage_errors(config: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["preview-url", *args, "--config", str(config)])
    assert exit_.value.code == 2
