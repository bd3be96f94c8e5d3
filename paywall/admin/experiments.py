"""The dashboard's Experiments page: for each experiment, its cumulative conversion rate per
arm with the 95 % interval as a band, day by day from its first day, and the table
`paywall report --experiment ID` prints (the same read API, so the same numbers), with the
sample-ratio warning when the split is off its weights."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

from ..analytics.experiments import ArmResult, ExperimentResult
from ..experiments.stats import wilson
from .charts import PALETTE, Chart, chart, day_label, percent
from .pages import Page, figures, number, table

_ARM_COLOURS = (0, 3, 2, 5, 4, 1, 6)  # palette entries far apart first: arms side by side


def conversion_chart(result: ExperimentResult, first: date | None = None) -> Chart:
    """Cumulative conversions per exposed reader, by day, per arm; its Wilson band. Drawn
    from `first` (the page's range) when later than the experiment's first day: each day's
    value still counts from that first day."""
    skip = max((first - result.start).days, 0) if first is not None else 0
    skip = min(skip, max(len(result.days) - 1, 0))
    series = []
    for n, arm in enumerate(result.arms):
        points = result.cumulative.get(arm.name, ())[skip:]
        rates: list[float | None] = []
        lows: list[float | None] = []
        highs: list[float | None] = []
        for readers, conversions in points:
            if not readers:
                rates.append(None)
                lows.append(None)
                highs.append(None)
                continue
            low, high = wilson(min(conversions, readers), readers)
            rates.append(percent(min(conversions, readers) / readers))
            lows.append(percent(low))
            highs.append(percent(high))
        series.append(
            {
                "label": arm.name,
                "values": rates,
                "color": PALETTE[_ARM_COLOURS[n % len(_ARM_COLOURS)]],
                "band": {"low": lows, "high": highs},
            }
        )
    return chart(
        f"experiment-{result.id}",
        f"{result.id}: conversion rate per exposed reader, cumulative (band: 95 % interval)",
        [day_label(day) for day in result.days[skip:]],
        series,
        unit="%",
    )


def experiments_page(results: Sequence[ExperimentResult], first: date | None = None) -> Page:
    """Each experiment's chart (drawn from `first`, the range's start, if later) and table."""
    specs: list[Chart] = []
    parts = []
    for result in results:
        spec = conversion_chart(result, first)
        specs.append(spec)
        parts.append(_experiment(result, spec))
    if not parts:
        parts.append("<p class='lede'>No experiment in the config has started yet.</p>")
    return Page("Experiments", "".join(parts), specs)


def _experiment(result: ExperimentResult, spec: Chart) -> str:
    lede = (
        f"<p class='lede'>{result.start} to {result.end}; control: {escape(result.control)}."
        " Readers are browsers counted the first time they met the arm; the rate is"
        " conversions per exposed reader, counted from the first day (the chart may start"
        " later: the range's).</p>"
    )
    warning = ""
    if result.mismatch:
        warning = (
            f"<p class='notice' data-warning='sample-ratio'>Sample-ratio mismatch (p ="
            f" {result.sample_ratio_p:.2g}): the readers exposed are off the weights. The split"
            " itself is broken (a bug, a redirect, bots), so the comparison cannot be"
            " trusted.</p>"
        )
    head = ["Arm", "Weight", "Readers", "Views", "Walls", "Offer clicks", "Conversions",
            "Rate (95 % interval)", "Against control (95 % interval)", "p-value",
            "Revenue per 1,000 views", "Verdict"]  # fmt: skip
    rows = (_row(arm) for arm in result.arms)
    caption = f"Arms of {result.id}"
    return (
        f"<h2 id='{escape(result.id)}'>{escape(result.id)}</h2>"
        + lede
        + warning
        + figures([spec])
        + table(caption, head, rows)
    )


def _row(arm: ArmResult) -> list[str]:
    return [
        escape(arm.name),
        number(arm.weight),
        number(arm.readers),
        number(arm.views),
        number(arm.walls),
        number(arm.clicks),
        number(arm.conversions),
        f"{_pct(arm.rate)} ({_pct(arm.low)} to {_pct(arm.high)})",
        _against(arm),
        "—" if arm.p_value is None else f"{arm.p_value:.3g}",
        "—" if arm.revenue_per_mille is None else f"{arm.revenue_per_mille:,.2f}",
        escape(arm.verdict),
    ]


def _against(arm: ArmResult) -> str:
    if arm.difference is None or arm.difference_low is None or arm.difference_high is None:
        return "—"
    return (
        f"{_pct(arm.difference, True)} ({_pct(arm.difference_low, True)} to"
        f" {_pct(arm.difference_high, True)})"
    )


def _pct(share: float, signed: bool = False) -> str:
    return f"{share * 100:+.2f} %" if signed else f"{share * 100:.2f} %"
