"""The USSD menu engine: menus declared as data, run by pure functions.

A journey is a graph of nodes (:mod:`ussd_menus.menus`). The engine never does I/O:

- :func:`begin` starts a session at the graph's first node;
- :func:`step` takes the subscriber's latest input;
- :func:`after` takes the outcome of a command the engine asked for.

Each returns a :class:`Turn`: either a screen to show (``reply``) or ``commands`` to run
first (``reply`` is None). The caller runs the command, then calls :func:`after` with its
:class:`Outcome`. Authority lives only in the :class:`Session` the caller keeps on the
server: an input is read in the state the session is in, so a crafted input can never
skip a PIN or a confirmation.

Navigation on every screen: ``0`` back, ``00`` main menu, ``98`` more (long lists).

Nodes::

    Route    no screen: the first branch whose predicate holds
    Do       no screen: run a command; the next node depends on the outcome's code
    Menu     fixed choices (each may have a predicate)
    Pick     a list from the session (cards, packages, events), paged with 98
    Ask      free input read by a parser (``secret``: never logged)
    Confirm  1 yes (goto), 2 no (back)
    Show     information, then back or main menu
    End      the last screen
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from ussd_menus import parsers
from ussd_menus.texts import render

SCREEN_MAX = 182  # characters, the "CON "/"END " prefix included
BACK, HOME, MORE = "0", "00", "98"
STEPS_MAX = 20  # nodes entered in one turn: a cycle in a graph is a bug, not a hang


# ---- what the engine knows ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CardFact:
    """One smartcard as the menus show it (names already shortened for a screen)."""

    card: str
    package: str  # package code, "" when none
    package_name: str
    price_tvu: int
    status: str
    expires: str  # a date as subscribers read it, "-" when never
    wallet_tvu: int
    own: bool  # registered to the calling phone

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class PackageFact:
    code: str
    name: str
    tvu: int
    days: int

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class EventFact:
    """A pay-per-view event on sale, as the menus show it (title shortened, start as read)."""

    code: str
    title: str
    tvu: int
    starts: str  # "12-21 20:00"

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class Env:
    """The operator's side of every screen: fixed while the gateway runs."""

    languages: tuple[str, ...] = ("en", "fr", "sw")
    currency: str = "KES"
    rate: int = 100  # minor units per TVU
    exponent: int = 2
    pay_provider: str = "none"  # none | mpesa | mtn | airtel
    service_code: str = "*123#"
    operator: str = "tvtopup"
    pay_whole_units: bool = True  # mobile money takes whole currency units only


@dataclass(frozen=True)
class Session:
    """Everything the server keeps between two hops (JSON in the session store)."""

    sid: str
    msisdn: str
    lang: str
    node: str = ""
    data: Mapping[str, str] = field(default_factory=dict)
    back: tuple[str, ...] = ()
    page: int = 0
    cards: tuple[CardFact, ...] = ()
    packages: tuple[PackageFact, ...] = ()
    seen: str | None = None  # the aggregator's cumulative text answered so far
    hops: int = 0
    last: str = ""  # the last screen shown, for a retried hop
    ended: bool = False
    events: tuple[EventFact, ...] = ()  # pay-per-view events on sale

    def card(self) -> CardFact | None:
        chosen = self.data.get("card")
        return next((c for c in self.cards if c.card == chosen), None)

    def to_json(self) -> str:
        return json.dumps({
            "sid": self.sid, "msisdn": self.msisdn, "lang": self.lang, "node": self.node, "data": dict(self.data),
            "back": list(self.back), "page": self.page, "cards": [c.to_json() for c in self.cards],
            "packages": [p.to_json() for p in self.packages], "seen": self.seen, "hops": self.hops,
            "last": self.last, "ended": self.ended, "events": [e.to_json() for e in self.events]},
            separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Session:
        d = json.loads(text)
        return cls(d["sid"], d["msisdn"], d["lang"], d["node"], d["data"], tuple(d["back"]), d["page"],
                   tuple(CardFact(**c) for c in d["cards"]), tuple(PackageFact(**p) for p in d["packages"]),
                   d["seen"], d["hops"], d["last"], d["ended"],
                   tuple(EventFact(**e) for e in d.get("events", ())))


@dataclass(frozen=True, slots=True)
class Command:
    """Something only the caller can do (I/O); arguments come from the session."""

    name: str
    args: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command came to: ``code`` ("ok" or a refusal code), values for the next screens,
    and fresh facts (None: unchanged)."""

    code: str = "ok"
    values: Mapping[str, str] = field(default_factory=dict)
    cards: tuple[CardFact, ...] | None = None
    packages: tuple[PackageFact, ...] | None = None
    lang: str | None = None
    events: tuple[EventFact, ...] | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # without the CON/END prefix
    end: bool

    def wire(self) -> str:
        return ("END " if self.end else "CON ") + self.text


@dataclass(frozen=True, slots=True)
class Turn:
    session: Session
    reply: Reply | None = None
    commands: tuple[Command, ...] = ()
    secret_input: bool = False  # the input just read must never be logged


# ---- nodes ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Choice:
    label: str  # text key
    goto: str
    when: str = ""  # predicate name; "" always
    set: tuple[tuple[str, str], ...] = ()  # data to store when chosen


@dataclass(frozen=True, slots=True)
class Route:
    branches: tuple[tuple[str, str], ...]  # (predicate, node); "" always holds


@dataclass(frozen=True, slots=True)
class Do:
    command: str
    outcomes: tuple[tuple[str, str], ...]  # (code, node); "*" any other code
    args: tuple[str, ...] = ()  # data keys passed to the command


@dataclass(frozen=True, slots=True)
class Menu:
    title: str
    choices: tuple[Choice, ...]
    root: bool = False  # the main menu: no "back" line


@dataclass(frozen=True, slots=True)
class Pick:
    title: str
    source: str  # "cards" | "packages" | "events"
    store: str
    goto: str


@dataclass(frozen=True, slots=True)
class Ask:
    prompt: str
    parser: str
    store: str
    goto: str
    secret: bool = False


@dataclass(frozen=True, slots=True)
class Confirm:
    prompt: str
    goto: str


@dataclass(frozen=True, slots=True)
class Show:
    text: str


@dataclass(frozen=True, slots=True)
class End:
    text: str


Node = Route | Do | Menu | Pick | Ask | Confirm | Show | End


@dataclass(frozen=True)
class Graph:
    nodes: Mapping[str, Node]
    start: str
    home: str
    predicates: Mapping[str, Callable[[Session, Env], bool]]
    secrets: tuple[str, ...] = ()  # data keys dropped as soon as a command has used them

    def __post_init__(self) -> None:
        for name, node in self.nodes.items():
            for target in _targets(node):
                if target not in self.nodes:
                    raise ValueError(f"node {name} leads to unknown node {target}")


def _targets(node: Node) -> list[str]:
    if isinstance(node, Route):
        return [goto for _, goto in node.branches]
    if isinstance(node, Do):
        return [goto for _, goto in node.outcomes]
    if isinstance(node, Menu):
        return [c.goto for c in node.choices]
    if isinstance(node, (Pick, Ask, Confirm)):
        return [node.goto]
    return []


# ---- the three entry points ----------------------------------------------------------------

def begin(graph: Graph, env: Env, session: Session) -> Turn:
    """A new session: enter the start node."""
    return _enter(graph, env, replace(session, node="", back=(), data={}, page=0), graph.start)


def step(graph: Graph, env: Env, session: Session, text: str) -> Turn:
    """Read one input in the session's current node."""
    if session.ended:
        return _end(session, render(session.lang, "session_over", _values(session, env)))
    text = text.strip()
    node = graph.nodes[session.node]
    if text == HOME and session.node != graph.home:
        return _enter(graph, env, replace(session, back=(), page=0), graph.home)
    if text == BACK and not (isinstance(node, Menu) and node.root):
        return _go_back(graph, env, session)
    if isinstance(node, Menu):
        return _choose(graph, env, session, node, text)
    if isinstance(node, Pick):
        return _pick(graph, env, session, node, text)
    if isinstance(node, Ask):
        return _ask(graph, env, session, node, text)
    if isinstance(node, Confirm):
        if text == "1":
            return _forward(graph, env, session, node.goto)
        if text == "2":
            return _go_back(graph, env, session)
    return _again(graph, env, session, "invalid_choice")


def after(graph: Graph, env: Env, session: Session, outcome: Outcome) -> Turn:
    """The outcome of the command the current ``Do`` node asked for."""
    node = graph.nodes[session.node]
    assert isinstance(node, Do), f"no command pending at {session.node}"
    data = {k: v for k, v in {**session.data, **outcome.values, "outcome": outcome.code}.items()
            if k not in graph.secrets}
    session = replace(session, data=data, cards=session.cards if outcome.cards is None else outcome.cards,
                      packages=session.packages if outcome.packages is None else outcome.packages,
                      events=session.events if outcome.events is None else outcome.events,
                      lang=outcome.lang or session.lang)
    routes = dict(node.outcomes)
    return _enter(graph, env, session, routes.get(outcome.code) or routes["*"])


# ---- moving between nodes ------------------------------------------------------------------

def _forward(graph: Graph, env: Env, session: Session, target: str, **data: str) -> Turn:
    """Leave the current screen for ``target``, remembering it for ``0``."""
    back = session.back + (session.node,) if _is_screen(graph.nodes[session.node]) else session.back
    return _enter(graph, env, replace(session, back=back[-10:], data={**session.data, **data}, page=0), target)


def _go_back(graph: Graph, env: Env, session: Session) -> Turn:
    if not session.back:
        return _enter(graph, env, replace(session, page=0), graph.home)
    return _enter(graph, env, replace(session, back=session.back[:-1], page=0), session.back[-1])


def _enter(graph: Graph, env: Env, session: Session, name: str) -> Turn:
    for _ in range(STEPS_MAX):
        node = graph.nodes[name]
        session = replace(session, node=name)
        if isinstance(node, Route):
            name = next(goto for pred, goto in node.branches if not pred or graph.predicates[pred](session, env))
            continue
        if isinstance(node, Do):
            args = {key: session.data.get(key, "") for key in node.args}
            return Turn(session, commands=(Command(node.command, args),))
        if isinstance(node, End):
            return _end(session, render(session.lang, node.text, _values(session, env)))
        if name == graph.home:
            session = replace(session, back=())
        return _screen(graph, env, session, node)
    raise RuntimeError(f"menu graph loops through {name}")


def _end(session: Session, text: str) -> Turn:
    reply = Reply(text, True)
    return Turn(replace(session, ended=True, last=reply.wire()), reply)


def _screen(graph: Graph, env: Env, session: Session, node: Node, error: str = "") -> Turn:
    values = _values(session, env)
    lines = [render(session.lang, error, values)] if error else []
    if isinstance(node, Menu):  # an error takes the title's place: the choices must fit
        lines = lines or [render(session.lang, node.title, values)]
        lines += [f"{i}. {render(session.lang, c.label, values)}"
                  for i, c in enumerate(_visible(graph, env, session, node), 1)]
    elif isinstance(node, Pick):
        return _page(graph, env, session, node, lines)
    elif isinstance(node, Ask):
        lines.append(render(session.lang, node.prompt, values))
    elif isinstance(node, Confirm):
        lines += [render(session.lang, node.prompt, values), "1. " + render(session.lang, "yes", values),
                  "2. " + render(session.lang, "no", values)]
    elif isinstance(node, Show):
        lines.append(render(session.lang, node.text, values))
    if not (isinstance(node, Menu) and node.root):
        lines.append(render(session.lang, "nav", values))
    return _con(session, "\n".join(lines))


def _con(session: Session, text: str) -> Turn:
    reply = Reply(text, False)
    return Turn(replace(session, last=reply.wire()), reply)


def _again(graph: Graph, env: Env, session: Session, error: str) -> Turn:
    return _screen(graph, env, session, graph.nodes[session.node], error)


def _is_screen(node: Node) -> bool:
    return not isinstance(node, (Route, Do, End))


# ---- reading inputs ------------------------------------------------------------------------

def _visible(graph: Graph, env: Env, session: Session, node: Menu) -> list[Choice]:
    return [c for c in node.choices if not c.when or graph.predicates[c.when](session, env)]


def _choose(graph: Graph, env: Env, session: Session, node: Menu, text: str) -> Turn:
    choices = _visible(graph, env, session, node)
    if not text.isdigit() or not 1 <= int(text) <= len(choices):
        return _again(graph, env, session, "invalid_choice")
    choice = choices[int(text) - 1]
    return _forward(graph, env, session, choice.goto, **dict(choice.set))


def _items(session: Session, node: Pick) -> list[tuple[str, str]]:
    """(value stored, label) of each item of the list."""
    if node.source == "cards":
        return [(c.card, f"{c.card} {c.package_name}".strip()) for c in session.cards]
    if node.source == "events":
        return [(e.code, f"{e.title} {e.starts} {e.tvu} TVU") for e in session.events]
    return [(p.code, f"{p.name} {p.tvu} TVU") for p in session.packages]


def _page_bounds(session: Session, env: Env, node: Pick, head: list[str]) -> list[tuple[int, int]]:
    """(first, end) item index of each page: as many items as fit a screen with its trailer."""
    items, values = _items(session, node), _values(session, env)
    trailer = [f"{MORE}. " + render(session.lang, "more", values), render(session.lang, "nav", values)]
    pages, first = [], 0
    while first < len(items) or not pages:
        end = first
        lines = list(head)
        while end < len(items):
            lines.append(f"{end + 1}. {items[end][1]}")
            if len("CON " + "\n".join(lines + trailer)) > SCREEN_MAX and end > first:
                break
            end += 1
        pages.append((first, end))
        first = end
    return pages


def _page(graph: Graph, env: Env, session: Session, node: Pick, lines: list[str]) -> Turn:
    head = lines or [render(session.lang, node.title, _values(session, env))]
    pages = _page_bounds(session, env, node, head)
    page = min(session.page, len(pages) - 1)
    first, end = pages[page]
    items = _items(session, node)
    body = head + [f"{i + 1}. {items[i][1]}" for i in range(first, end)]
    if page + 1 < len(pages):
        body.append(f"{MORE}. " + render(session.lang, "more", _values(session, env)))
    body.append(render(session.lang, "nav", _values(session, env)))
    return _con(replace(session, page=page), "\n".join(body))


def _pick(graph: Graph, env: Env, session: Session, node: Pick, text: str) -> Turn:
    """Items are numbered across pages, so any listed number picks its item."""
    items = _items(session, node)
    if text == MORE:
        return _screen(graph, env, replace(session, page=session.page + 1), node)
    if not text.isdigit() or not 1 <= int(text) <= len(items):
        return _again(graph, env, session, "invalid_choice")
    return _forward(graph, env, session, node.goto, **{node.store: items[int(text) - 1][0]})


def _ask(graph: Graph, env: Env, session: Session, node: Ask, text: str) -> Turn:
    value = parsers.PARSERS[node.parser](text)
    if value is None:
        turn = _again(graph, env, session, f"bad_{node.parser}")
    else:
        turn = _forward(graph, env, session, node.goto, **{node.store: value})
    return replace(turn, secret_input=node.secret)


# ---- values a text may use -----------------------------------------------------------------

def _values(session: Session, env: Env) -> dict[str, str]:
    values = {"code": env.service_code, "operator": env.operator, **session.data}
    card = session.card()
    if card:
        values.update(card=card.card, package=card.package_name or "-", expires=card.expires,
                      wallet=str(card.wallet_tvu), price=str(card.price_tvu))
        values["status"] = render(session.lang, f"status_{card.status}", {})
    chosen = next((p for p in session.packages if p.code == session.data.get("package")), None)
    if chosen:
        values.update(pkg=chosen.name, pkg_tvu=str(chosen.tvu), pkg_days=str(chosen.days))
        values["amount"] = pay_amount(env, chosen.tvu, card.wallet_tvu if card and card.own else 0)
    event = next((e for e in session.events if e.code == session.data.get("event")), None)
    if event:
        values.update(ev=event.title, ev_tvu=str(event.tvu), ev_starts=event.starts)
    values["provider"] = render(session.lang, f"provider_{env.pay_provider}", {})
    return values


def pay_minor(env: Env, price_tvu: int, wallet_tvu: int) -> int:
    """What mobile money asks the phone to pay for a package, in minor units: the part the
    wallet does not cover, rounded up to whole currency units when the provider takes only those."""
    minor = max(price_tvu - max(wallet_tvu, 0), 0) * env.rate
    unit = 10 ** env.exponent if env.pay_whole_units else 1
    return -(-minor // unit) * unit


def pay_amount(env: Env, price_tvu: int, wallet_tvu: int) -> str:
    """:func:`pay_minor` as subscribers read it (``KES 260.00``)."""
    minor = pay_minor(env, price_tvu, wallet_tvu)
    whole, frac = divmod(minor, 10 ** env.exponent)
    return f"{env.currency} {whole}" + (f".{frac:0{env.exponent}d}" if env.exponent else "")


__all__ = ["SCREEN_MAX", "CardFact", "PackageFact", "EventFact", "Env", "Session", "Command", "Outcome", "Reply", "Turn",
           "Choice", "Route", "Do", "Menu", "Pick", "Ask", "Confirm", "Show", "End", "Graph", "begin", "step",
           "after", "pay_amount", "pay_minor"]
