"""The asyncio runtime: connections, their outboxes, and write coalescing."""
