"""SMPP 3.4: the gateway bound to an SMSC as a transceiver (python-smpplib).

- ``session``: the thread that owns the connection (bind, pacing, keep-alive, reconnect);
- ``link``: the asyncio side of it, one per process (``submit``, outcomes, ``deliver_sm``);
- ``inbound``: delivery receipts to ``sms_messages``, texts to the SMS commands;
- ``coding`` / ``receipts``: pure wire helpers (GSM 7-bit/UCS2 parts, receipt parsing);
- ``lifecycle``: the link over the life of the app.
"""
