"""The kiosk's screens as a pure state machine: no pygame, no MQTT, no clock of its own.

The citizen's path: language → services (bundles for life situations appear as one choice,
paged when the list is long) → purpose → optional priority category → a confirmation when the
queue is long (people ahead and the forecast a ticket taken now would print, "≈ 12 min, at most 25",
from the hall state) → the ticket. Booked visitors check in with the
on-screen keypad or a USB QR scanner (it types the code and Enter, like a keyboard).

Inputs: :meth:`KioskState.press` (a button id, from a finger or a mouse), :meth:`KioskState.type_text`
and :meth:`KioskState.enter` (keyboard / scanner), :meth:`KioskState.tick` (the clock moved), and
results from the role (:meth:`issued`, :meth:`refused`). Outputs: :meth:`view` (what to draw: a
title, lines and buttons with their labels in the chosen language) and *effects* returned by
``press``/``enter`` (:class:`IssueRequest`, :class:`CheckInRequest`, and on a kiosk with a voice
:class:`SpeakRequest`/:class:`StopSpeaking` from the "Listen" button of the info screen) for the
role to carry out. ``speaking`` is the request being read aloud; leaving the page clears it.

After the ticket prints, where the office sends notifications (``NodeConfig.notify``), the ticket
screen offers "Tell me when my turn is near": the channel (SMS, e-mail, Telegram: only those
configured; skipped when there is one), the address on an on-screen keyboard (digits and ``+`` for a
phone, letters for an e-mail), the consent in words (purpose and retention, as the server stores it),
then :class:`ContactRequest` for the role. A citizen who does not want it does nothing: the ticket
screen goes back to the start after the idle timeout, as before, and "No, thanks" on each step ends
it at once. Nothing typed outlives the visit (the reset clears it); nothing leaves without consent.

Two guards make a double tap harmless: a screen ignores taps for :data:`SETTLE_S` after it
appears (a second tap cannot land on the next screen's button), and once a request is out the
screen is "issuing" with no buttons at all, so a second request cannot be made.

Example::

    state = KioskState(office_config, clock=time.monotonic)
    state.press("lang:ky"); state.press("service:passport"); ...
    effects = state.press("purpose:submit")     # -> [IssueRequest(...)]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from cherga.broker_bridge.contract import PURPOSES, FasterAt, NodeConfig, TicketInfo
from cherga.kiosk.i18n import catalog, pick, reason_text, text
from cherga.kiosk.ui import info as information

IDLE_S = 15.0
SETTLE_S = 0.35  # taps this soon after a screen appears are the tail of a double tap
class QueueLoad(NamedTuple):
    """One service's queue as the hall state tells it: how many wait, and what a ticket taken now
    would print ("≈ wait_min, at most wait_max_min"; None: no estimate)."""

    waiting: int
    wait_min: int | None = None
    wait_max_min: int | None = None
    faster: FasterAt | None = None  # the same service clearly quicker at another office (issue 21)


LONG_QUEUE = 10  # people ahead from which the kiosk asks "the queue is long: get a ticket?"
CODE_KEYS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # the server's booking-code alphabet
# The contact keyboards: a phone and a Telegram chat id are digits (and + or -); an e-mail needs letters.
CONTACT_KEYS = {"sms": "1234567890+", "telegram": "1234567890-",
                "email": "abcdefghijklmnopqrstuvwxyz0123456789@._-+"}
CONTACT_MAX = 64


class Screen(enum.StrEnum):
    LANGUAGE = "language"
    SERVICES = "services"
    PURPOSE = "purpose"
    PRIORITY = "priority"
    CONFIRM = "confirm"
    CLOSING = "closing"  # not_before_closing: "closes at 17:00, likely not called today; take one anyway?"
    INFO = "info"  # "what do I need?": the documents and where to go (issue 18, kiosk/ui/info.py)
    NOTIFY = "notify"  # "tell me when my turn is near": how (SMS, e-mail, Telegram), after the ticket
    CONTACT = "contact"  # the address, on the on-screen keyboard
    CONSENT = "consent"  # the consent in words, a tick, confirm
    CHECKIN = "checkin"
    ISSUING = "issuing"
    TICKET = "ticket"
    MESSAGE = "message"


ButtonKind = Literal["choice", "nav", "key", "mode", "confirm"]


@dataclasses.dataclass(frozen=True)
class Button:
    id: str
    label: str
    kind: ButtonKind = "choice"
    active: bool = False  # a mode that is on
    icon: str | None = None  # drawn instead of the label when the label cannot fit the button
    wide: bool = False  # gets a double share of its row


@dataclasses.dataclass(frozen=True)
class View:
    """Everything one screen shows, already in the citizen's language."""

    screen: Screen
    lang: str
    title: str
    lines: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()
    big: str | None = None  # the ticket number, or the code being typed
    qr: str | None = None  # a status URL to show when the paper ticket failed
    alert: bool = False  # the printer failed: draw the number large, the message prominent
    low_reach: bool = False
    large_text: bool = False


@dataclasses.dataclass(frozen=True)
class IssueRequest:
    service: str | None
    bundle: str | None
    purpose: str
    priority: str | None
    language: str
    first_service: str  # what an offline ticket is issued for (a bundle's first service)
    after_closing_ok: bool = False  # the citizen was told it will likely not be called today and insists


@dataclasses.dataclass(frozen=True)
class CheckInRequest:
    code: str
    language: str


@dataclasses.dataclass(frozen=True)
class ContactRequest:
    """Keep ``address`` for the ticket with ``token`` (``consent`` is always true: the kiosk sends nothing else)."""

    token: str
    channel: str
    address: str
    consent: bool
    language: str


@dataclasses.dataclass(frozen=True)
class SpeakRequest:
    """Read the "what do I need?" screen aloud: ``text`` in ``language`` (``ident`` tells this one apart)."""

    ident: int
    text: str
    language: str


@dataclasses.dataclass(frozen=True)
class StopSpeaking:
    """Stop reading aloud (a second tap on "Listen", or the citizen left the page)."""


Effect = IssueRequest | CheckInRequest | ContactRequest | SpeakRequest | StopSpeaking


@dataclasses.dataclass(frozen=True)
class Choice:
    kind: Literal["service", "bundle"]
    id: str
    names: Mapping[Any, str]
    purposes: tuple[str, ...]
    appointment_only: bool
    services: tuple[str, ...]

    @property
    def button_id(self) -> str:
        return f"{self.kind}:{self.id}"


def choices_of(config: NodeConfig) -> list[Choice]:
    """Life-situation bundles first (one tap for several services), then the services."""
    out = [Choice("bundle", b.id, b.names, PURPOSES, False, tuple(b.services)) for b in config.bundles]
    out += [Choice("service", s.id, s.names, tuple(p for p in s.purposes if p in PURPOSES) or ("consult",),
                   s.appointment_only, (s.id,)) for s in config.services]
    return out


class KioskState:
    """The kiosk's screen logic.

    :param config: the office config for this kiosk (services, bundles, categories, languages).
    :param clock: seconds, monotonic (injected: tests advance it instead of sleeping).
    :param idle_s: back to the start screen after this long without a touch.
    :param long_queue: people ahead from which the citizen is asked to confirm.
    :param page_size: services per page (``large_page_size`` in large-text and low-reach modes).
    :param voice: the kiosk can read aloud: the "what do I need?" screen offers "Listen".
    """

    def __init__(self, config: NodeConfig, *, clock: Callable[[], float], idle_s: float = IDLE_S,
                 long_queue: int = LONG_QUEUE, page_size: int = 6, large_page_size: int = 4,
                 voice: bool = False) -> None:
        self.clock = clock
        self.voice = voice
        self.speaking = 0  # the SpeakRequest being read aloud (0: silent)
        self._spoken = 0  # SpeakRequest ids handed out
        self.idle_s = idle_s
        self.long_queue = long_queue
        self.page_size = page_size
        self.large_page_size = large_page_size
        self.load: dict[str, QueueLoad] = {}  # service -> waiting and the forecast, from the hall state
        self.low_reach = False
        self.large_text = False
        self.configure(config)
        self._reset()

    # --- configuration and outside facts --------------------------------------------------------

    def configure(self, config: NodeConfig) -> None:
        """Take a (new) office config; ``ticket.long_queue`` and ``ticket.idle_s`` may tune the screens."""
        self.config = config
        self.long_queue = int(config.ticket.get("long_queue", self.long_queue))
        self.idle_s = float(config.ticket.get("idle_s", self.idle_s))
        self.languages: list[str] = [str(lang) for lang in config.languages] or ["uk"]
        self.choices = choices_of(config)
        self.categories = list(config.categories)

    def set_load(self, load: Mapping[str, QueueLoad]) -> None:
        """Queue length and the forecast a ticket taken now would print, per service (the hall state)."""
        self.load = dict(load)

    # --- state ------------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.lang: str = self.languages[0]
        self.low_reach = False
        self.large_text = False
        self.page = 0
        self.choice: Choice | None = None
        self.purpose: str | None = None
        self.priority: str | None = None
        self.code = ""
        self.scan_buffer = ""
        self.ticket: TicketInfo | None = None
        self.printed = True
        self.offline = False
        self.message_key: str | None = None
        self.message_text = ""
        self.closing: Mapping[str, str | int] = {}  # not_before_closing's params
        self.channel: str | None = None  # the contact being left (cleared with the visit)
        self.address = ""
        self.consent = False
        self.contact_error: str | None = None  # why the last try was refused (a key of "contact.*")
        self.info_page = 0
        self.last_input = self.clock()
        self._go(self.start_screen)

    @property
    def start_screen(self) -> Screen:
        return Screen.LANGUAGE if len(self.languages) > 1 else Screen.SERVICES

    def _go(self, screen: Screen) -> None:
        self.speaking = 0  # reading stops with the page it read (the role stops the sound)
        self.screen = screen
        self.changed_at = self.clock()

    def _touch(self) -> None:
        self.last_input = self.clock()

    @property
    def busy(self) -> bool:
        return self.screen is Screen.ISSUING

    # --- inputs -----------------------------------------------------------------------------------

    def tick(self) -> bool:
        """Let time pass; returns True when the idle timeout took the kiosk back to the start."""
        if self.screen is Screen.ISSUING:
            return False  # a request is out: its answer (or the role's timeout) ends this screen
        if self.screen is self.start_screen and self.page == 0 and not (self.low_reach or self.large_text):
            return False
        if self.clock() - self.last_input >= self.idle_s:
            self._reset()
            return True
        return False

    def press(self, button_id: str) -> list[Effect]:
        """A tap on ``button_id``. Taps on buttons not on the current screen are ignored."""
        now = self.clock()
        if now - self.changed_at < SETTLE_S:
            return []
        if button_id not in {b.id for b in self.view().buttons}:
            return []
        self._touch()
        kind, _, arg = button_id.partition(":")
        if kind == "mode":
            if arg == "low_reach":
                self.low_reach = not self.low_reach
                self.page = 0
            elif arg == "large_text":
                self.large_text = not self.large_text
                self.page = 0
            return [StopSpeaking()] if self._silence() else []  # the page it read is cut anew
        if kind == "lang":
            self.lang = arg
            self.page = 0
            self._go(Screen.SERVICES)
            return []
        if kind == "page":
            self.page += 1 if arg == "next" else -1
            self.changed_at = now
            return []
        if kind == "back":
            return self._back()
        if kind == "appointment":
            self.code = ""
            self._go(Screen.CHECKIN)
            return []
        if kind in ("service", "bundle"):
            choice = next(c for c in self.choices if c.button_id == button_id)
            self.choice, self.purpose, self.priority = choice, None, None
            if choice.appointment_only:
                return self._message("appointment_only")
            if len(choice.purposes) > 1:
                self._go(Screen.PURPOSE)
                return []
            if self.has_info(choice):  # no purpose to ask: "what do I need?" is the step before the ticket
                return self._show_info()
            self.purpose = choice.purposes[0]
            return self._after_purpose()
        if kind == "info":
            return self._show_info()
        if kind == "infopage":
            self.info_page += 1 if arg == "next" else -1
            self.changed_at = now
            return [StopSpeaking()] if self._silence() else []
        if kind == "listen":
            if self._silence():  # a second tap stops it
                return [StopSpeaking()]
            view = self._info_view()
            self._spoken += 1
            self.speaking = self._spoken
            return [SpeakRequest(self.speaking, information.speech(view.title, view.lines), self.lang)]
        if kind == "take":  # "get a ticket" under the list of documents: they are brought to submit them
            assert self.choice is not None
            self.purpose = "submit" if "submit" in self.choice.purposes else self.choice.purposes[0]
            return self._after_purpose()
        if kind == "purpose":
            self.purpose = arg
            return self._after_purpose()
        if kind == "priority":
            self.priority = None if arg == "none" else arg
            return self._after_priority()
        if kind == "confirm":
            return self._issue()
        if kind == "anyway":
            return self._issue(after_closing_ok=True)
        if kind == "key":
            if arg == "del":
                self.code = self.code[:-1]
            elif arg == "ok":
                return self._check_in(self.code)
            elif len(self.code) < 12:
                self.code += arg
            return []
        if kind == "done" or kind == "nothanks":
            self._reset()
            return []
        if kind == "notify":
            return self._offer()
        if kind == "channel":
            self._start_contact(arg)
            return []
        if kind == "ckey":
            if arg == "edit":  # back from the consent to the keyboard, with what was typed
                self._go(Screen.CONTACT)
                return []
            if arg == "del":
                self.address = self.address[:-1]
            elif arg == "ok":
                return self._contact_typed()
            elif len(self.address) < CONTACT_MAX:
                self.address += arg
            self.contact_error = None
            return []
        if kind == "agree":
            self.consent = not self.consent
            self.contact_error = None
            return []
        if kind == "save":
            return self._save_contact()
        return []

    def type_text(self, chars: str) -> None:
        """Keyboard or scanner characters (a scanner types the booking code, then Enter)."""
        self._touch()
        if self.screen is Screen.CONTACT and self.channel is not None:
            allowed = CONTACT_KEYS[self.channel]
            typed = "".join(ch for ch in chars.lower() if ch in allowed)
            self.address = (self.address + typed)[:CONTACT_MAX]
            return
        for ch in chars.upper():
            if ch.isalnum() or ch == "-":
                if self.screen is Screen.CHECKIN:
                    self.code = (self.code + ch)[:16]
                else:
                    self.scan_buffer = (self.scan_buffer + ch)[-32:]

    def enter(self) -> list[Effect]:
        """Enter from a keyboard or the scanner: check in the code typed so far."""
        self._touch()
        if self.screen is Screen.CHECKIN:
            return self._check_in(self.code)
        if self.screen is Screen.CONTACT:
            return self._contact_typed()
        code, self.scan_buffer = self.scan_buffer, ""
        if self.busy or len(code) < 3:
            return []
        if self.screen in (Screen.TICKET, Screen.MESSAGE):
            self._reset()
        return self._check_in(code)

    # --- answers from the role --------------------------------------------------------------------

    def issued(self, ticket: TicketInfo, *, printed: bool, offline: bool = False) -> None:
        """The ticket exists (from the server, or from the offline range). Show it."""
        self.ticket, self.printed, self.offline = ticket, printed, offline
        self._touch()
        self._go(Screen.TICKET)

    def refused(self, reason: str | None, params: Mapping[str, str | int] | None = None) -> None:
        """The server said no (closed, daily cap, appointment only, unknown code...).

        ``not_before_closing`` is a question, not an end: the screen says when the service closes,
        names the earliest free booking (``params["slot"]``) and offers to take the ticket anyway."""
        self._touch()
        if reason == "not_before_closing" and self.choice is not None:
            self.closing = dict(params or {})
            self._go(Screen.CLOSING)
            return
        self._message(reason)

    def contact_saved(self) -> None:
        """The server keeps the contact: say so; the visit ends with "Done" or the idle timeout."""
        self._touch()
        self.address, self.consent = "", False  # said once, not kept on screen
        self.message_key, self.message_text = "contact_saved", self._t("contact_saved")
        self._go(Screen.MESSAGE)

    def contact_refused(self, key: str | None) -> None:
        """The server (or no server) refused the contact; the ticket stands. A typing mistake goes
        back to the keyboard with what was typed; anything else is said and ends the offer."""
        self._touch()
        self.contact_error = key
        if key in ("bad_phone", "bad_email", "bad_telegram"):
            self._go(Screen.CONTACT)
        elif key == "consent_required":
            self.consent = False
            self._go(Screen.CONSENT)
        else:
            self.address, self.consent = "", False
            self.message_key = "contact_failed"
            self.message_text = self._contact_error_text(key)
            self._go(Screen.MESSAGE)

    # --- the contact ("tell me when my turn is near") -------------------------------------------

    @property
    def contact_channels(self) -> list[str]:
        """The channels this office sends by, or [] (then the kiosk offers nothing)."""
        offer = self.config.notify
        return list(offer.channels) if offer is not None else []

    def offers_contact(self) -> bool:
        t = self.ticket
        return bool(self.contact_channels) and t is not None and bool(t.token) and not self.offline \
            and t.status == "waiting"

    def _offer(self) -> list[Effect]:
        channels = self.contact_channels
        if len(channels) == 1:
            self._start_contact(channels[0])
        else:
            self._go(Screen.NOTIFY)
        return []

    def _start_contact(self, channel: str) -> None:
        if channel not in self.contact_channels:
            return
        if channel != self.channel:
            self.address = "+" if channel == "sms" else ""  # the international form starts with +
        self.channel, self.contact_error = channel, None
        self._go(Screen.CONTACT)

    def _contact_typed(self) -> list[Effect]:
        """OK on the keyboard: the same check the server makes, so a slip is shown at once."""
        from cherga.broker_bridge.contract import ContactProblem, contact_address

        assert self.channel is not None
        try:
            contact_address(self.channel, self.address)
        except ContactProblem as exc:
            self.contact_error = exc.key
            return []
        self.contact_error = None
        self._go(Screen.CONSENT)
        return []

    def _save_contact(self) -> list[Effect]:
        if not self.consent:
            self.contact_error = "consent_required"  # nothing leaves the kiosk without the tick
            return []
        assert self.ticket is not None and self.ticket.token and self.channel is not None
        self._go(Screen.ISSUING)
        return [ContactRequest(token=self.ticket.token, channel=self.channel, address=self.address,
                               consent=True, language=self.lang)]

    def _contact_error_text(self, key: str | None) -> str:
        found = f"contact.{key}"
        return self._t(found) if key and found in catalog(self.lang) else self._t("contact.generic")

    def _consent_text(self) -> str:
        """The consent as the server words it and stores it with the contact (NodeConfig.notify.consent)."""
        offer = self.config.notify
        return (pick(offer.consent, self.lang) if offer is not None else "") or self._t("consent_agree")

    def _contact_view(self, s: Screen) -> View:
        no_thanks = Button("nothanks", self._t("no_thanks"), "nav")
        error = (self._contact_error_text(self.contact_error),) if self.contact_error else ()
        label = self.ticket.label if self.ticket is not None else ""
        if s is Screen.NOTIFY:
            buttons = [Button(f"channel:{ch}", self._t(f"channel.{ch}")) for ch in self.contact_channels]
            return self._v(s, title=self._t("notify_title"), lines=(self._t("notify_intro", ticket=label),),
                           buttons=tuple(buttons + [no_thanks] + self._modes()))
        assert self.channel is not None
        if s is Screen.CONTACT:
            keys = [Button(f"ckey:{k}", k, "key") for k in CONTACT_KEYS[self.channel]]
            keys += [Button("ckey:del", self._t("delete"), "nav"), Button("ckey:ok", self._t("ok_next"), "confirm")]
            back = [Button("notify", self._t("back"), "nav")] if len(self.contact_channels) > 1 else []
            hint = () if self.low_reach and not error else (self._t(f"hint.{self.channel}"),)
            return self._v(s, title=self._t(f"enter.{self.channel}"), lines=error or hint, big=self.address or "_",
                           buttons=tuple(keys + back + [no_thanks] + self._modes()))
        # The tick box says the whole consent (purpose and retention, the server's words): what is ticked is what is read.
        shown = f"{self._t(f'channel.{self.channel}')}: {self.address}"
        agree = Button("agree", f"{'☑' if self.consent else '☐'} {self._consent_text()}", "choice", active=self.consent)
        return self._v(s, title=self._t("consent_title"), lines=error or (shown,),
                       buttons=(agree, Button("save", self._t("confirm"), "confirm"),
                                Button("ckey:edit", self._t("back"), "nav"), no_thanks, *self._modes()))

    # --- transitions ------------------------------------------------------------------------------

    def _message(self, reason: str | None) -> list[Effect]:
        self.message_key = reason
        self.message_text = reason_text(self.lang, reason)
        self._go(Screen.MESSAGE)
        return []

    def _back(self) -> list[Effect]:
        previous = {
            Screen.SERVICES: Screen.LANGUAGE,
            Screen.PURPOSE: Screen.SERVICES,
            Screen.PRIORITY: Screen.PURPOSE if self.choice and len(self.choice.purposes) > 1 else Screen.SERVICES,
            Screen.CONFIRM: Screen.PRIORITY if self.categories else Screen.PURPOSE,
            Screen.CHECKIN: Screen.SERVICES if len(self.languages) > 1 else self.start_screen,
            Screen.MESSAGE: Screen.SERVICES,
            Screen.CLOSING: Screen.SERVICES,
            Screen.INFO: Screen.PURPOSE,
        }.get(self.screen, self.start_screen)
        if previous is Screen.PURPOSE and self.choice and len(self.choice.purposes) <= 1:
            previous = Screen.SERVICES
        if previous is Screen.LANGUAGE and len(self.languages) <= 1:
            previous = Screen.SERVICES
        self._go(previous)
        return []

    def spoke(self, ident: int) -> None:
        """The role finished (or stopped) reading ``ident`` aloud: "Listen" is offered again."""
        if self.speaking == ident:
            self.speaking = 0

    def _silence(self) -> bool:
        was, self.speaking = self.speaking, 0
        return bool(was)

    def has_info(self, choice: Choice) -> bool:
        return information.has_info(self.config, choice.kind, choice.id, choice.services)

    def _show_info(self) -> list[Effect]:
        self.info_page = 0
        self._go(Screen.INFO)
        return []

    def _info_view(self) -> View:
        assert self.choice is not None
        c = self.choice
        lines = information.info_lines(self.config, c.kind, c.id, c.services, self.lang)
        pages = information.paged(lines, self.large_text or self.low_reach)
        self.info_page = max(0, min(self.info_page, len(pages) - 1))
        nav = [Button("take", self._t("get_ticket"), "confirm", wide=True), Button("back", self._t("back"), "nav")]
        if self.info_page > 0:
            nav.append(Button("infopage:prev", self._t("page_prev"), "nav", icon="◀"))
        if self.info_page < len(pages) - 1:
            nav.append(Button("infopage:next", self._t("page_next"), "nav", icon="▶"))
        if self.voice:
            nav.append(Button("listen", self._t("listen_stop" if self.speaking else "listen"), "nav", icon="♪"))
        return self._v(Screen.INFO, title=f"{self._t('info_title')}: {self.choice_name(c)}",
                       lines=tuple(pages[self.info_page]), buttons=tuple(nav + self._modes()))

    def _after_purpose(self) -> list[Effect]:
        if self.categories:
            self._go(Screen.PRIORITY)
            return []
        return self._after_priority()

    def queue_of(self, choice: Choice) -> QueueLoad | None:
        first = choice.services[0] if choice.services else None
        return self.load.get(first) if first else None

    def _after_priority(self) -> list[Effect]:
        assert self.choice is not None
        load = self.queue_of(self.choice)
        # A long queue, or another office of the network where the same service is clearly quicker:
        # ask before issuing, so the citizen can choose to go there instead.
        if load is not None and (load.waiting >= self.long_queue or load.faster is not None):
            self._go(Screen.CONFIRM)
            return []
        return self._issue()

    def _issue(self, *, after_closing_ok: bool = False) -> list[Effect]:
        assert self.choice is not None
        choice = self.choice
        effect = IssueRequest(
            service=choice.id if choice.kind == "service" else None,
            bundle=choice.id if choice.kind == "bundle" else None,
            purpose=self.purpose or choice.purposes[0], priority=self.priority, language=self.lang,
            first_service=choice.services[0] if choice.services else choice.id, after_closing_ok=after_closing_ok,
        )
        self._go(Screen.ISSUING)
        return [effect]

    def _check_in(self, code: str) -> list[Effect]:
        code = code.strip().upper()
        if len(code) == 8 and "-" not in code:
            code = f"{code[:4]}-{code[4:]}"  # the keypad types ABCD2345; the server prints ABCD-2345
        if len(code) < 3:
            return []
        self._go(Screen.ISSUING)
        return [CheckInRequest(code=code, language=self.lang)]

    # --- the view ---------------------------------------------------------------------------------

    def _t(self, key: str, **values: Any) -> str:
        return text(self.lang, key, **values)

    def _modes(self) -> list[Button]:
        return [Button("mode:low_reach", self._t("low_reach"), "mode", self.low_reach, icon="♿"),
                Button("mode:large_text", self._t("large_text"), "mode", self.large_text, icon="A+")]

    def _wait_text(self, minutes: float | None, most: int | None = None) -> str:
        """"Estimated wait: ≈ 12 min", or with the forecast's upper bound "≈ 12 min, at most 25"."""
        if minutes is None:
            return self._t("estimate_unavailable")
        if most is not None and most > round(minutes):
            return f"{self._t('estimated_wait')}: {self._t('wait_range_minutes', n=round(minutes), m=most)}"
        return f"{self._t('estimated_wait')}: {self._t('wait_minutes', n=round(minutes))}"

    def _faster_text(self, faster: FasterAt) -> str:
        """"Faster at <office>, <address>: ≈ N min" in the kiosk's language (names from the region file)."""
        return self._t("faster_at", office=pick(faster.names, self.lang), address=pick(faster.address, self.lang),
                       n=faster.wait_min)

    def _slot_text(self, slot: object) -> str | None:
        """The server's ISO booking time as the office's clock reads it: "26.11 10:00"."""
        if not isinstance(slot, str):
            return None
        try:
            when = dt.datetime.fromisoformat(slot)
        except ValueError:
            return None
        try:
            from zoneinfo import ZoneInfo
            when = when.astimezone(ZoneInfo(self.config.timezone))
        except (KeyError, ValueError, OSError):
            pass  # an unknown zone: the server's own offset is the office's anyway
        return f"{when:%d.%m %H:%M}"

    def choice_name(self, choice: Choice) -> str:
        return pick(choice.names, self.lang)

    def pages(self) -> list[Sequence[Choice]]:
        size = self.large_page_size if self.large_text or self.low_reach else self.page_size
        return [self.choices[i:i + size] for i in range(0, len(self.choices), size)] or [[]]

    def _v(self, screen: Screen, **fields: Any) -> View:
        return View(screen, lang=self.lang, low_reach=self.low_reach, large_text=self.large_text, **fields)

    def view(self) -> View:
        s = self.screen
        back = Button("back", self._t("back"), "nav")
        if s is Screen.LANGUAGE:
            buttons = [Button(f"lang:{lang}", text(lang, "language_name")) for lang in self.languages]
            title = " / ".join(dict.fromkeys(text(lang, "choose_language") for lang in self.languages[:2]))
            return self._v(s, title=title, buttons=tuple(buttons + self._modes()))
        if s is Screen.SERVICES:
            pages = self.pages()
            self.page = max(0, min(self.page, len(pages) - 1))
            buttons = [Button(c.button_id, self.choice_name(c)) for c in pages[self.page]]
            nav: list[Button] = []
            if len(self.languages) > 1:
                nav.append(back)
            if self.page > 0:
                nav.append(Button("page:prev", self._t("page_prev"), "nav", icon="◀"))
            if self.page < len(pages) - 1:
                nav.append(Button("page:next", self._t("page_next"), "nav", icon="▶"))
            nav.append(Button("appointment", self._t("appointment"), "nav", wide=True))
            return self._v(s, title=self._t("choose_service"), buttons=tuple(buttons + nav + self._modes()))
        if s is Screen.PURPOSE:
            assert self.choice is not None
            buttons = [Button(f"purpose:{p}", self._t(f"purpose.{p}")) for p in self.choice.purposes]
            if self.has_info(self.choice):
                buttons.append(Button("info", self._t("info_button"), "nav", wide=True))
            return self._v(s, title=self._t("choose_purpose"), lines=(self.choice_name(self.choice),),
                        buttons=tuple(buttons + [back] + self._modes()))
        if s is Screen.INFO:
            return self._info_view()
        if s is Screen.PRIORITY:
            buttons = [Button("priority:none", self._t("no_priority"))]
            buttons += [Button(f"priority:{c.id}", pick(c.names, self.lang)) for c in self.categories]
            return self._v(s, title=self._t("choose_priority"), buttons=tuple(buttons + [back] + self._modes()))
        if s is Screen.CONFIRM:
            assert self.choice is not None
            load = self.queue_of(self.choice) or QueueLoad(0)
            lines: tuple[str, ...] = (self.choice_name(self.choice), self._t("people_ahead", n=load.waiting),
                                      self._wait_text(load.wait_min, load.wait_max_min))
            if load.faster is not None:
                lines += (self._faster_text(load.faster),)
            return self._v(s, title=self._t("queue_long"), lines=lines,
                        buttons=(Button("confirm", self._t("get_ticket"), "confirm"),
                                 Button("back", self._t("cancel"), "nav"), *self._modes()))
        if s is Screen.CLOSING:
            assert self.choice is not None
            told = [self.choice_name(self.choice)]
            if (slot := self._slot_text(self.closing.get("slot"))) is not None:
                told.append(self._t("earliest_booking", slot=slot))
            return self._v(s, title=self._t("reason.not_before_closing", closing=self.closing.get("closing", "?")),
                           lines=tuple(told),
                           buttons=(Button("anyway", self._t("take_anyway"), "confirm"), back, *self._modes()))
        if s is Screen.CHECKIN:
            keys = [Button(f"key:{k}", k, "key") for k in CODE_KEYS]
            keys += [Button("key:del", self._t("delete"), "nav"), Button("key:ok", self._t("ok"), "confirm")]
            shown = self.code if len(self.code) <= 4 or "-" in self.code else f"{self.code[:4]}-{self.code[4:]}"
            hint = () if self.low_reach else (self._t("scan_hint"),)  # half the height: keys first
            return self._v(s, title=self._t("enter_code"), lines=hint, big=shown or "_",
                        buttons=tuple(keys + [back] + self._modes()))
        if s is Screen.ISSUING:
            return self._v(s, title=self._t("issuing"))
        if s is Screen.TICKET:
            assert self.ticket is not None
            t = self.ticket
            info: list[str] = []
            choice = next((c for c in self.choices if c.kind == "service" and c.id == t.service), None)
            if choice:
                info.append(self.choice_name(choice))
            if t.people_ahead is not None:
                info.append(self._t("people_ahead", n=t.people_ahead))
            info.append(self._wait_text(t.wait_min, t.wait_max_min))
            if t.counter_number:
                info.append(self._t("window", n=t.counter_number))
            if self.offline:
                info.append(self._t("no_connection"))
            title = self._t("take_ticket") if self.printed else self._t("printer_fault")
            if not self.printed and t.status_url:
                info.append(self._t("scan_to_follow"))
            done = Button("done", self._t("ok"), "confirm")
            offer = (Button("notify", self._t("notify_offer"), "nav", wide=True),) if self.offers_contact() else ()
            return self._v(s, title=title, lines=tuple(info), big=t.label,
                        qr=None if self.printed else t.status_url, alert=not self.printed,
                        buttons=(*offer, done))
        if s in (Screen.NOTIFY, Screen.CONTACT, Screen.CONSENT):
            return self._contact_view(s)
        # MESSAGE
        if self.message_key in ("contact_saved", "contact_failed"):  # the ticket is in hand: the visit ends
            return self._v(s, title=self.message_text, buttons=(Button("done", self._t("ok"), "confirm"),))
        buttons = [back]
        if self.message_key == "appointment_only":
            buttons.append(Button("appointment", self._t("appointment"), "nav"))
        return self._v(s, title=self.message_text, buttons=tuple(buttons + self._modes()))
