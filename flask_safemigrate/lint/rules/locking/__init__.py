"""Locking and zero-downtime rules (2xx): operations that block reads or writes on a live table."""
