"""A test SMSC on smpp34 (a Rust-backed SMPP 3.4 server), in the test's event loop.

    smsc = TestSmsc()
    await smsc.start()                        # 127.0.0.1:smsc.port, any system_id/password
    ...the gateway binds and submits...
    await smsc.wait_submits(1)                # smsc.submits: what arrived, with the ids given
    await smsc.send_receipt(smsc.submits[0].message_id)
    await smsc.send_mo("254712345678", "BAL")  # an inbound text; returns the ESME's command_status
    await smsc.restart()                       # every session dropped, the port listens again
    await smsc.stop()

It accepts every ``submit_sm`` with a fresh hexadecimal message id (random base,
so a restarted SMSC never repeats one), unless told otherwise: ``throttle_next``
answers that many with ``ESME_RTHROTTLED``, ``refuse_next`` with the given statuses.
With ``auto_receipt`` each accepted message gets a delivery receipt at once
(``receipt_style`` "tlv": ``receipted_message_id`` + ``message_state`` TLVs and
the text; "text": the text only, its id in decimal). ``silent`` leaves
``submit_sm`` unanswered (a hung SMSC).

:class:`RefusingSmsc` answers every bind with ``ESME_RINVPASWD`` (smpp34 accepts
any password), for the wrong-password tests.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from dataclasses import dataclass, field

import smpp34

DELIVRD = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Submit:
    session_id: str
    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    message_id: str = ""  # "" when refused
    status: int = 0
    at: float = field(default_factory=time.monotonic)


class TestSmsc:
    __test__ = False  # a peer, not a test class

    def __init__(self, port: int | None = None, *, auto_receipt: bool = False, receipt_style: str = "tlv") -> None:
        self.port = port or free_port()
        self.auto_receipt = auto_receipt
        self.receipt_style = receipt_style
        self.throttle_next = 0
        self.refuse_next: list[int] = []
        self.silent = False
        self.submits: list[Submit] = []
        self.sessions: dict[str, smpp34.Esme] = {}
        self.binds = 0
        self.unbinds = 0
        self._base = random.randrange(1 << 32, 1 << 40)
        self._count = 0
        self._server: smpp34.Server | None = None
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Condition()
        self._held: list[smpp34.SubmitSmEvent] = []

    async def start(self) -> None:
        self._server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="TESTSMSC")
        await self._server.start()
        self._task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        """Close the listener, then unbind every session (smpp34's ``Server.stop`` closes the
        listener only: its sessions would go on answering)."""
        if self._server is not None:
            await self._server.stop()
        await self.unbind_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._server, self._task = None, None
        self._held.clear()

    async def restart(self, down_s: float = 0.0) -> None:
        """Stop (every session unbound), and listen again after ``down_s`` with the port closed."""
        await self.stop()
        await asyncio.sleep(down_s)
        await self.start()

    async def unbind_all(self) -> None:
        """Unbind every session (the ESMEs may bind again while the listener is open)."""
        for esme in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(esme.unbind(), 5)
        self.sessions.clear()

    @property
    def accepted(self) -> list[Submit]:
        return [s for s in self.submits if s.message_id]

    async def wait_for(self, predicate, timeout_s: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout_s)

    async def wait_submits(self, n: int, timeout_s: float = 10.0) -> list[Submit]:
        """Wait until ``n`` messages were accepted; returns them."""
        await self.wait_for(lambda: len(self.accepted) >= n, timeout_s)
        return self.accepted

    async def wait_bound(self, timeout_s: float = 10.0) -> smpp34.Esme:
        await self.wait_for(lambda: bool(self.sessions), timeout_s)
        return next(iter(self.sessions.values()))

    async def send_mo(self, source: str, text: str | bytes, *, to: str = "22333", data_coding: int = 0,
                      esm_class: int = 0) -> int:
        """An inbound text to the bound ESME; returns the ``deliver_sm_resp`` status."""
        esme = await self.wait_bound()
        body = text.encode("utf-16-be" if data_coding == 8 else "latin-1") if isinstance(text, str) else text
        resp = await esme.deliver_sm(destination_addr=to, short_message=body, source_addr=source,
                                     source_addr_ton=1, source_addr_npi=1, data_coding=data_coding,
                                     esm_class=esm_class)
        return resp.command_status

    async def send_receipt(self, message_id: str, *, stat: str = "DELIVRD", state: int | None = DELIVRD,
                           style: str | None = None, source: str = "254712345678") -> int:
        """A delivery receipt for ``message_id``; returns the ``deliver_sm_resp`` status."""
        esme = await self.wait_bound()
        style = style or self.receipt_style
        text_id = str(int(message_id, 16)) if style == "text" else message_id
        text = (f"id:{text_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} submit date:2611221200 "
                f"done date:2611221201 stat:{stat} err:{'000' if stat == 'DELIVRD' else '001'} text:").encode()
        tlvs = []
        if style == "tlv":
            tlvs = [smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\0")]
            if state is not None:
                tlvs.append(smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([state])))
        resp = await esme.deliver_sm(destination_addr="22333", short_message=text, source_addr=source,
                                     esm_class=0x04, tlvs=tlvs)
        return resp.command_status

    async def _serve(self) -> None:
        assert self._server is not None
        while True:
            event = await self._server.next()
            if isinstance(event, smpp34.Esme):
                self.binds += 1
                self.sessions[event.session_id] = event
            elif isinstance(event, smpp34.Unbound):
                self.unbinds += 1
                self.sessions.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                await self._submit(event)
            async with self._changed:
                self._changed.notify_all()

    async def _submit(self, event: smpp34.SubmitSmEvent) -> None:
        record = Submit(event.session_id, event.source_addr, event.destination_addr, event.esm_class,
                        event.data_coding, event.registered_delivery, event.short_message)
        if self.silent:
            self._held.append(event)  # never answered while held
            return
        if self.throttle_next > 0:
            self.throttle_next -= 1
            record.status = smpp34.ESME_RTHROTTLED
            event.reject(smpp34.ESME_RTHROTTLED)
        elif self.refuse_next:
            record.status = self.refuse_next.pop(0)
            event.reject(record.status)
        else:
            self._count += 1
            record.message_id = format(self._base + self._count, "X")
            event.accept(record.message_id)
        self.submits.append(record)
        if record.message_id and self.auto_receipt and event.registered_delivery:
            asyncio.create_task(self.send_receipt(record.message_id))


class TcpProxy:
    """A TCP relay in front of an SMSC; :meth:`cut` drops every connection abruptly (no unbind)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        for writer in self._writers:
            transport = writer.transport
            if transport is not None:
                transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.connections += 1
        self._writers += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


class RefusingSmsc:
    """A TCP server that answers any bind with ``ESME_RINVPASWD`` and closes; counts the tries."""

    def __init__(self) -> None:
        self.port = free_port()
        self.attempts: list[float] = []
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await reader.readexactly(16)
            length, command_id, _, sequence = struct.unpack(">IIII", header)
            await reader.readexactly(length - 16)
            self.attempts.append(time.monotonic())
            body = b"TESTSMSC\0"
            writer.write(struct.pack(">IIII", 16 + len(body), command_id | 0x80000000, 0x0E, sequence) + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
