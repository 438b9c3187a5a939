"""Authlib endpoint classes the authorization server registers (no Flask views here)."""
