"""Destructive rules (1xx): operations that lose data or break the running application."""
