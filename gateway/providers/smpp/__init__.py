"""SMPP: the link to the SMSC (being written)."""
