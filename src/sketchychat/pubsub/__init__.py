"""Node-to-node messaging: a small PubSub core and pluggable adapters.

Local fan-out never goes through here (rooms write to their own members);
an adapter only carries envelopes between nodes (phoenix_pubsub's split).
"""
