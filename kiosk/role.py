"""The kiosk node role: screens, the ``issue`` request, printing, and what happens when things fail.

Built by the node runtime with no arguments (``kiosk.role:KioskRole``); the printer comes from
the node config's ``hardware.printer`` options (see :class:`~kiosk.printer.PrinterConfig`), or is
given as ``printer=``.

The happy path: a tap ends in an :class:`~kiosk.ui.state.IssueRequest`; a worker thread sends
:class:`~broker_bridge.contract.IssueTicket` with ``session.request`` and, on the reply, draws
and prints the ticket. Where the office sends notifications, the ticket screen then offers "tell me
when my turn is near"; the contact goes as :class:`~broker_bridge.contract.LeaveContact` on its own
(``kiosk_contact``), after the ticket is printed. Nothing acknowledged is lost:

* **Printer fault** (paper out, cover open, printer silent): the ticket stays issued; the screen
  shows the number large with the status-page QR for a phone, and a ``node_alert`` goes out
  (cleared with ``active=false`` once the printer is healthy again).
* **Server unreachable** (no broker, or no reply within ``issue_timeout_s``): the kiosk issues a
  number from its own range (``NodeConfig.offline_range``, kept across restarts in
  ``data_dir``), prints "estimate unavailable", and puts an
  :class:`~broker_bridge.contract.OfflineTicket` in the persistent outbox; the server takes it in
  at its original time when the link returns.

:meth:`KioskRole.run` is the pygame loop (it owns the main thread); headless users (tests, the
bench, the HIL harness) drive the same role with :meth:`press`, :meth:`type_text` and
:meth:`enter`.

Reading aloud (``hardware.voice: true``, espeak-ng installed): the info screen's "Listen" gives a
:class:`~kiosk.ui.state.SpeakRequest`; the :class:`~kiosk.speaker.InfoSpeaker` renders and plays
it on its own thread, and the role silences it when the citizen taps again or leaves the page.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cherga.broker_bridge.contract import (
    LANGUAGES,
    CheckIn,
    Contact,
    HallState,
    IssueTicket,
    LeaveContact,
    OfflineTicket,
    Reply,
    TicketInfo,
)
from cherga.broker_bridge.contract import (
    NodeConfig as OfficeConfig,
)
from cherga.firmware_host.config import NodeConfig
from cherga.firmware_host.role import HealthValue
from cherga.firmware_host.session import NodeSession, Offline, RequestTimeout
from cherga.firmware_host.speech import Player
from cherga.kiosk.i18n import text
from cherga.kiosk.printer import PrinterConfig, PrinterFault, PrinterHealth, PrinterState, TicketPrinter
from cherga.kiosk.speaker import InfoSpeaker
from cherga.kiosk.ticket import render_ticket
from cherga.kiosk.ui.state import (
    SETTLE_S,
    CheckInRequest,
    ContactRequest,
    Effect,
    IssueRequest,
    KioskState,
    QueueLoad,
    Screen,
    SpeakRequest,
    StopSpeaking,
    View,
)

log = logging.getLogger(__name__)

ISSUE_TIMEOUT_S = 3.0
HEALTH_POLL_S = 10.0
# every alert the printer can raise: after a restart the kiosk does not know which of them the
# server still shows, so its first health check clears all but the current one
PRINTER_ALERTS = tuple(f"printer_{s.value}" for s in PrinterState if s not in (PrinterState.OK, PrinterState.UNKNOWN))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OfflineNumbers:
    """The kiosk's own numbers for when the server is away: a range per day, persisted.

    The file survives a restart so a number is never handed out twice on one day.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def take(self, first: int, last: int, day: dt.date) -> int | None:
        with self._lock:
            state: dict[str, Any] = {}
            if self.path.is_file():
                try:
                    state = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    state = {}
            nxt = int(state.get("next", first)) if state.get("day") == day.isoformat() else first
            nxt = max(nxt, first)
            if nxt > last:
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"day": day.isoformat(), "next": nxt + 1}))
            tmp.replace(self.path)  # atomic: a power cut leaves the old or the new count
            return nxt


class KioskRole:
    """Extends the node runtime's ``NodeRole`` (and ``BlockingRole``, for the pygame loop).

    :param printer: the ticket printer; default: from the node config's ``hardware.printer``.
    :param office: an office config to start with (tests); normally it arrives retained over MQTT.
    :param clock: monotonic seconds for the screens (idle timeout, double-tap guard).
    :param wall_clock: the time printed on tickets and given to offline tickets.
    :param issue_timeout_s: how long to wait for the server before issuing offline.
    :param screen_size: the pygame window size; default: the whole display.
    :param voice: read the "what do I need?" screen aloud; default: the node config's ``hardware.voice``
        (off). Needs espeak-ng: without it the kiosk stays silent and says so once in its log.
    :param player: how speech reaches the speaker (default: ``firmware_host.speech.make_player``).
    """

    def __init__(self, *, printer: TicketPrinter | None = None, office: OfficeConfig | None = None,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], dt.datetime] = utcnow,
                 issue_timeout_s: float = ISSUE_TIMEOUT_S, health_poll_s: float = HEALTH_POLL_S,
                 screen_size: tuple[int, int] | None = None, voice: bool | None = None,
                 player: Player | None = None, voice_dir: Path | None = None) -> None:
        self.printer = printer
        self.voice = voice
        self._voice_dir = voice_dir
        self.speaker = InfoSpeaker(voice_dir or Path(tempfile.gettempdir()) / "cherga-kiosk-voice", player=player,
                                   on_done=self._spoke)
        self._saying = 0  # the SpeakRequest the speaker is on (0: silent)
        self.office = office
        self.clock = clock
        self.wall_clock = wall_clock
        self.issue_timeout_s = issue_timeout_s
        self.health_poll_s = health_poll_s
        self.screen_size = screen_size
        self.session: NodeSession | None = None
        self.local: NodeConfig | None = None
        self.state: KioskState | None = KioskState(office, clock=clock, voice=self._voice_on()) if office else None
        self.lock = threading.RLock()
        self.numbers: OfflineNumbers | None = None
        self.issued: list[TicketInfo] = []  # every ticket this kiosk handed out, in order
        self.offline_issued = 0
        self.print_faults = 0
        self.alert_active: str | None = None
        self._alerts_known = False  # False until the first health check after start (see PRINTER_ALERTS)
        self.on_printed: Callable[[TicketInfo], None] | None = None  # bench / HIL hook
        self._jobs: queue.Queue[Effect | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._load: dict[str, QueueLoad] = {}
        self._verbs: Any = None
        self._office_cache: Path | None = None

    # --- NodeRole -------------------------------------------------------------------------------

    def start(self, session: NodeSession, config: NodeConfig) -> None:
        self.session, self.local = session, config
        if self.printer is None:
            options = dict(config.hardware.option("printer", {}) or {})
            if "devfile" not in options and config.hardware.serial.get("printer"):
                options.setdefault("type", "serial")
                options["devfile"] = config.hardware.serial["printer"]
            self.printer = TicketPrinter(PrinterConfig.from_mapping(options))
        screen = config.hardware.option("screen")
        if self.screen_size is None and screen:
            width, height = screen.lower().split("x") if isinstance(screen, str) else screen  # "1080x1920" or [w, h]
            self.screen_size = (int(width), int(height))
        self.numbers = OfflineNumbers(config.data_dir / "kiosk-offline-numbers.json")
        if self._voice_dir is None:
            self.speaker.out_dir = config.data_dir / "voice"
        with self.lock:
            if self.state is not None:
                self.state.voice = self._voice_on()
        self._office_cache = config.data_dir / "kiosk-office-config.json"
        if self.office is None and self._office_cache.is_file():
            # after a reboot with the server (and its broker) away, the kiosk still knows its office
            # and can issue from its offline range
            try:
                self._on_office_config(OfficeConfig.model_validate_json(self._office_cache.read_bytes()))
            except (OSError, ValueError):
                log.warning("ignoring an unreadable office config cache %s", self._office_cache)
        session.on_office_config(self._on_office_config)
        session.subscribe("hall_state", self._on_hall_state)
        session.on_outbox_reply(self._on_outbox_reply)
        self._stop.clear()
        self._alerts_known = False
        from cherga.firmware_host import testverbs

        self._verbs = testverbs.from_environment()
        if self._verbs is not None:  # only when CHERGA_TEST_SOCKET is set (HIL harness)
            self._verbs.register("tap", self.press)  # a button id; pace taps ≥ 0.35 s like a person
            self._verbs.register("type", self.type_text)
            self._verbs.register("enter", self.enter)
            self._verbs.register("view", self.view_dict)
            self._verbs.register("issued", lambda: [[t.label, t.origin] for t in self.issued])
            self._verbs.register("tap_random", self.tap_random)
            self._verbs.register("screenshot", self.screenshot)
            self._verbs.register("health", self.health)
        for target, name in ((self._worker, "kiosk-worker"), (self._health_loop, "kiosk-printer-health")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        if self._verbs is not None:
            self._verbs.stop()
        self._stop.set()
        self.speaker.stop()
        self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=3)
        self._threads.clear()
        if self.printer is not None:
            self.printer.close()

    def health(self) -> dict[str, HealthValue]:
        h = self.printer.last_health if self.printer else PrinterHealth(PrinterState.UNKNOWN, 0.0)
        return {
            "printer": h.state.value,
            "printer_ok": not h.fault,
            "paper_low": h.warning,
            "printer_detail": h.detail,
            "tickets": len(self.issued),
            "offline_tickets": self.offline_issued,
            "print_faults": self.print_faults,
            "screen": self.state.screen.value if self.state else "waiting_for_config",
        }

    # --- what the citizen does (from pygame, or from tests and the bench) -----------------------

    def view(self) -> View | None:
        with self.lock:
            return self.state.view() if self.state else None

    def view_dict(self) -> dict[str, Any] | None:
        """The current screen as plain data (for the HIL harness)."""
        v = self.view()
        if v is None:
            return None
        return {"screen": v.screen.value, "lang": v.lang, "title": v.title, "lines": list(v.lines), "big": v.big,
                "qr": v.qr, "alert": v.alert, "buttons": [[b.id, b.label] for b in v.buttons]}

    def screenshot(self, path: str, width: int = 1280, height: int = 800) -> str:
        """Draw the current screen off-screen into a PNG at ``path``."""
        import pygame

        from cherga.kiosk.ui.render import Renderer

        view = self.view()
        if view is None:
            raise RuntimeError("no office config yet: nothing to draw")
        surface = pygame.Surface((width, height))
        Renderer((width, height)).draw(surface, view)
        pygame.image.save(surface, path)
        return path

    def tap_random(self, seed: int | None = None, pace_s: float = SETTLE_S + 0.05) -> str | None:
        """A simulated citizen (demo, HIL): random language, service and purpose, at a person's pace.

        Returns the label of the ticket this visit got, or ``None`` (refused, no config yet).
        """
        rng = random.Random(seed)
        before = len(self.issued)
        asked = False  # this visit's request is out (or answered)
        deadline = time.monotonic() + self.issue_timeout_s + 15
        while time.monotonic() < deadline:
            view = self.view()
            if view is None:
                return None
            if len(self.issued) > before and view.screen is not Screen.ISSUING:
                return self.issued[-1].label
            if view.screen is Screen.ISSUING:
                time.sleep(0.02)
                continue
            if asked and view.screen is Screen.MESSAGE:
                return None  # refused: daily cap, closed service...
            if view.screen is Screen.TICKET:
                button = "done"  # the previous citizen's ticket is still on screen
            elif view.screen in (Screen.MESSAGE, Screen.CHECKIN):
                button = "back"
            elif view.screen is Screen.PRIORITY and rng.random() < 0.8:
                button = "priority:none"
            else:
                choices = [b.id for b in view.buttons if b.kind in ("choice", "confirm")]
                button = rng.choice([c for c in choices if not self._appointment_only(c)] or choices or ["back"])
            time.sleep(pace_s)
            self.press(button)
            after = self.view()
            asked = asked or (after is not None and view.screen not in (Screen.TICKET, Screen.MESSAGE)
                              and after.screen in (Screen.ISSUING, Screen.TICKET, Screen.MESSAGE))
        return None

    def _appointment_only(self, button_id: str) -> bool:
        kind, _, ident = button_id.partition(":")
        office = self.office
        return bool(kind == "service" and office and any(s.id == ident and s.appointment_only for s in office.services))

    def press(self, button_id: str) -> None:
        with self.lock:
            effects = self.state.press(button_id) if self.state else []
        self._submit(effects)
        self._hush_if_left()

    def type_text(self, chars: str) -> None:
        with self.lock:
            if self.state:
                self.state.type_text(chars)

    def enter(self) -> None:
        with self.lock:
            effects = self.state.enter() if self.state else []
        self._submit(effects)

    def tick(self) -> None:
        with self.lock:
            if self.state:
                self.state.tick()
        self._hush_if_left()

    def _submit(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, SpeakRequest):
                with self.lock:
                    self._saying = effect.ident
                self.speaker.say(effect.ident, effect.text, effect.language)  # its own thread
            elif isinstance(effect, StopSpeaking):
                with self.lock:
                    self._saying = 0
                self.speaker.stop()
            else:
                self._jobs.put(effect)

    # --- reading aloud --------------------------------------------------------------------------

    def _voice_on(self) -> bool:
        """The kiosk reads aloud: asked for (``voice=`` or ``hardware.voice``) and espeak-ng is here."""
        wanted = self.voice if self.voice is not None else bool(
            self.local is not None and self.local.hardware.option("voice", False) is True)  # YAML true only
        return wanted and self.speaker.available()

    def _hush_if_left(self) -> None:
        """The citizen left the page being read (back, ticket, idle timeout): silence."""
        with self.lock:
            left = bool(self._saying) and (self.state is None or self.state.speaking != self._saying)
            if left:
                self._saying = 0
        if left:
            self.speaker.stop()

    def _spoke(self, ident: int) -> None:
        with self.lock:
            if self._saying == ident:
                self._saying = 0
            if self.state is not None:
                self.state.spoke(ident)

    # --- messages from the office ---------------------------------------------------------------

    def _on_office_config(self, office: OfficeConfig) -> None:
        cache = self._office_cache
        if cache is not None and office is not self.office:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(".tmp")
                tmp.write_bytes(office.to_bytes())
                tmp.replace(cache)
            except OSError:
                log.warning("could not cache the office config in %s", cache, exc_info=True)
        with self.lock:
            self.office = office
            if self.state is None:
                self.state = KioskState(office, clock=self.clock, voice=self._voice_on())
            else:
                self.state.configure(office)
            self.state.set_load(self._load)

    def _on_hall_state(self, hall: HallState) -> None:
        # The forecast a ticket taken now would print (never the average wait so far: that is not a
        # promise anybody can hold the office to). An older server sends none: "estimate unavailable".
        load: dict[str, QueueLoad] = {
            item.service: QueueLoad(item.waiting, item.wait_min, item.wait_max_min, item.faster_at)
            for item in hall.load}
        with self.lock:
            self._load = load
            if self.state:
                self.state.set_load(load)

    def _on_outbox_reply(self, reply: Reply) -> None:
        if reply.status == "ok":
            log.info("the server took in offline ticket %s", reply.ticket.label if reply.ticket else reply.id)
        else:
            log.warning("the server refused offline ticket %s: %s", reply.id, reply.error)

    # --- the worker -----------------------------------------------------------------------------

    def _worker(self) -> None:
        while not self._stop.is_set():
            job = self._jobs.get()
            if job is None:
                return
            try:
                if isinstance(job, IssueRequest):
                    self._issue(job)
                elif isinstance(job, CheckInRequest):
                    self._check_in(job)
                elif isinstance(job, ContactRequest):
                    self._leave_contact(job)
            except Exception:
                log.exception("kiosk job %r failed", job)
                with self.lock:
                    if self.state:
                        self.state.refused(None)

    def _issue(self, req: IssueRequest) -> None:
        session = self.session
        assert session is not None
        cmd = session.command(IssueTicket, service=req.service, bundle=req.bundle, purpose=req.purpose,
                              priority=req.priority, language=req.language,
                              after_closing_ok=True if req.after_closing_ok else None,
                              asks_before_closing=True)
        try:
            reply = session.request("kiosk_issue", cmd, timeout=self.issue_timeout_s)
        except (Offline, RequestTimeout) as exc:
            log.warning("issuing offline: %s", exc)
            self._issue_offline(req, replaces=cmd.id)
            return
        if reply.status == "ok" and reply.ticket is not None:
            self._deliver(reply.ticket, offline=False)
        else:
            with self.lock:
                assert self.state is not None
                self.state.refused(reply.error.key if reply.error else None, reply.error.params if reply.error else None)

    def _check_in(self, req: CheckInRequest) -> None:
        session = self.session
        assert session is not None
        cmd = session.command(CheckIn, code=req.code, language=req.language)
        try:
            reply = session.request("kiosk_checkin", cmd, timeout=self.issue_timeout_s)
        except (Offline, RequestTimeout):
            with self.lock:
                assert self.state is not None
                self.state.refused("offline")  # a booking can only be checked against the server's book
            return
        except ValueError:  # a code the contract refuses (too short, odd letters)
            with self.lock:
                assert self.state is not None
                self.state.refused("unknown_appointment")
            return
        if reply.status == "ok" and reply.ticket is not None:
            self._deliver(reply.ticket, offline=False)
        else:
            with self.lock:
                assert self.state is not None
                self.state.refused(reply.error.key if reply.error else None, reply.error.params if reply.error else None)

    def _leave_contact(self, req: ContactRequest) -> None:
        """The citizen's contact for the ticket just printed, as its own request: the ticket never waits
        for it. Not kept in the outbox: personal data does not wait on a kiosk for a server that may
        not come back today; without the server the screen says so (and the QR on the ticket leads
        to the same form on the citizen's phone)."""
        session = self.session
        assert session is not None
        contact = Contact.model_validate({"channel": req.channel, "address": req.address, "consent": req.consent,
                                          "language": req.language})
        cmd = session.command(LeaveContact, token=req.token, contact=contact)
        try:
            reply = session.request("kiosk_contact", cmd, timeout=self.issue_timeout_s)
        except (Offline, RequestTimeout):
            reply = None
        with self.lock:
            assert self.state is not None
            if reply is None:
                self.state.contact_refused("offline")
            elif reply.status == "ok":
                self.state.contact_saved()
            else:
                self.state.contact_refused(reply.error.key if reply.error else None)

    def _issue_offline(self, req: IssueRequest, replaces: str | None = None) -> None:
        session, office, numbers = self.session, self.office, self.numbers
        assert session is not None and office is not None and numbers is not None
        now = self.wall_clock()
        number = None
        if office.offline_range:
            first, last = office.offline_range
            number = numbers.take(first, last, now.date())
        if number is None:
            with self.lock:
                assert self.state is not None
                self.state.refused("offline")
            return
        service = next((s for s in office.services if s.id == req.first_service), None)
        prefix = service.prefix if service else "X"
        cmd = session.command(OfflineTicket, service=req.first_service, purpose=req.purpose, priority=req.priority,
                              language=req.language, number=number, issued_at=now, replaces=replaces)
        session.send_later("kiosk_offline", cmd)  # durable before printing: nothing issued is lost
        ticket = TicketInfo(ticket_id=f"offline-{cmd.id}", label=f"{prefix}-{number:03d}", prefix=prefix,
                            number=number, service=req.first_service, purpose=req.purpose, status="waiting",
                            issued_at=now, language=req.language,  # type: ignore[arg-type]
                            priority=req.priority, origin="offline")
        self.offline_issued += 1
        self._deliver(ticket, offline=True)

    def _deliver(self, ticket: TicketInfo, *, offline: bool) -> None:
        office, printer = self.office, self.printer
        assert office is not None and printer is not None
        self.issued.append(ticket)
        printed = True
        try:
            printer.print_ticket(render_ticket(ticket, office, printer.layout(office.ticket)))
        except PrinterFault as fault:
            printed = False
            self.print_faults += 1
            self._printer_alert(fault.health)
        else:
            self._printer_alert(printer.last_health)
        with self.lock:
            assert self.state is not None
            self.state.issued(ticket, printed=printed, offline=offline)
        if printed and self.on_printed is not None:
            self.on_printed(ticket)

    # --- printer health -------------------------------------------------------------------------

    def _health_loop(self) -> None:
        first = True
        while first or not self._stop.wait(self.health_poll_s):
            first = False  # ask at once on start: telemetry should not say "unknown" for 10 s
            printer = self.printer
            if printer is None:
                continue
            self._printer_alert(printer.status())

    def _printer_alert(self, health: PrinterHealth) -> None:
        """One active printer alert at a time (the state the printer is in), the others cleared.

        A fault (paper out, cover open, offline) and the paper near-end warning each raise
        ``printer_<state>``; a change of state clears the previous alert, so the manager never
        sees "cover open" once the printer says something else.
        """
        kind = f"printer_{health.state.value}" if health.fault or health.warning else None
        with self.lock:
            session = self.session
            if session is None or (self._alerts_known and kind == self.alert_active):
                return
            stale = [k for k in PRINTER_ALERTS if k != kind] if not self._alerts_known else \
                [k for k in (self.alert_active,) if k is not None and k != kind]
            raise_new = kind is not None and kind != self.alert_active
            self.alert_active, self._alerts_known = kind, True
        for old in stale:
            session.publish("node_alert", session.alert(old, active=False, message=health.detail or "printer ok"))
        if raise_new:
            assert kind is not None
            session.publish("node_alert", session.alert(kind, message=health.detail or kind))

    # --- the screen -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """The pygame loop on the main thread: draw the current view, turn touches into taps."""
        import pygame

        from cherga.kiosk.ui.layout import hit
        from cherga.kiosk.ui.render import Frame, Renderer, open_display, taps_from_event

        surface = open_display(self.screen_size)
        size = surface.get_size()
        renderer = Renderer(size)
        frame: Frame | None = None
        last: View | None = None
        ticker = pygame.time.Clock()
        try:
            while not stop.is_set() and not self._stop.is_set():
                for event in pygame.event.get():
                    if event.type == pygame.KEYDOWN:
                        if event.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
                            self.enter()
                        elif event.unicode:
                            self.type_text(event.unicode)
                        continue
                    for x, y in taps_from_event(event, size):
                        if frame is not None and (button := hit(frame.layout, x, y)):
                            self.press(button)
                self.tick()
                view = self.view() or View(Screen.MESSAGE, lang="uk", title=" / ".join(
                    text(lang, "no_connection") for lang in LANGUAGES))
                if view != last:
                    frame = renderer.draw(surface, view)
                    pygame.display.flip()
                    last = view
                ticker.tick(30)
        finally:
            pygame.display.quit()
