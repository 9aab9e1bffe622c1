"""Africa's Talking on the app: each of its services adds its own routes here."""
from aiohttp import web

from gateway.providers.africastalking import payments, sms, ussd


def setup(app: web.Application) -> None:
    """Add Africa's Talking's routes (payment notifications, USSD, SMS) to ``app``."""
    payments.setup(app)
    ussd.setup(app)
    sms.setup(app)
