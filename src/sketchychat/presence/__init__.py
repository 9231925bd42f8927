"""Presence: who is in a room, in Phoenix Presence shapes (protocol.md §4)."""
