"""Presence: who is in a room, in Phoenix Presence shapes (reference §4)."""
