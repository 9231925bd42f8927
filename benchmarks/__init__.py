"""Side-by-side benchmark harness: SketchyChat against the servers a user would pick instead.

``python -m benchmarks --help`` runs it; ``docs/benchmarks.md`` explains the method.
"""
