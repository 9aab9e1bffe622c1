"""Routes of this provider (being built)."""
from aiohttp import web


def setup(app: web.Application) -> None:
    """Add this provider's routes and background work to ``app``."""
