"""Rooms: short codes, the per-room actor, and the registry of live rooms."""
