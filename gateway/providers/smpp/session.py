"""The thread that owns the SMPP connection: bind, pace, keep alive, reconnect.

python-smpplib is a blocking client and not thread-safe, so exactly one thread
(this one) touches its socket: every read, every write, every keep-alive. The
asyncio side talks to it only through :meth:`Session.submit`, :meth:`Session.ack`
and :meth:`Session.stop` (thread-safe: a locked deque and a wake-up socket), and
hears from it through the ``report`` callable it gives (called on this thread with
one :class:`Report`; the caller hands it over to its event loop).

What it guarantees:

- Bound as a transceiver; an ``enquire_link`` after ``enquire_link_s`` of silence,
  and the link is dropped when it (or any ``submit_sm``) is not answered within
  ``timeout_s``. Every ``enquire_link`` from the SMSC is answered at once; every
  ``deliver_sm`` is reported and answered with the status the asyncio side gives
  (:meth:`ack`), on the connection it came on (after a reconnect the SMSC sends it
  again).
- At most ``window`` ``submit_sm`` await their response; they leave at
  ``rate_per_s``, evenly spaced (at most one message of catch-up after a late
  wake-up), so the long-run rate is the configured one.
- ``ESME_RTHROTTLED`` / ``ESME_RMSGQFUL``: sending pauses (0.2 s, doubling to 5 s
  while the SMSC keeps refusing), the rate is halved (recovering by one message/s
  each second) and the refused messages go out again first, in their order.
- A dropped connection, an ``unbind`` from the SMSC or a refused bind: reconnect
  after a backoff (``backoff_first_s`` doubling to ``backoff_max_s``; back to the
  first after a bind that held for a minute). Messages waiting or awaiting a
  response are kept and sent again after the re-bind (a message the SMSC took but
  whose response was lost may so go out twice: SMPP has no way to tell), unless
  their sender has given up on them (``Submission.cancelled``).
"""
from __future__ import annotations

import collections
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from smpplib import client as smpp_client
from smpplib import consts, exceptions, smpp

log = logging.getLogger("tvtopup.smpp")

THROTTLED = (consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL)
THROTTLE_PAUSE_FIRST_S, THROTTLE_PAUSE_MAX_S = 0.2, 5.0
STABLE_S = 60.0  # a bind that held this long resets the reconnect backoff
READS_PER_TURN = 64
PENDING_MAX = 10_000
UNENCODABLE = -1  # the status reported for a message smpplib refused to encode


@dataclass
class Submission:
    """One ``submit_sm``: ``params`` are smpplib's ``submit_sm`` fields; ``tag`` is the caller's.

    ``cancelled`` is set (from the asyncio side) when the sender stopped waiting: the
    message is then not sent, or not sent again.
    """

    params: dict[str, Any]
    tag: Any = None
    cancelled: bool = False
    order: int = 0


@dataclass(frozen=True, slots=True)
class Report:
    """What the session tells the asyncio side.

    ``kind``: ``state`` (``value`` is ``down``, ``binding`` or ``bound``; ``detail``
    why), ``submitted`` (``submission``, ``value`` the message id), ``refused``
    (``submission``, ``value`` the command status), ``throttled`` (``value`` the
    status), ``deliver`` (``pdu`` fields as a dict, ``value`` the key to :meth:`Session.ack`).
    """

    kind: str
    value: Any = None
    submission: Submission | None = None
    pdu: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LinkConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    rate_per_s: float
    window: int
    enquire_link_s: float
    timeout_s: float
    backoff_first_s: float = 1.0
    backoff_max_s: float = 30.0


class LinkDown(Exception):
    """The connection is unusable (closed, silent, unbound by the SMSC)."""


class BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {consts.DESCRIPTIONS.get(status, 'status')} (0x{status:08x})")
        self.status = status


class Session:
    """Runs in its own thread (:meth:`run`); see the module docstring."""

    def __init__(self, config: LinkConfig, report: Callable[[Report], None]) -> None:
        self.config = config
        self._report = report
        self._lock = threading.Lock()
        self._pending: collections.deque[Submission] = collections.deque()
        self._acks: collections.deque[tuple[int, int, int]] = collections.deque()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._order = 0
        self._client: smpp_client.Client | None = None
        self._generation = 0
        self._inflight: dict[int, tuple[Submission, float]] = {}
        self._rate = float(config.rate_per_s)
        self._next_send = 0.0
        self._paused_until = 0.0
        self._pause_s = THROTTLE_PAUSE_FIRST_S
        self._last_throttle = 0.0

    # ------------------------------------------------------------------ asyncio side (any thread)

    def submit(self, submissions: list[Submission]) -> None:
        """Queue messages, in order; raises OverflowError when too many are waiting already."""
        with self._lock:
            if len(self._pending) + len(submissions) > PENDING_MAX:
                raise OverflowError("too many messages waiting for the SMSC")
            for sub in submissions:
                self._order += 1
                sub.order = self._order
                self._pending.append(sub)
        self._wake()

    def ack(self, key: tuple[int, int], status: int) -> None:
        """Answer the ``deliver_sm`` reported under ``key`` with ``status``."""
        with self._lock:
            self._acks.append((key[0], key[1], status))
        self._wake()

    def stop(self) -> None:
        self._stop.set()
        self._wake()

    def waiting(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._inflight)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake, or closing

    # ------------------------------------------------------------------ the session thread

    def run(self) -> None:
        """Connect, serve, reconnect until :meth:`stop`; never raises."""
        backoff = self.config.backoff_first_s
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self._state("binding")
                    self._bind()
                    self._state("bound")
                    self._serve()
                except BindRefused as exc:
                    self._state("down", str(exc))
                    log.error("SMPP %s as %r at %s:%d", exc, self.config.system_id, self.config.host,
                              self.config.port)
                except (LinkDown, exceptions.ConnectionError, exceptions.PDUError, OSError) as exc:
                    self._state("down", _reason(exc))
                    if not self._stop.is_set():
                        log.warning("SMPP link to %s:%d down: %s", self.config.host, self.config.port, _reason(exc))
                except Exception as exc:  # a bug must not end the link for good
                    self._state("down", _reason(exc))
                    log.exception("SMPP session failed")
                finally:
                    self._close()
                if self._stop.is_set():
                    break
                if time.monotonic() - started >= STABLE_S:
                    backoff = self.config.backoff_first_s
                self._sleep(backoff)
                backoff = min(backoff * 2, self.config.backoff_max_s)
        finally:
            self._state("down", "stopped")
            self._wake_r.close()
            self._wake_w.close()

    def _state(self, value: str, detail: str = "") -> None:
        self._report(Report("state", value, detail=detail))

    def _bind(self) -> None:
        cfg = self.config
        client = smpp_client.Client(cfg.host, cfg.port, timeout=cfg.timeout_s, allow_unknown_opt_params=True,
                                    logger_name="tvtopup.smpp.wire")
        self._client = client
        self._generation += 1
        client.connect()
        try:
            client.bind_transceiver(system_id=cfg.system_id, password=cfg.password, system_type=cfg.system_type,
                                    interface_version=0x34)
        except exceptions.PDUError as exc:
            status = exc.args[1] if len(exc.args) > 1 else consts.SMPP_ESME_RBINDFAIL
            raise BindRefused(int(status)) from None
        self._last_rx = time.monotonic()
        self._enquire_sent: float | None = None
        log.info("SMPP bound to %s:%d as %r", cfg.host, cfg.port, cfg.system_id)

    def _close(self) -> None:
        """Close the socket; what awaited a response waits again, first, in its order."""
        client, self._client = self._client, None
        with self._lock:
            resend = sorted((sub for sub, _ in self._inflight.values() if not sub.cancelled), key=lambda s: s.order)
            self._inflight.clear()
            self._pending.extendleft(reversed(resend))
            self._acks.clear()  # answers for a closed connection: the SMSC delivers again
        if client is not None:
            if client.state == consts.SMPP_CLIENT_STATE_BOUND_TRX and self._stop.is_set():
                self._unbind(client)
            client.state = consts.SMPP_CLIENT_STATE_OPEN  # closing a dead or unbound link: no warning
            try:
                client.disconnect()
            except OSError:
                pass

    def _unbind(self, client: smpp_client.Client) -> None:
        """A polite goodbye at stop; the SMSC may answer deliver_sm first, which is read and dropped."""
        try:
            client.send_pdu(smpp.make_pdu("unbind", client=client))
            deadline = time.monotonic() + min(self.config.timeout_s, 2.0)
            while time.monotonic() < deadline:
                readable, _, _ = select.select([client._socket], [], [], max(0.0, deadline - time.monotonic()))
                if not readable or client.read_pdu().command == "unbind_resp":
                    return
        except (exceptions.ConnectionError, exceptions.PDUError, OSError, AttributeError):
            return

    def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until stopped."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            select.select([self._wake_r], [], [], left)
            self._drain_wake()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _serve(self) -> None:
        client = self._client
        assert client is not None
        self._next_send = time.monotonic()
        while not self._stop.is_set():
            self._send_acks(client)
            self._send_due(client)
            self._check_timers(client)
            readable, _, _ = select.select([client._socket, self._wake_r], [], [], self._wait_s())
            if self._wake_r in readable:
                self._drain_wake()
            if client._socket in readable:
                self._read(client)

    def _send_acks(self, client: smpp_client.Client) -> None:
        while True:
            with self._lock:
                if not self._acks:
                    return
                generation, sequence, status = self._acks.popleft()
            if generation != self._generation:
                continue
            resp = smpp.make_pdu("deliver_sm_resp", client=client, status=status)
            resp.sequence = sequence
            client.send_pdu(resp)

    def _send_due(self, client: smpp_client.Client) -> None:
        now = time.monotonic()
        interval = 1.0 / self._rate
        while len(self._inflight) < self.config.window and now >= self._next_send and now >= self._paused_until:
            with self._lock:
                if not self._pending:
                    return
                sub = self._pending.popleft()
                if sub.cancelled:
                    continue
                try:
                    pdu = smpp.make_pdu("submit_sm", client=client, **sub.params)
                except Exception as exc:  # a message smpplib cannot encode: refused, never retried
                    log.error("SMPP: cannot encode submit_sm: %s", _reason(exc))
                    self._report(Report("refused", UNENCODABLE, submission=sub))
                    continue
                self._inflight[pdu.sequence] = (sub, now)
            client.send_pdu(pdu)
            self._next_send = max(self._next_send, now - interval) + interval

    def _check_timers(self, client: smpp_client.Client) -> None:
        now = time.monotonic()
        cfg = self.config
        if self._inflight and now - min(sent for _, sent in self._inflight.values()) > cfg.timeout_s:
            raise LinkDown(f"no submit_sm_resp within {cfg.timeout_s:g} s")
        if self._enquire_sent is not None:
            if now - self._enquire_sent > cfg.timeout_s:
                raise LinkDown(f"no enquire_link_resp within {cfg.timeout_s:g} s")
        elif now - self._last_rx >= cfg.enquire_link_s:
            client.send_pdu(smpp.make_pdu("enquire_link", client=client))
            self._enquire_sent = now
        if self._rate < cfg.rate_per_s and now - self._last_throttle >= 1.0:
            self._rate = min(float(cfg.rate_per_s), self._rate + 1.0)
            self._last_throttle = now

    def _wait_s(self) -> float:
        """How long select may sleep: until the next send slot, keep-alive or timeout."""
        now = time.monotonic()
        waits = [self._last_rx + self.config.enquire_link_s - now, 1.0]
        if self._pending and len(self._inflight) < self.config.window:
            waits.append(max(self._next_send, self._paused_until) - now)
        if self._acks:
            waits.append(0.0)
        return max(0.0, min(waits))

    def _read(self, client: smpp_client.Client) -> None:
        for _ in range(READS_PER_TURN):
            try:
                pdu = client.read_pdu()
            except socket.timeout:
                raise LinkDown("a PDU arrived incomplete") from None
            self._last_rx = time.monotonic()
            self._handle(client, pdu)
            readable, _, _ = select.select([client._socket], [], [], 0)
            if not readable:
                return

    def _handle(self, client: smpp_client.Client, pdu: Any) -> None:
        command = getattr(pdu, "command", None)
        if command == "submit_sm_resp" or (command == "generic_nack" and pdu.sequence in self._inflight):
            self._submit_resp(pdu)
        elif command == "deliver_sm":
            self._report(Report("deliver", (self._generation, pdu.sequence), pdu=_fields(pdu)))
        elif command == "enquire_link":
            resp = smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        elif command == "enquire_link_resp":
            self._enquire_sent = None
        elif command == "unbind":
            resp = smpp.make_pdu("unbind_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
            raise LinkDown("the SMSC unbound")
        else:
            log.debug("SMPP: ignored %s", command)

    def _submit_resp(self, pdu: Any) -> None:
        with self._lock:
            entry = self._inflight.pop(pdu.sequence, None)
        if entry is None:
            return
        sub, _ = entry
        status = int(pdu.status)
        if status == consts.SMPP_ESME_ROK:
            message_id = pdu.message_id.decode() if isinstance(pdu.message_id, bytes) else str(pdu.message_id or "")
            self._report(Report("submitted", message_id, submission=sub))
        elif status in THROTTLED:
            self._throttled(sub, status)
        else:
            self._report(Report("refused", status, submission=sub))

    def _throttled(self, sub: Submission, status: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._pending.appendleft(sub)
            ordered = sorted(self._pending, key=lambda s: s.order)  # refused ones back in their order
            self._pending.clear()
            self._pending.extend(ordered)
        if now >= self._paused_until:  # one pause per burst of refusals
            self._pause_s = THROTTLE_PAUSE_FIRST_S if now - self._last_throttle > 2 * self._pause_s \
                else min(self._pause_s * 2, THROTTLE_PAUSE_MAX_S)
            self._paused_until = now + self._pause_s
            self._rate = max(1.0, self._rate / 2)
        self._last_throttle = now
        self._report(Report("throttled", status))


def _fields(pdu: Any) -> dict[str, Any]:
    """What the asyncio side needs of a ``deliver_sm``."""
    receipted = getattr(pdu, "receipted_message_id", None)
    return {"source_addr": _text(pdu.source_addr), "destination_addr": _text(pdu.destination_addr),
            "esm_class": int(pdu.esm_class or 0), "data_coding": int(pdu.data_coding or 0),
            "short_message": bytes(pdu.short_message or b""),
            "receipted_message_id": _text(receipted).rstrip("\0") if receipted else "",
            "message_state": getattr(pdu, "message_state", None)}


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


__all__ = ["BindRefused", "LinkConfig", "Report", "Session", "Submission"]
