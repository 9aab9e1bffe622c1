"""Africa's Talking on the app: each of its services adds its own routes here."""
from aiohttp import web

from gateway.providers.africastalking import payments


def setup(app: web.Application) -> None:
    """Add Africa's Talking's routes (payment notifications) to ``app``."""
    payments.setup(app)
