"""Reliability suite: SIGKILL at chosen moments and then resume; sixteen migrators at once."""
