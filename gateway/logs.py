"""Logging: every line carries the request id of the request it belongs to.

Phone numbers are masked where they are logged (``billing_core.phones.mask``);
secrets are :class:`config.Secret` values that print as stars. A warning or error
that repeats (the same logger and message template) is written at most
:data:`REPEAT_BURST` times per :data:`REPEAT_EVERY_S`; the next one that passes says how many were left out, so a
flood (a failing accept under a connection storm) cannot fill the disk.
"""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
REPEAT_EVERY_S = 10.0
REPEAT_BURST = 10  # lines of one template let through in each REPEAT_EVERY_S
REPEATS_TRACKED_MAX = 1000  # distinct templates remembered; the oldest is forgotten first


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class RepeatFilter(logging.Filter):
    """Lets at most ``burst`` warnings or errors per (logger, template) through every
    ``every_s`` seconds.

    Lines below WARNING always pass (they are the audit trail of payments and
    redemptions, each with its own values). The burst lets a short run of distinct lines
    of one template through (``serve`` naming each provider in protected mode, each key
    not configured); a flood is cut to ``burst`` lines a window. The first line that
    passes after others were held back carries ``(N similar lines suppressed)``; its
    traceback is dropped then, since an earlier one showed it."""

    def __init__(self, every_s: float = REPEAT_EVERY_S, clock=time.monotonic, burst: int = REPEAT_BURST):
        super().__init__()
        self._every_s = every_s
        self._burst = burst
        self._clock = clock
        # key -> [window started at, lines passed in it, suppressed since the last that passed]
        self._seen: dict[tuple[str, object], list] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key, now = (record.name, record.msg), self._clock()
        seen = self._seen.get(key)
        if seen is None:
            if len(self._seen) >= REPEATS_TRACKED_MAX:
                del self._seen[next(iter(self._seen))]
            seen = self._seen[key] = [now, 0, 0]
        if now - seen[0] >= self._every_s:
            seen[0], seen[1] = now, 0
        if seen[1] >= self._burst:
            seen[2] += 1
            return False
        if seen[2]:
            record.msg = f"{record.getMessage()} ({seen[2]} similar lines suppressed)"
            record.args, record.exc_info, record.exc_text = None, None, None
        seen[1], seen[2] = seen[1] + 1, 0
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(RepeatFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
