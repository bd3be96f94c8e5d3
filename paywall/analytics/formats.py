"""`paywall report`'s three formats: a table to read, CSV for spreadsheets, JSON for scripts
(the contract's shape, `Report.to_json`)."""

from __future__ import annotations

import csv
import io
import json

from .report import Report

DAY_COLUMNS = ("date", "views", "banners", "last_free", "walls", "clicks", "conversions")
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
    """One row per day; offers and breakdowns are in the JSON and the table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DAY_COLUMNS)
    writer.writerows(_day_rows(report))
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
    return "\n".join(parts)


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
