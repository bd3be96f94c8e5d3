"""The ops dashboard under `{prefix}/admin/`: the funnel, sections and prompts, offers,
meter usage and the what-if curve, store health and config history, drawn in the browser
with the vendored uPlot from the analytics read API. Off unless an admin token is set."""

from .dashboard import AdminDashboard

__all__ = ["AdminDashboard"]
