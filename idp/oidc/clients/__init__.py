"""Relying parties: the registry of clients, their secrets and how they authenticate."""
