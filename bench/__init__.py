"""Benchmarks that print figures; run as scripts, never as timed tests."""
