"""SketchyChat: ephemeral chat rooms over the Phoenix Channels protocol."""

__all__ = ["__version__"]

__version__ = "0.1.0"
