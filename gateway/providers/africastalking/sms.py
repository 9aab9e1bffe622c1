"""(being written)"""
from aiohttp import web


def setup(app: web.Application) -> None:
    return None
