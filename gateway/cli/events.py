"""CLI verbs: events (being built)."""


def register(verbs, common) -> None:
    """Add this group of verbs to the parser."""
