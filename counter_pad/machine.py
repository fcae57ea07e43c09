"""The counter pad's state machine: which press sends which command, and what the LEDs show.

Pure: no gpiozero, no MQTT, no clock of its own. The shell (:mod:`counter_pad.role`) feeds it
debounced button events, keypad keys, link changes, counter states and replies, each with the
monotonic time ``t``; it answers with :class:`Outgoing` commands to send and offers a
:class:`PadView` (LED modes and the number for the counter-top board) to draw.

The rules staff notice:

* Real-time buttons (next, recall, no-show, transfer, pause/resume, sign-in) are sent *now or
  never*. With the link down, the press blinks the offline LED and sends nothing, so nobody is
  called later by a press made minutes ago, and nothing is called twice when the link returns.
* One real-time command at a time: a second press while the first is unanswered is refused
  (a double press on "next" never skips a visitor).
* A pad with nobody signed in calls nobody: the press is refused here and again by the server.
* Ratings are durable: they go to the node's outbox and may wait for the link. Each finished
  ticket is rated at most once from this pad; the server refuses a second rating or an unknown
  ticket anyway.
* The counter state the server publishes is the truth: after any reconnect the pad redraws from
  the retained state, whatever it believed before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
import secrets
from collections.abc import Callable

from cherga.broker_bridge.contract import CounterAction, CounterCommand, CounterState, PauseReason, Reply
from cherga.counter_pad.words import refusal_text


class PadButton(enum.StrEnum):
    NEXT = "next"
    RECALL = "recall"
    NO_SHOW = "no_show"
    TRANSFER = "transfer"
    PAUSE = "pause"  # pause / resume, by the counter's status


class LedMode(enum.StrEnum):
    OFF = "off"
    ON = "on"
    BLINK = "blink"


LEDS = ("idle", "calling", "serving", "offline")


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """A command for the server. ``durable``: through the outbox (may wait); else now or never."""

    command: CounterCommand
    durable: bool = False


@dataclasses.dataclass(frozen=True)
class PadView:
    """What the pad shows: one mode per status LED, the number for the counter-top board."""

    leds: dict[str, LedMode]
    number: str  # "" = blank board
    blink: bool  # the number blinks while the visitor is being called
    message: str | None  # last refusal or error key ("offline", "not_signed_in", "queue_empty", ...)
    pin_digits: int  # digits typed so far on the keypad (shown as dots, never the digits)
    # While a refused press blinks its LED: that refusal as a short word in the office's language
    # (``counter_pad.words``), which the counter-top board shows instead of the number; else "".
    text: str = ""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PadMachine:
    """The state of one counter pad.

    :param node: this pad's node id (goes into every command).
    :param counter: the counter it belongs to.
    :param transfer_service: where the transfer button sends the current visitor (a service id),
        usually the first of the counter's ``transfer_targets``.
    :param transfer_counter: or a counter id to send them to.
    :param pause_reason: the reason the pause button gives (the node config's ``hardware.pause_reason``).
    :param rating_buttons: how many faces the citizen's rating row has (1 = best face).
    :param reply_timeout_s: an unanswered real-time command counts as a lost link after this.
    :param flash_s: how long a refused press blinks its LED.
    :param wall: the wall clock for command timestamps.
    :param new_id: makes command ids (unique per command; the server applies each id once).
    """

    def __init__(
        self,
        *,
        node: str,
        counter: str,
        transfer_service: str | None = None,
        transfer_counter: str | None = None,
        pause_reason: PauseReason = PauseReason.BREAK,
        rating_buttons: int = 4,
        reply_timeout_s: float = 3.0,
        flash_s: float = 2.0,
        pin_timeout_s: float = 15.0,
        wall: Callable[[], dt.datetime] = _utc_now,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        if not 2 <= rating_buttons <= 10:
            raise ValueError("a rating row has 2 to 10 buttons")
        self.node = node
        self.counter = counter
        self.transfer_service = transfer_service
        self.transfer_counter = transfer_counter
        self.pause_reason = PauseReason(pause_reason)
        self.rating_buttons = rating_buttons
        self.reply_timeout_s = reply_timeout_s
        self.flash_s = flash_s
        self.pin_timeout_s = pin_timeout_s
        self._wall = wall
        boot = secrets.token_hex(3)
        seq = itertools.count(1)
        self._new_id = new_id or (lambda: f"{node}.{boot}.{next(seq)}")
        self.link_up = False
        self.state: CounterState | None = None
        self.pending: dict[str, tuple[CounterAction, float]] = {}  # id -> (action, deadline)
        self.message: str | None = None
        self.language = "uk"  # the office's first language (the role sets it from the node config)
        self._refused_until = 0.0
        self._flash: dict[str, float] = {}  # led -> blink until
        self._rated: set[str] = set()
        self._pin = ""
        self._pin_at = 0.0

    # --- inputs ----------------------------------------------------------------------------------

    def press(self, button: PadButton, t: float, *, long: bool = False) -> list[Outgoing]:
        """A debounced press (``long``: held past the long-press time)."""
        st = self.state
        if button is PadButton.NEXT:
            action = CounterAction.START if long else CounterAction.NEXT
        elif button is PadButton.RECALL:
            action = CounterAction.RECALL
        elif button is PadButton.NO_SHOW:
            action = CounterAction.NO_SHOW
        elif button is PadButton.TRANSFER:
            action = CounterAction.TRANSFER
        elif long:
            action = CounterAction.SIGN_OUT
        else:
            action = CounterAction.RESUME if st is not None and st.status == "paused" else CounterAction.PAUSE
        return self._realtime(action, t, return_after=long and button is PadButton.TRANSFER)

    def rate(self, face: int, t: float) -> list[Outgoing]:
        """The citizen pressed rating face ``face`` (1 = best). Durable: may wait in the outbox."""
        if not 1 <= face <= self.rating_buttons:
            raise ValueError(f"face {face} is not on a row of {self.rating_buttons}")
        st = self.state
        ticket = st.rateable_ticket if st is not None else None
        if ticket is None or ticket in self._rated:
            return self._refuse("nothing_to_rate", "idle", t)
        self._rated.add(ticket)
        cmd = self._command(CounterAction.RATE, ticket_id=ticket, score=face,
                            operator=st.operator if st is not None else None)
        self.message = None
        return [Outgoing(cmd, durable=True)]

    def key(self, key: str, t: float) -> list[Outgoing]:
        """A keypad key: digits build the PIN, ``*`` clears it, ``#`` signs in with it."""
        if self._pin and t - self._pin_at > self.pin_timeout_s:
            self._pin = ""  # a half-typed PIN left on the desk does not linger
        self._pin_at = t
        if key.isdigit() and len(key) == 1:
            if len(self._pin) < 12:
                self._pin += key
            return []
        if key == "*":
            self._pin = ""
            return []
        if key == "#":
            pin, self._pin = self._pin, ""
            if len(pin) < 4:
                return self._refuse("pin_too_short", "idle", t)
            return self._realtime(CounterAction.SIGN_IN, t, pin=pin)
        return []

    def link(self, up: bool, t: float) -> None:
        """The broker (and the server behind it) became reachable or unreachable."""
        self.link_up = up
        if not up:
            # Whatever was in flight may or may not have been applied; it is never re-sent.
            # The retained counter state after the reconnect tells the truth.
            self.pending.clear()

    def server_state(self, state: CounterState) -> None:
        """A counter state from the server (retained topic or inside a reply)."""
        if state.counter != self.counter:
            return
        cur = self.state
        if cur is not None and (state.seq, state.updated_at) < (cur.seq, cur.updated_at):
            return  # an older state arriving late must not undo a newer one
        self.state = state

    def reply(self, reply: Reply, t: float) -> None:
        """The server's answer to one of our commands."""
        self.pending.pop(reply.id, None)
        if reply.counter is not None:
            self.server_state(reply.counter)
        if reply.status == "ok":
            self.message = None
        elif reply.status == "empty":
            self._refuse("queue_empty", "idle", t)
        else:
            self._refuse(reply.error.key if reply.error else "error", "idle", t)

    def send_failed(self, command_id: str, t: float) -> None:
        """A real-time command could not be published: the link is down; the command is dropped."""
        self.pending.pop(command_id, None)
        self.link_up = False
        self._refuse("offline", "offline", t)

    def tick(self, t: float) -> None:
        """Time passes: unanswered commands time out."""
        for cid, (_action, deadline) in list(self.pending.items()):
            if t >= deadline:
                del self.pending[cid]
                self._refuse("no_reply", "offline", t)

    # --- output ----------------------------------------------------------------------------------

    def view(self, t: float) -> PadView:
        st = self.state
        status = st.status if st is not None else "closed"
        leds = dict.fromkeys(LEDS, LedMode.OFF)
        signed_in = st is not None and st.operator is not None
        if signed_in:
            if status == "idle":
                leds["idle"] = LedMode.ON
            elif status == "paused":
                leds["idle"] = LedMode.BLINK
            elif status == "calling":
                leds["calling"] = LedMode.ON
            elif status == "serving":
                leds["serving"] = LedMode.ON
        if not self.link_up:
            leds["offline"] = LedMode.ON
        for led, until in self._flash.items():
            if t < until:
                leds[led] = LedMode.BLINK
        number = ""
        if st is not None and st.ticket is not None and status in ("calling", "serving"):
            number = st.ticket.label
        text = refusal_text(self.language, self.message) if self.message and t < self._refused_until else ""
        return PadView(leds=leds, number=number, blink=bool(number) and status == "calling", message=self.message,
                       pin_digits=len(self._pin), text=text)

    # --- helpers ---------------------------------------------------------------------------------

    def _refuse(self, key: str, led: str, t: float) -> list[Outgoing]:
        self.message = key
        self._flash[led] = t + self.flash_s
        self._refused_until = t + self.flash_s
        return []

    def _realtime(self, action: CounterAction, t: float, **fields: object) -> list[Outgoing]:
        if not self.link_up:
            return self._refuse("offline", "offline", t)
        st = self.state
        if self.pending:
            return self._refuse("busy", "idle", t)
        if action is not CounterAction.SIGN_IN:
            if st is None or st.operator is None:
                return self._refuse("not_signed_in", "idle", t)
            if action in (CounterAction.RECALL, CounterAction.NO_SHOW, CounterAction.TRANSFER,
                          CounterAction.START) and st.ticket is None:
                return self._refuse("no_ticket", "idle", t)
        if action is CounterAction.TRANSFER:
            if self.transfer_service is None and self.transfer_counter is None:
                return self._refuse("no_transfer_target", "idle", t)
            fields["to_service"] = self.transfer_service
            fields["to_counter"] = self.transfer_counter
        if action is CounterAction.PAUSE:
            fields["pause_reason"] = self.pause_reason
        cmd = self._command(action, **fields)
        self.pending[cmd.id] = (action, t + self.reply_timeout_s)
        self.message = None
        return [Outgoing(cmd, durable=False)]

    def _command(self, action: CounterAction, **fields: object) -> CounterCommand:
        data = {k: v for k, v in fields.items() if v is not None}
        return CounterCommand(id=self._new_id(), node=self.node, ts=self._wall(), action=action, **data)  # type: ignore[arg-type]
