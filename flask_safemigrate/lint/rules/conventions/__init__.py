"""Convention rules (4xx): names, messages, file names and schema usage."""
