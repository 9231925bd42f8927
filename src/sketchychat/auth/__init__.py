"""Identity: signed, expiring session tokens (pure; the caller passes ``now``)."""
