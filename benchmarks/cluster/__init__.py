"""Cluster benchmarks: what Redis costs and how a room scales over processes (issue #4)."""
