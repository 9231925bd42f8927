"""Peer servers written for the benchmark (not product code)."""
