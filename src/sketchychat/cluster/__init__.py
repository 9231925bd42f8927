"""Many processes, one server: node liveness, the shared room directory, worker processes.

Only used with a Redis URL; a lone in-memory node never imports this package's
Redis parts. See ``docs/cluster.md`` for the design and its measurements.
"""
