"""SMS commands from subscribers: the parser (``commands``), the replies (``replies``), running a
command through the billing use cases (``answers``) and the transports' entry point (``inbound``)."""
