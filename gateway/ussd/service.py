"""One USSD hop: the aggregator's request in, one screen out.

The session lives on the server (:class:`~gateway.ussd.sessions.UssdSessions`), keyed by
the aggregator's session id and bound to the phone that opened it. The inputs of a hop
are what the aggregator's cumulative text adds to what this session has already
answered (:func:`new_inputs`); each is read by the engine in the state the session is
in, so no text can skip a PIN or a confirmation; and a command that moves value must be
the only input of its hop (the answer to the screen just shown), so a shortcut string
can navigate but never confirm. A retried hop (same text) gets the same screen again.

Per phone, at most ``ussd.steps_per_minute`` hops; over it, or when the state store cannot
answer, the session ends with a short "try again" screen and nothing is done.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Callable

from billing_core.db.ussd_store import StepRow
from billing_core.phones import mask
from gateway.state.limits import RateLimit
from gateway.state.store import StateUnavailable
from gateway.ussd.commands import CommandRunner
from gateway.ussd.sessions import UssdSessions
from gateway.ussd.steplog import StepLog
from ussd_menus import engine
from ussd_menus.engine import Env, Graph, Reply, Session, Turn
from ussd_menus.texts import render

log = logging.getLogger("tvtopup.ussd")
TEXT_MAX = 400  # characters of the aggregator's cumulative text
INPUT_MAX = 40  # characters of one input
COMMANDS_MAX = 4  # commands run in one hop
HOPS_MAX = 60  # per session
# Commands that move value or change the subscriber: only ever the answer to the one
# screen the subscriber saw last, never one of several inputs sent in a single hop.
MOVES_VALUE = frozenset({"redeem", "renew", "pay", "refresh", "lang"})


def new_inputs(seen: str | None, text: str) -> list[str] | None:
    """The inputs ``text`` (every input so far joined by ``*``) adds to ``seen``; None when it
    does not continue ``seen`` (a replay or a crafted text). ``[]``: nothing new."""
    if seen is None:
        return text.split("*") if text else []
    if text == seen:
        return []
    if seen == "":
        return text.split("*")
    if not text.startswith(seen + "*"):
        return None
    return text[len(seen) + 1:].split("*")


class UssdService:
    def __init__(self, graph: Graph, env: Env, sessions: UssdSessions, runner: CommandRunner, steplog: StepLog,
                 limit: RateLimit, default_lang: str, clock: Callable[[], int]):
        self.graph = graph
        self.env = env
        self.sessions = sessions
        self.runner = runner
        self.steplog = steplog
        self.limit = limit
        self.default_lang = default_lang
        self.clock = clock
        self.hops = 0
        self.refused = 0

    async def hop(self, sid: str, msisdn: str, text: str) -> Reply:
        started = time.perf_counter()
        self.hops += 1
        try:
            reply, session, shown_input = await self._hop(sid, msisdn, text)
        except StateUnavailable:
            self.refused += 1
            log.warning("USSD session %s from %s: state store unavailable", sid[:16], mask(msisdn))
            reply, session, shown_input = self._final("unavailable"), None, ""
        elapsed_us = int((time.perf_counter() - started) * 1e6)
        self.steplog.add(StepRow(sid[:64], msisdn, session.hops if session else 0, session.node[:32] if session else "",
                                 shown_input[:64], reply.wire()[:200], elapsed_us, self.clock()))
        return reply

    async def _hop(self, sid: str, msisdn: str, text: str) -> tuple[Reply, Session | None, str]:
        if not await self.limit.hit(msisdn):
            self.refused += 1
            return self._final("busy"), None, "(rate limited)"
        session = await self.sessions.get(sid)
        if session is not None and session.msisdn != msisdn:
            self.refused += 1
            log.warning("USSD session %s reused by another phone %s", sid[:16], mask(msisdn))
            return self._final("session_over"), None, "(other phone)"
        if session is None:
            session = Session(sid, msisdn, self.default_lang)
            turn = await self._settle(engine.begin(self.graph, self.env, session))
            seen = None
        else:
            turn, seen = None, session.seen
        inputs = new_inputs(seen, text)
        if inputs is None or len(text) > TEXT_MAX or any(len(i) > INPUT_MAX for i in inputs):
            return await self._refuse(turn.session if turn else session, text)
        if turn is None and not inputs:  # the aggregator retried the last hop
            return Reply(session.last[4:], session.last.startswith("END ")), session, "(again)"
        shown = []
        for value in inputs:
            current = turn.session if turn else session
            stepped = engine.step(self.graph, self.env, current, value)
            shown.append("****" if stepped.secret_input else value)
            if stepped.commands and stepped.commands[0].name in MOVES_VALUE and len(inputs) > 1:
                return await self._refuse(current, text)
            turn = await self._settle(stepped)
        assert turn is not None and turn.reply is not None
        session = replace(turn.session, seen=text, hops=turn.session.hops + 1)
        if session.hops > HOPS_MAX:
            session = replace(session, ended=True)
        await self.sessions.put(session)
        return turn.reply, session, "*".join(shown)

    async def _settle(self, turn: Turn) -> Turn:
        """Run the commands the engine asks for until it has a screen."""
        for _ in range(COMMANDS_MAX):
            if not turn.commands:
                return turn
            outcome = await self.runner.run(turn.commands[0], turn.session)
            turn = engine.after(self.graph, self.env, turn.session, outcome)
        raise RuntimeError("menu graph asked for too many commands in one hop")

    async def _refuse(self, session: Session, text: str) -> tuple[Reply, Session, str]:
        self.refused += 1
        log.warning("USSD session %s from %s: input does not follow the session", session.sid[:16],
                    mask(session.msisdn))
        session = replace(session, ended=True)
        await self.sessions.put(session)
        return Reply(render(session.lang, "session_over", {"code": self.env.service_code}), True), session, \
            "(refused)"

    def _final(self, key: str) -> Reply:
        return Reply(render(self.default_lang, key, {"code": self.env.service_code}), True)


__all__ = ["UssdService", "new_inputs"]
