"""`paywall check CONFIG`: exit status and messages, also through `python -m paywall`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from paywall.cli import main
from paywall.config import load_config

WriteConfig = Callable[..., Path]
REPO = Path(__file__).resolve().parent.parent


def bad_config(config_file: WriteConfig) -> tuple[Path, list[str]]:
    """A config with two problems, and the lines they are on."""
    text = config_file().read_text(encoding="utf-8")
    text = text.replace("  limit: 3", "  limit: ten").replace("Asia/Tokyo", "Mars/Olympus")
    lines = text.splitlines()
    limit_line = next(n for n, line in enumerate(lines, 1) if "limit: ten" in line)
    tz_line = next(n for n, line in enumerate(lines, 1) if "Mars/Olympus" in line)
    path = config_file(text)
    return path, [f"{path}:{limit_line}: meter.limit: ", f"{path}:{tz_line}: meter.timezone: "]


def test_check_good_config(config_file: WriteConfig, capsys: pytest.CaptureFixture[str]) -> None:
    path = config_file()
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out
    assert str(path) in out
    assert "3 content rules" in out and "1 offers" in out
    assert err == ""


def test_check_bad_config(config_file: WriteConfig, capsys: pytest.CaptureFixture[str]) -> None:
    path, expected = bad_config(config_file)
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "OK" not in out
    lines = err.splitlines()
    for prefix in expected:
        assert any(line.startswith(prefix) for line in lines), (prefix, err)
    assert "2 problem(s)" in err


def test_check_reports_template_problems(
    config_file: WriteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "meter.html").write_text("<p>\n{{articlesLeft}}</p>", encoding="utf-8")
    text = config_file().read_text(encoding="utf-8") + "templates: prompts\n"
    assert main(["check", str(config_file(text))]) == 1
    err = capsys.readouterr().err
    assert f"{folder / 'meter.html'}:2: unknown placeholder {{{{articlesLeft}}}}" in err


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["check", str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err


def test_check_needs_a_file_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["check"])
    assert caught.value.code == 2
    assert "config" in capsys.readouterr().err


def test_demo_config_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(REPO / "paywall" / "demo" / "demo.yaml")]) == 0
    assert "OK" in capsys.readouterr().out


def test_repo_config_validates(capsys: pytest.CaptureFixture[str]) -> None:
    path = REPO / "config" / "paywall.yaml"
    if not path.exists():
        pytest.skip("config/paywall.yaml is not written yet")
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    assert "OK" in capsys.readouterr().out


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paywall", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        check=False,
    )


def test_python_dash_m_paywall_check(config_file: WriteConfig) -> None:
    good = run_module("check", str(config_file()))
    assert good.returncode == 0, good.stderr
    assert "OK" in good.stdout

    path, expected = bad_config(config_file)
    bad = run_module("check", str(path))
    assert bad.returncode == 1
    for prefix in expected:
        assert prefix in bad.stderr
    assert "OK" not in bad.stdout


# -- entitlements from the shell, against real Redis ----------------------------------


@pytest.fixture
def real_store_config(tmp_path: Path) -> Iterator[Path]:
    import os
    import uuid

    import redis

    url = os.environ.get("PAYWALL_TEST_REDIS_URL")
    if not url:
        pytest.skip("PAYWALL_TEST_REDIS_URL is not set")
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    path = tmp_path / "paywall.yaml"
    path.write_text(
        f"publication: T\nmeter: {{timezone: Asia/Tokyo}}\n"
        f'store: {{url: "{url}", prefix: "{prefix}"}}\n'
    )
    yield path
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


def test_grant_status_revoke_round_trip(
    real_store_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ["--config", str(real_store_config)]
    assert main(["grant", "acct-42", "--plan", "trial", "--until", "2099-03-31", *config]) == 0
    assert capsys.readouterr().out == "acct-42: trial until 2099-03-31 (Asia/Tokyo)\n"
    assert main(["status", "acct-42", *config]) == 0
    assert capsys.readouterr().out.startswith("acct-42: trial ")
    past = ["--plan", "subscription", "--until", "2026-01-31"]
    assert main(["grant", "acct-42", *past, *config]) == 0
    assert capsys.readouterr().out == (
        "acct-42: access_expired (subscription ended 2026-01-31, Asia/Tokyo)\n"
    )
    assert main(["revoke", "acct-42", *config]) == 0
    assert capsys.readouterr().out == "acct-42: none\n"


def test_grant_is_visible_to_the_library(real_store_config: Path) -> None:
    import asyncio
    import os

    import redis.asyncio as aioredis

    from paywall import Entitlements

    main(
        [
            "grant",
            "acct-7",
            "--plan",
            "subscription",
            "--until",
            "2099-01-01",
            "--config",
            str(real_store_config),
        ]
    )
    prefix = load_config(real_store_config).startup.store_prefix

    async def status() -> str:
        client = aioredis.from_url(os.environ["PAYWALL_TEST_REDIS_URL"])
        try:
            return await Entitlements(client, prefix=prefix).status("acct-7")
        finally:
            await client.aclose()

    assert asyncio.run(status()) == "subscription"


def test_entitlement_commands_explain_a_missing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "paywall.yaml"
    path.write_text("publication: T\n")
    assert main(["status", "acct-1", "--config", str(path)]) == 1
    assert "has no store.url" in capsys.readouterr().err


def test_bad_until_date(real_store_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "grant",
                "a",
                "--plan",
                "trial",
                "--until",
                "next week",
                "--config",
                str(real_store_config),
            ]
        )
    assert "expected a date like 2027-03-31" in capsys.readouterr().err


# -- paywall grant --ref and paywall report ---------------------------------------------


def test_grant_with_a_ref_says_whether_it_was_credited(
    real_store_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import date

    from paywall.analytics.refs import Ref, RefSigner

    from .conftest import SECRET

    good = RefSigner([SECRET]).sign(Ref("subscribe", "trial-3m", "news", date(2027, 1, 5)))
    grant = ["grant", "acct-9", "--plan", "trial", "--until", "2099-01-01"]
    config = ["--config", str(real_store_config)]
    assert main([*grant, "--ref", good, *config]) == 0
    assert "conversion credited to offer trial-3m (prompt subscribe, section news" in (
        capsys.readouterr().err
    )
    assert main([*grant, "--ref", good[:-3] + "abc", *config]) == 0
    captured = capsys.readouterr()
    assert "conversion NOT credited" in captured.err and "acct-9: trial until" in captured.out


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_report_prints_the_funnel(
    real_store_config: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    import json
    import os
    from datetime import date

    import redis

    from paywall.analytics.keys import day_key, encode

    prefix = load_config(real_store_config).startup.store_prefix
    client = redis.Redis.from_url(os.environ["PAYWALL_TEST_REDIS_URL"])
    client.hset(
        day_key(prefix, date(2027, 1, 5)),
        mapping={
            encode(("v", "banner", "meter", "anonymous", "news", "anonymous")): 9,
            encode(("v", "walled_limit", "subscribe", "anonymous", "news", "anonymous")): 4,
            encode(("i", "trial-3m", "subscribe", "news")): 4,
            encode(("c", "trial-3m", "subscribe", "news")): 2,
        },
    )
    client.close()
    span = ["--from", "2027-01-05", "--to", "2027-01-06", "--format", fmt]
    assert main(["report", *span, "--config", str(real_store_config)]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        data = json.loads(out)
        assert data["days"][0] == {
            "date": "2027-01-05", "views": 13, "banners": 9, "last_free": 0, "walls": 4,
            "clicks": 2, "conversions": 0,
        }  # fmt: skip
        assert data["days"][1]["views"] == 0
        assert data["offers"] == {"trial-3m": {"impressions": 4, "clicks": 2, "conversions": 0}}
        assert data["experiments"] == {}
        assert data["gifts"] == {"created": 0, "views": 0, "clicks": 0, "conversions": 0}
    elif fmt == "csv":
        assert out.splitlines() == [
            "date,views,banners,last_free,walls,clicks,conversions,gifts_created,gift_views,"
            "gift_clicks,gift_conversions,referral_views",
            "2027-01-05,13,9,0,4,2,0,0,0,0,0,0",
            "2027-01-06,0,0,0,0,0,0,0,0,0,0,0",
        ]
    else:
        assert "2027-01-05" in out and "trial-3m" in out and "50.0%" in out


EXPERIMENT = """
offers:
  - {id: trial-3m, headline: Trial, url: /trial, price: 9}
experiments:
  - id: limit-3-vs-5
    starts: 2027-01-01
    ends: 2027-01-31
    arms:
      - {name: control, weight: 50}
      - {name: five, weight: 50, meter: {limit: 5}}
"""


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_report_of_one_experiment(
    real_store_config: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    import json
    import os
    from datetime import date

    import redis

    from paywall.analytics.keys import day_key, encode

    real_store_config.write_text(real_store_config.read_text() + EXPERIMENT)
    prefix = load_config(real_store_config).startup.store_prefix
    client = redis.Redis.from_url(os.environ["PAYWALL_TEST_REDIS_URL"])
    exp = "limit-3-vs-5"
    client.hset(
        day_key(prefix, date(2027, 1, 2)),
        mapping={
            encode(("ae", exp, "control")): 410, encode(("ae", exp, "five")): 400,
            encode(("av", exp, "control", "walled_limit")): 700,
            encode(("av", exp, "control", "banner")): 1300,
            encode(("av", exp, "five", "banner")): 2000,
            encode(("ac", exp, "control", "trial-3m")): 40,
            encode(("ax", exp, "control", "trial-3m")): 18,
            encode(("ax", exp, "five", "trial-3m")): 30,
        },
    )  # fmt: skip
    client.close()
    args = ["report", "--experiment", exp, "--to", "2027-01-06", "--format", fmt]
    assert main([*args, "--config", str(real_store_config)]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        data = json.loads(out)
        control, five = data["experiments"][exp]["control"], data["experiments"][exp]["five"]
        assert (control["readers"], control["conversions"], control["views"]) == (410, 18, 2000)
        assert (control["walls"], control["clicks"], control["difference"]) == (700, 40, None)
        assert five["rate"] == 30 / 400 and five["difference"] == 30 / 400 - 18 / 410
        assert five["low"] < five["rate"] < five["high"] and 0.05 < five["p_value"] < 0.07
        assert five["revenue_per_1000_views"] == 30 * 9 * 1000 / 2000
        checks = data["experiment_checks"][exp]
        assert checks["start"] == "2027-01-01" and checks["end"] == "2027-01-06"
        assert checks["control"] == "control" and not checks["sample_ratio_mismatch"]
    elif fmt == "csv":
        lines = out.splitlines()
        assert lines[0].startswith("arm,weight,readers,views,walls,clicks,conversions,rate")
        assert lines[1].startswith("control,50,410,2000,700,40,18,")
    else:
        assert "experiment limit-3-vs-5, 2027-01-01 to 2027-01-06; control: control" in out
        assert "+3.11% [" in out and "cannot tell apart from control yet" in out
        main(["report", "--to", "2027-01-06", "--config", str(real_store_config)])
        whole = capsys.readouterr().out  # the whole report lists the arms too
        assert re.search(r"limit-3-vs-5\s+five\s+400\s+30\s+7\.50%", whole), whole


def test_report_of_an_unknown_or_future_experiment(
    real_store_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real_store_config.write_text(real_store_config.read_text() + EXPERIMENT)
    config = ["--config", str(real_store_config)]
    assert main(["report", "--experiment", "nope", *config]) == 1
    assert "no experiment 'nope' (limit-3-vs-5)" in capsys.readouterr().err
    assert main(["report", "--experiment", "limit-3-vs-5", "--to", "2026-12-01", *config]) == 1
    assert "limit-3-vs-5 starts 2027-01-01" in capsys.readouterr().err


def test_report_needs_a_store_and_a_sane_range(
    tmp_path: Path, real_store_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "memory.yaml"
    path.write_text("publication: T\n")
    assert main(["report", "--config", str(path)]) == 1
    assert "has no store.url" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(
            [
                "report",
                "--from",
                "2027-02-01",
                "--to",
                "2027-01-01",
                "--config",
                str(real_store_config),
            ]
        )
    assert "before --from" in capsys.readouterr().err


# -- paywall demo: what it says and what it starts (uvicorn replaced) -----------------


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """What `paywall demo` would run: build_demo's options, uvicorn not started."""
    import uvicorn

    import paywall.demo.app

    calls: list[dict[str, object]] = []
    real = paywall.demo.app.build_demo

    def build(*args: object, **options: object) -> object:
        calls.append(options)
        return real(*args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(paywall.demo.app, "build_demo", build)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    return calls


def test_demo_generates_and_prints_an_admin_token_and_simulates_a_month(
    started: list[dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", "")  # unset (and restored after the test)
    assert main(["demo", "--port", "8123"]) == 0
    err = capsys.readouterr().err
    token = os.environ["PAYWALL_ADMIN_TOKEN"]
    assert len(token) >= 16
    assert f"PAYWALL_ADMIN_TOKEN is not set; generated an admin token for this run: {token}" in err
    assert "dashboard at http://127.0.0.1:8123/paywall/admin/" in err
    assert started[0]["simulate_days"] == 30


def test_demo_keeps_a_token_it_is_given_and_simulates_only_when_asked_on_real_redis(
    started: list[dict[str, object]],
    config_file: WriteConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", "an-admin-token-of-my-own")
    text = config_file().read_text() + "  url: redis://127.0.0.1:1/0\nanalytics: {enabled: true}\n"
    path = config_file(text)
    assert main(["demo", "--config", str(path)]) == 0
    assert main(["demo", "--config", str(path), "--simulate", "7"]) == 0
    err = capsys.readouterr().err
    assert "an-admin-token-of-my-own" not in err and "generated" not in err
    assert [call["simulate_days"] for call in started] == [0, 7]
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", "short")
    assert main(["demo", "--config", str(path)]) == 0
    assert "shorter than 16 characters; the dashboard stays off" in capsys.readouterr().err
