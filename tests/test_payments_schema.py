"""`payments.stripe.*` in the YAML: defaults, values read, and every bad value named with
its file, line and key (as `paywall check` prints it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from paywall.config import load_config

from .test_config import check_bad

WriteConfig = Callable[..., Path]


def test_defaults_without_the_section(config_file: WriteConfig) -> None:
    payments = load_config(config_file()).payments
    assert (payments.webhook_secret_env, payments.grace_days) == ("STRIPE_WEBHOOK_SECRET", 3)


def test_values_are_read(config_file: WriteConfig) -> None:
    path = config_file()
    text = path.read_text(encoding="utf-8")
    text += "payments:\n  stripe:\n    webhook_secret_env: BILLING_SECRET\n    grace_days: 0\n"
    payments = load_config(config_file(text)).payments
    assert (payments.webhook_secret_env, payments.grace_days) == ("BILLING_SECRET", 0)


@pytest.mark.parametrize(
    ("extra", "needle", "key", "message"),
    [
        (
            "    grace_days: three\n",
            "grace_days: three",
            "payments.stripe.grace_days",
            "from 0 to 90",
        ),
        ("    grace_days: -1\n", "grace_days: -1", "payments.stripe.grace_days", "from 0 to 90"),
        ("    grace_days: 91\n", "grace_days: 91", "payments.stripe.grace_days", "from 0 to 90"),
        ("    grace_days: true\n", "grace_days: true", "payments.stripe.grace_days", "got True"),
        (
            "    webhook_secret_env: 'whsec_123 abc'\n",
            "whsec",
            "payments.stripe.webhook_secret_env",
            "not an environment variable name",
        ),
        ("    secret: whsec_1\n", "secret:", "payments.stripe.secret", "unknown key"),
    ],
)
def test_bad_values_name_the_key(
    config_file: WriteConfig, extra: str, needle: str, key: str, message: str
) -> None:
    base = config_file().read_text(encoding="utf-8")
    check_bad(config_file, base + "payments:\n  stripe:\n" + extra, needle, key, message)


def test_a_section_that_is_not_a_mapping(config_file: WriteConfig) -> None:
    base = config_file().read_text(encoding="utf-8")
    check_bad(config_file, base + "payments: stripe\n", "payments:", "payments", "mapping")
    text = base + "payments:\n  paypal: {}\n"
    check_bad(config_file, text, "paypal", "payments.paypal", "unknown key; expected one of stripe")
