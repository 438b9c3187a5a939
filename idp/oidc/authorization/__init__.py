"""The authorization request: validation, consent, and how the answer goes back (response modes)."""
