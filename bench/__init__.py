"""Benchmarks (scripts, not tests): import, remap, and the one-command report."""
