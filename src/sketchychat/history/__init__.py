"""What a room remembers: its retention, message positions, and the stores that keep them.

Pure (no I/O, no clock): :mod:`retention` (what a room keeps, chosen at creation),
:mod:`position` (where a client is in a room's stream), :mod:`sequencer` (delivery in
position order), :mod:`window` (a bounded run of recent messages). The stores — memory,
Redis, SQLite, PostgreSQL — sit behind :mod:`base`'s small interface, and rooms use them
without knowing which.
"""
