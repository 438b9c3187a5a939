"""Logout: RP-initiated (the end-session endpoint), back-channel and front-channel."""
