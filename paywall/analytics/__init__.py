"""The paywall measuring itself: counts of every view's decision, offer clicks and
conversions, meter usage, kept as per-day aggregates in the store (no reader ids), and
read back through `AnalyticsReader` (see docs/analytics.md)."""

from .history import ConfigChange
from .report import AnalyticsReader, DayFunnel, Funnel, OfferStats, Report, Slice, StoreDay
from .usage import MeterUsage, WhatIf, what_if

__all__ = [
    "AnalyticsReader",
    "ConfigChange",
    "DayFunnel",
    "Funnel",
    "MeterUsage",
    "OfferStats",
    "Report",
    "Slice",
    "StoreDay",
    "WhatIf",
    "what_if",
]
