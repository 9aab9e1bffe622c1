"""USSD on the gateway: sessions kept server-side, the commands the menus ask for, the
session log, and :class:`~gateway.ussd.service.UssdService` tying them to one hop."""
