"""Samples of standing queries: a transformation (simple style) and a windowed aggregation (stream style)."""
