"""The Phoenix Channels wire protocol, sans I/O.

Nothing in this package awaits, reads a clock or touches a socket: decoded
messages go in, frames and commands come out (see ``docs/design.md``).
"""
