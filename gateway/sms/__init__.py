"""SMS commands from subscribers (being written)."""
