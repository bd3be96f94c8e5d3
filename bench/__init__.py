"""Benchmark harness: the same article page bare and behind the paywall, side by side."""
