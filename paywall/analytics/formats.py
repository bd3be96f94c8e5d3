"""`paywall report`'s three formats: a table to read, CSV for spreadsheets, JSON for scripts
(the contract's shape, `Report.to_json`). Gifts and referral reads: JSON's `gifts` and
`referrals`, CSV's last columns (per day), the table's last lines (when any)."""

from __future__ import annotations

import csv
import io
import json

from .experiments import ExperimentResult
from .report import Report

DAY_COLUMNS = ("date", "views", "banners", "last_free", "walls", "clicks", "conversions")
# CSV only, after DAY_COLUMNS: (column, DayFunnel attribute)
SHARING_COLUMNS = (
    ("gifts_created", "gifts_created"),
    ("gift_views", "gift_views"),
    ("gift_clicks", "gift_clicks"),
    ("gift_conversions", "gift_conversions"),
    ("referral_views", "referral_views"),
)
FORMATS = ("table", "csv", "json")


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2)
    if fmt == "csv":
        return _csv(report)
    if fmt == "table":
        return _table(report)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def _day_rows(report: Report) -> list[list[str]]:
    return [[str(day[column]) for column in DAY_COLUMNS] for day in report.to_json()["days"]]


def _csv(report: Report) -> str:
    """One row per day, the gift and referral counts last (new columns go at the end, so
    scripts reading the first ones by position keep working); offers and breakdowns are in
    the JSON and the table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*DAY_COLUMNS, *(name for name, _ in SHARING_COLUMNS)])
    for row, day in zip(_day_rows(report), report.days, strict=True):
        writer.writerow([*row, *(str(getattr(day, attr)) for _, attr in SHARING_COLUMNS)])
    return out.getvalue()


def _table(report: Report) -> str:
    total = report.total
    totals = ["total", *(str(getattr(total, c)) for c in DAY_COLUMNS[1:])]
    parts = [_grid(list(DAY_COLUMNS), [*_day_rows(report), totals])]
    if report.offers:
        rows = [
            [o.offer, str(o.impressions), str(o.clicks), f"{o.click_rate:.1%}", str(o.conversions)]
            for o in report.offers
        ]
        parts.append(_grid(["offer", "impressions", "clicks", "click rate", "conversions"], rows))
    if report.sections:
        rows = [
            [s.name, str(s.views), str(s.walls), f"{s.wall_rate:.1%}", str(s.conversions)]
            for s in report.sections
        ]
        parts.append(_grid(["section", "views", "walls", "wall rate", "conversions"], rows))
    if report.experiments:  # each in full: paywall report --experiment ID
        rows = [
            [e.id, a.name, str(a.readers), str(a.conversions), f"{a.rate:.2%}", a.verdict]
            for e in report.experiments
            for a in e.arms
        ]
        parts.append(_grid(["experiment", "arm", "readers", "conversions", "rate", ""], rows))
    sharing = [str(getattr(total, attr)) for _, attr in SHARING_COLUMNS]
    if any(n != "0" for n in sharing):
        head = ["shared", "gift links made", "gift reads", "gift clicks", "gift conversions",
                "referral reads"]  # fmt: skip
        parts.append(_grid(head, [["total", *sharing]]))
    return "\n".join(parts)


ARM_COLUMNS = ("arm", "weight", "readers", "views", "walls", "clicks", "conversions", "rate",
               "low", "high", "difference", "difference_low", "difference_high", "p_value",
               "revenue_per_1000_views")  # fmt: skip


def render_experiment(result: ExperimentResult, fmt: str) -> str:
    """`paywall report --experiment ID`: the arms, the comparison with control, the checks."""
    if fmt == "json":
        arms = {arm.name: arm.to_json() for arm in result.arms}
        data = {"experiments": {result.id: arms}, "experiment_checks": {result.id: result.checks()}}
        return json.dumps(data, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(ARM_COLUMNS)
        for arm in result.arms:
            values = arm.to_json()
            writer.writerow(
                [arm.name, *("" if values[c] is None else values[c] for c in ARM_COLUMNS[1:])]
            )
        return out.getvalue()
    if fmt != "table":
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return _experiment_table(result)


def _experiment_table(result: ExperimentResult) -> str:
    lines = [f"experiment {result.id}, {result.start} to {result.end}; control: {result.control}"]
    if result.mismatch:
        lines.append(
            f"WARNING: sample-ratio mismatch (p = {result.sample_ratio_p:.2g}): the readers"
            " exposed are off the weights; the split is broken, so do not trust the comparison"
        )
    rows = [
        [
            arm.name, str(arm.weight), str(arm.readers), str(arm.views), str(arm.walls),
            str(arm.clicks), str(arm.conversions),
            f"{arm.rate:.2%} [{arm.low:.2%}, {arm.high:.2%}]",
            _difference(arm.difference, arm.difference_low, arm.difference_high),
            "" if arm.p_value is None else f"{arm.p_value:.3g}",
            "" if arm.revenue_per_mille is None else f"{arm.revenue_per_mille:.2f}",
            arm.verdict,
        ]
        for arm in result.arms
    ]  # fmt: skip
    head = ["arm", "weight", "readers", "views", "walls", "clicks", "conversions",
            "rate [95% CI]", "vs control [95% CI]", "p", "revenue/1000 views",
            "verdict"]  # fmt: skip
    return "\n".join(lines) + "\n" + _grid(head, rows)


def _difference(value: float | None, low: float | None, high: float | None) -> str:
    if value is None or low is None or high is None:
        return ""
    return f"{value:+.2%} [{low:+.2%}, {high:+.2%}]"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
