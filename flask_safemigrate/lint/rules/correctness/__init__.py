"""Correctness, reversibility and idempotency rules (3xx)."""
