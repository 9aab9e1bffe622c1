"""USSD self-service: the menu engine (``engine``), the journey (``menus``), parsers and
texts per language. Pure: the gateway runs the commands the menus ask for."""
