"""The network edge: HTTP/1.1 on asyncio, and the hand-over to WebSocket."""
