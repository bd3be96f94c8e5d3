"""Running experiments are protected: once an experiment has started, its arms, weights,
overrides and start day are fixed. Changing them would mix two designs under one id (the
readers already counted were assigned, and shown, the old arms), so such an edit is
refused: on live reload (config.py: the old config keeps serving, the rejection goes to
the config history) and by `paywall check NEW --against OLD`. Ending it (`ends`), rolling a
winner out (`winner`) and removing it stay allowed; a new design is a new id.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from .assign import Experiments


def changed_while_running(
    before: Experiments, after: Experiments, today: date, path: Path | str
) -> list[str]:
    """One problem per experiment of `after` that had started by `today` in `before` and
    whose arms, weights, overrides or start day differ there."""
    problems = []
    for experiment in after.all:
        old = before.get(experiment.id)
        if old is None or old.starts > today:
            continue
        if old.fingerprint == experiment.fingerprint and old.starts == experiment.starts:
            continue
        what = "start day" if old.fingerprint == experiment.fingerprint else "arms or weights"
        problems.append(
            f"{path}:{experiment.line}: experiments: {experiment.id!r} has been running since"
            f" {old.starts}; its {what} cannot change: end it (set ends) and start a new"
            " experiment with a new id"
        )
    return problems
