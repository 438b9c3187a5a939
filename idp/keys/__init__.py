"""Signing keys: generation, rotation, retirement and the published JWKS."""
