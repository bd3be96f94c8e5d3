"""Lua scripts run inside Redis; each is one atomic round trip."""
