"""The wheel holds every package of the source tree: an editable install finds a package
missing from pyproject's list, an installed wheel does not (the compiled build found one)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    inits = REPO.glob("paywall/**/__init__.py")
    found = {".".join(init.parent.relative_to(REPO).parts) for init in inits}
    assert found - listed == set()
    assert set(setuptools["package-dir"]) <= listed
