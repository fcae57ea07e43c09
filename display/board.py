"""The hall board as a pure model: what the waiting hall should see at a given moment.

:class:`HallBoard` takes the retained :class:`~broker_bridge.contract.HallState`, the
:class:`~broker_bridge.contract.HallCall` events and the connection state, each with the time
``now`` passed in (no clock of its own, no pygame, no MQTT), and answers :meth:`HallBoard.picture`:
a frozen :class:`Picture` the TV renderer draws and the LED boards copy.

Rules the hall notices:

* the last ``recent_calls`` calls, newest first; the newest blinks for ``blink_s``;
* a call holds the top row at least ``min_visible_s`` (7 s) before the next one pushes it down, so
  calls that come faster wait in a queue (FIFO) and are shown, announced, one after another;
* a recall of a ticket already on the board moves it back to the top (one row per ticket);
* waiting counts per service, with the forecast a ticket taken now would print ("≈ 12 min, at most
  25", the server's own figures) or, past the office's last call, "no more calls today: book";
  the clock in the office's time zone, the ticker text;
* languages alternate every ``alternate_s`` or stand side by side (same size), as configured;
* when the broker has been gone more than ``offline_after_s`` the last picture stays, with a small
  "no connection" mark.

The whole picture is rebuilt from every retained HallState: the first one after a start is
taken silently (nothing blinks, nothing is announced); later unknown calls newer than
``fresh_s`` are treated as calls whose event was missed, older ones are placed silently.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import deque
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cherga.broker_bridge.contract import CallEntry, HallCall, HallState, NodeConfig

Layout = Literal["alternate", "side_by_side"]


@dataclasses.dataclass(frozen=True)
class BoardSettings:
    """How the board behaves; :meth:`from_office` reads the office config's ``display`` section."""

    recent_calls: int = 4
    blink_s: float = 6.0
    min_visible_s: float = 7.0
    layout: Layout = "alternate"
    alternate_s: float = 6.0
    languages: tuple[str, ...] = ("uk", "en")
    ticker: dict[str, str] = dataclasses.field(default_factory=dict)
    timezone: str = "Europe/Kyiv"
    office_names: dict[str, str] = dataclasses.field(default_factory=dict)
    offline_after_s: float = 3.0
    fresh_s: float = 30.0
    blink_period_s: float = 1.0

    @classmethod
    def from_office(cls, config: NodeConfig, **overrides: Any) -> BoardSettings:
        d = config.display or {}
        values: dict[str, Any] = {
            "recent_calls": int(d.get("recent_calls", 4)),
            "blink_s": float(d.get("blink_s", 6.0)),
            "min_visible_s": float(d.get("min_visible_s", 7.0)),
            "layout": d.get("layout", "alternate"),
            "alternate_s": float(d.get("alternate_s", 6.0)),
            "languages": tuple(d.get("languages") or config.languages),
            "ticker": dict(d.get("ticker") or {}),
            "timezone": config.timezone,
            "office_names": {str(k): v for k, v in config.office_names.items()},
        }
        values.update(overrides)
        return cls(**values)


@dataclasses.dataclass
class _Row:
    call_id: str
    label: str
    counter: str
    counter_number: str
    service: str
    recall: bool
    shown_at: dt.datetime
    announced: bool  # True when it went through the queue (it blinks and is spoken)
    from_event: bool = False
    confirmed: bool = False  # seen in a HallState


@dataclasses.dataclass(frozen=True)
class CallRow:
    """One row as drawn: ``blink_on`` is the current phase of a blinking row."""

    call_id: str
    label: str
    counter: str
    counter_number: str
    service: str
    recall: bool
    newest: bool
    blinking: bool
    blink_on: bool


@dataclasses.dataclass(frozen=True)
class LoadRow:
    service: str
    names: dict[str, str]
    waiting: int
    light: str
    wait_min: int | None = None  # what a ticket taken now would be told (the ticket's own forecast)
    wait_max_min: int | None = None
    calls_stopped: bool = False  # past the office's last call: those waiting are asked to book


@dataclasses.dataclass(frozen=True)
class Picture:
    """Everything the renderer draws; equal pictures draw identical frames."""

    rows: tuple[CallRow, ...]
    queued: int
    load: tuple[LoadRow, ...]
    clock: str
    languages: tuple[str, ...]  # to show now: one (alternating) or all (side by side)
    layout: Layout
    ticker: str
    office_name: str
    offline: bool
    has_state: bool


@dataclasses.dataclass(frozen=True)
class Promotion:
    """A call that has just taken the top row: blink it, chime and speak it."""

    call_id: str
    label: str
    counter: str
    counter_number: str
    service: str
    recall: bool
    prefix: str
    number: int | None


def split_label(label: str) -> tuple[str, int | None]:
    """``"A-012"`` → ``("A", 12)``; a label without digits → ``(label, None)``."""
    head = label.rstrip("0123456789")
    digits = label[len(head):]
    return head.rstrip("- "), (int(digits) if digits else None)


class HallBoard:
    """The hall picture, driven by messages and an injected ``now``.

    Example::

        board = HallBoard(BoardSettings(recent_calls=4))
        board.apply_state(state, now)
        promoted = board.apply_call(call, now)   # may be [] when the call has to wait its turn
        promoted += board.tick(now + dt.timedelta(seconds=7))
        picture = board.picture(now)
    """

    def __init__(self, settings: BoardSettings | None = None) -> None:
        self.settings = settings or BoardSettings()
        self._rows: list[_Row] = []
        self._pending: deque[_Row] = deque()
        self._prefixes: dict[str, tuple[str, int | None]] = {}
        self._state: HallState | None = None
        self._synced = False
        self._connected = True
        self._lost_at: dt.datetime | None = None
        self._epoch: dt.datetime | None = None
        self._events: deque[tuple[str, bool, dt.datetime]] = deque(maxlen=256)

    # --- inputs -------------------------------------------------------------------------------

    def configure(self, settings: BoardSettings, now: dt.datetime) -> list[Promotion]:
        self.settings = settings
        return self.tick(now)

    def apply_call(self, call: HallCall, now: dt.datetime) -> list[Promotion]:
        """A hall call event. Duplicates (same ``call_id``) are ignored. Returns promoted calls."""
        self._prefixes[call.call_id] = (call.prefix, call.number)
        key = (call.call_id, call.recall, call.at)
        if key in self._events:
            return self.tick(now)  # the same event delivered twice (QoS 1)
        self._events.append(key)
        in_rows = any(r.call_id == call.call_id for r in self._rows)
        if not self._known(call.call_id) or (call.recall and in_rows):
            self._pending.append(_Row(call.call_id, call.label, call.counter, call.counter_number, call.service,
                                      call.recall, now, announced=True, from_event=True))
        return self.tick(now)

    def apply_state(self, state: HallState, now: dt.datetime) -> list[Promotion]:
        """Rebuild the rows from a retained hall state (idempotent; safe to receive again)."""
        self._state = state
        by_id = {r.call_id: r for r in self._rows}
        pending_ids = {r.call_id for r in self._pending}
        state_ids = {c.call_id for c in state.calls}
        rows: list[_Row] = []
        # A call promoted from its event may reach us before the state that lists it.
        grace = dt.timedelta(seconds=max(self.settings.fresh_s, self.settings.min_visible_s))
        rows.extend(r for r in self._rows
                    if r.call_id not in state_ids and r.from_event and not r.confirmed and now - r.shown_at < grace)
        silent_at = now - dt.timedelta(seconds=self.settings.min_visible_s)
        missed: list[_Row] = []
        for entry in state.calls:
            if entry.call_id in pending_ids:
                continue
            row = by_id.get(entry.call_id)
            if row is None:
                row = self._row_from_entry(entry, silent_at)
                if self._synced and self._is_fresh(entry, now):
                    row.announced, row.shown_at = True, now
                    missed.append(row)
                    continue
            row.confirmed = True
            rows.append(row)
        self._rows = self._dedupe(rows)[: self.settings.recent_calls]
        self._pending.extend(reversed(missed))  # state is newest first; the queue is oldest first
        self._synced = True
        return self.tick(now)

    def set_connected(self, connected: bool, now: dt.datetime) -> None:
        if connected:
            self._connected, self._lost_at = True, None
        elif self._connected:
            self._connected, self._lost_at = False, now

    def tick(self, now: dt.datetime) -> list[Promotion]:
        """Promote queued calls whose turn has come (one per ``min_visible_s``)."""
        promoted: list[Promotion] = []
        hold = dt.timedelta(seconds=self.settings.min_visible_s)
        while self._pending and (not self._rows or now - self._rows[0].shown_at >= hold):
            row = self._pending.popleft()
            row.shown_at = now
            self._rows = self._dedupe([row, *self._rows])[: self.settings.recent_calls]
            prefix, number = self._prefixes.get(row.call_id) or split_label(row.label)
            promoted.append(Promotion(row.call_id, row.label, row.counter, row.counter_number, row.service,
                                      row.recall, prefix, number))
        return promoted

    # --- outputs ------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._pending)

    def offline(self, now: dt.datetime) -> bool:
        return (not self._connected and self._lost_at is not None
                and (now - self._lost_at).total_seconds() > self.settings.offline_after_s)

    def picture(self, now: dt.datetime) -> Picture:
        s = self.settings
        rows = []
        for i, r in enumerate(self._rows[: s.recent_calls]):
            age = (now - r.shown_at).total_seconds()
            blinking = i == 0 and r.announced and 0 <= age < s.blink_s
            phase = int(age / (s.blink_period_s / 2)) % 2 == 0 if blinking else True
            rows.append(CallRow(r.call_id, r.label, r.counter, r.counter_number, r.service, r.recall,
                                newest=i == 0, blinking=blinking, blink_on=phase))
        state = self._state
        langs = tuple(state.languages if state and state.languages else s.languages) or ("uk",)
        if s.layout == "alternate" and len(langs) > 1:
            if self._epoch is None:
                self._epoch = now
            step = int((now - self._epoch).total_seconds() // max(s.alternate_s, 0.5))
            shown_langs: tuple[str, ...] = (langs[step % len(langs)],)
        else:
            shown_langs = langs
        ticker_texts = dict(s.ticker)
        if state and state.ticker:
            ticker_texts.update({str(k): v for k, v in state.ticker.items()})
        ticker = "   •   ".join(t for t in (ticker_texts.get(lang, "") for lang in shown_langs) if t)
        names = dict(s.office_names)
        if state:
            names.update({str(k): v for k, v in state.office_names.items()})
        office_name = " / ".join(n for n in (names.get(lang, "") for lang in shown_langs) if n)
        load = tuple(LoadRow(item.service, {str(k): v for k, v in item.names.items()}, item.waiting, item.light,
                             item.wait_min, item.wait_max_min, bool(item.calls_stopped))
                     for item in (state.load if state else []))
        return Picture(
            rows=tuple(rows), queued=len(self._pending), load=load, clock=self._clock(now),
            languages=shown_langs, layout=s.layout, ticker=ticker, office_name=office_name,
            offline=self.offline(now), has_state=state is not None,
        )

    # --- helpers ------------------------------------------------------------------------------

    def _known(self, call_id: str) -> bool:
        return any(r.call_id == call_id for r in self._rows) or any(r.call_id == call_id for r in self._pending)

    def _is_fresh(self, entry: CallEntry, now: dt.datetime) -> bool:
        called = entry.called_at if entry.called_at.tzinfo else entry.called_at.replace(tzinfo=dt.UTC)
        return abs((now - called).total_seconds()) <= self.settings.fresh_s

    @staticmethod
    def _row_from_entry(entry: CallEntry, shown_at: dt.datetime) -> _Row:
        return _Row(entry.call_id, entry.label, entry.counter, entry.counter_number, entry.service,
                    entry.recall, shown_at, announced=False)

    @staticmethod
    def _dedupe(rows: list[_Row]) -> list[_Row]:
        """One row per ticket: a recall moves the ticket up instead of adding a second row."""
        seen: set[str] = set()
        out = []
        for r in rows:
            if r.label in seen:
                continue
            seen.add(r.label)
            out.append(r)
        return out

    def _clock(self, now: dt.datetime) -> str:
        try:
            zone = ZoneInfo(self.settings.timezone)
        except (KeyError, ValueError):
            zone = dt.UTC  # type: ignore[assignment]
        aware = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
        return aware.astimezone(zone).strftime("%H:%M")
