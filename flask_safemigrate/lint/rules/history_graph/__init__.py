"""History-graph rules (5xx): problems of the revision graph as a whole."""
