"""Instrument-file readers (placeholder until the readers land)."""
