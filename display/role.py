"""The hall display node role: MQTT in, TV picture, voice and LED boards out.

:class:`DisplayRole` implements :class:`firmware_host.role.NodeRole` (and ``run`` of
:class:`~firmware_host.role.BlockingRole`, since pygame owns the main thread). Session handlers
run on paho's thread and only put messages in a queue; the UI loop (:meth:`DisplayRole.step`)
drains it into the pure :class:`~display.board.HallBoard`, draws a frame as soon as something
changed, hands newly shown calls to the :class:`~display.voice.Announcer` (so every spoken call
is also on screen) and the hall LED board, and copies counter states to counter-top boards.

Node config (``hardware:`` of the node's file), all optional::

    hardware:
      audio_device: hw:1,0
      serial: {led: /dev/ttyUSB0}        # or VIRTUAL (emulated boards, for a bench)
      screen: 1920x1080                  # default: the display's own size
      led_boards:
        - {name: hall, address: 10, kind: matrix, lines: 4, cols: 12}
        - {name: c3, address: 3, kind: counter, counter: c3}
      voice_dir: /var/lib/cherga/voice   # the office's recorded fragments (default: data_dir/voice)

Health for telemetry: connection, calls shown, frames, voice queue, each LED board.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cherga.broker_bridge.contract import CounterState, HallCall, HallState, NodeAlert
from cherga.broker_bridge.contract import NodeConfig as OfficeConfig
from cherga.display.board import BoardSettings, HallBoard, Picture, Promotion
from cherga.display.voice import Announcer, FragmentCache, Player, Spoken, VoiceSettings
from cherga.firmware_host import testverbs
from cherga.firmware_host.ledboard import (
    BoardHealth,
    BoardLink,
    BoardSet,
    CounterBoard,
    EmulatedBoard,
    HallMatrixBoard,
    LedBoard,
    board_alert,
    open_port,
)

if TYPE_CHECKING:
    import pygame

    from cherga.firmware_host.config import NodeConfig
    from cherga.firmware_host.session import NodeSession

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _parse_size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, str) and "x" in value:
        w, h = value.lower().split("x", 1)
        return int(w), int(h)
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


class DisplayRole:
    """The hall display.

    :param boards: the LED boards (default: from ``hardware.led_boards``; none if not configured).
    :param player: the audio player (default: :func:`display.voice.make_player`).
    :param clock: ``now()`` (aware datetime) for the board model, blink and quiet hours.
    :param size: screen size (default: ``hardware.screen`` or the display's own).
    :param window: open a pygame window in :meth:`run` (False: draw off-screen, e.g. benchmarks).
    """

    def __init__(self, *, boards: BoardSet | None = None, player: Player | None = None,
                 clock: Clock | None = None, size: tuple[int, int] | None = None, window: bool = True,
                 fps: float = 20.0) -> None:
        self.boards = boards
        self.player = player
        self.clock: Clock = clock or _utcnow
        self.size = size
        self.window = window
        self.fps = fps
        self.board = HallBoard()
        self.announcer: Announcer | None = None
        self.session: NodeSession | None = None
        self.config: NodeConfig | None = None
        self.office: OfficeConfig | None = None
        self.frame: pygame.Surface | None = None
        self.frames_drawn = 0
        self.latencies_ms: deque[float] = deque(maxlen=5000)
        self.spoken: list[Spoken] = []
        self._inbox: queue.Queue[tuple[str, Any, float]] = queue.Queue()
        self._received: dict[str, float] = {}
        self._renderer: Any = None
        self._surface: pygame.Surface | None = None
        self._last_picture: Picture | None = None
        self._connected = False
        self._counter_boards: dict[str, str] = {}  # counter id -> board name
        self._hall_boards: list[str] = []
        self._hall_sent: list[tuple[str, str]] | None = None  # the rows last sent to the hall boards
        self.virtual_bus: Any = None
        self._t0 = time.monotonic()
        self._news = threading.Event()
        self._verbs: testverbs.TestVerbServer | None = None
        self.voice_missing: list[str] = []  # programs the voice needs that are not installed

    # --- NodeRole -----------------------------------------------------------------------------

    def start(self, session: NodeSession, config: NodeConfig) -> None:
        self.session, self.config = session, config
        hw = config.hardware
        self.size = self.size or _parse_size(hw.option("screen"))
        if self.boards is None:
            self.boards = self._boards_from_config(config)
        if self.boards is not None:
            self.boards.on_health = self._on_board_health
            self.boards.start()
        self.board.set_connected(False, self.clock())
        session.on_connection(lambda up: self._put("connection", up))
        if session.connected:  # connected before we listened: the callback will not come for this one
            self._put("connection", True)
        session.on_office_config(lambda msg: self._put("office", msg))
        session.subscribe("hall_state", lambda msg: self._put("state", msg))
        session.subscribe("hall_call", lambda msg: self._put("call", msg))
        session.subscribe("counter_state", lambda msg: self._put("counter", msg), counter="+")
        self._verbs = testverbs.from_environment()
        if self._verbs is not None:  # only when CHERGA_TEST_SOCKET is set (HIL harness)
            self._verbs.register("screenshot", self.screenshot)
            self._verbs.register("calls", lambda: [[r.label, r.counter_number] for r in self.picture.rows]
                                 if self.picture else [])
            self._verbs.register("offline", lambda: bool(self.picture and self.picture.offline))
            self._verbs.register("spoken", lambda: [s.label for s in self.spoken if s.composed])
            self._verbs.register("led", lambda: {a: b.shown for a, b in self.virtual_bus.boards.items()}
                                 if self.virtual_bus else {})
            self._verbs.register("health", self.health)

    def run(self, stop: threading.Event) -> None:
        """The UI loop on the main thread: draw at once on news, else at ``fps`` for blink and ticker."""
        import pygame

        from cherga.display.tv import open_window

        self._surface = open_window(self.size, fullscreen=True) if self.window else None
        if self._surface is not None:
            self.size = self._surface.get_size()
        period = 1.0 / self.fps
        next_frame = time.monotonic()
        while not stop.is_set():
            timeout = max(0.0, next_frame - time.monotonic())
            self._news.wait(timeout)
            self._news.clear()
            if self._surface is not None:
                for event in pygame.event.get():
                    if event.type == pygame.QUIT:
                        stop.set()
            self.step(force=time.monotonic() >= next_frame)
            if time.monotonic() >= next_frame:
                next_frame = time.monotonic() + period

    def stop(self) -> None:
        if self._verbs is not None:
            self._verbs.stop()
        if self.announcer:
            self.announcer.stop()
        if self.boards:
            self.boards.stop()

    def health(self) -> dict[str, str | int | float | bool | None]:
        out: dict[str, str | int | float | bool | None] = {
            "connected": self._connected,
            "calls_shown": len(self._last_picture.rows) if self._last_picture else 0,
            "calls_queued": self.board.queued,
            "frames": self.frames_drawn,
            "voice_queue": self.announcer.pending if self.announcer else 0,
            "has_office_config": self.office is not None,
            "voice_ok": not self.voice_missing,
        }
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            out["call_to_frame_p99_ms"] = round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1)
        if self.boards:
            out.update(self.boards.health())
        return out

    # --- the loop -----------------------------------------------------------------------------

    def _put(self, kind: str, msg: Any) -> None:
        self._inbox.put((kind, msg, time.perf_counter()))
        self._news.set()

    def step(self, force: bool = False) -> bool:
        """Apply queued messages, promote waiting calls, draw a frame if anything changed."""
        now = self.clock()
        changed = force
        promoted: list[Promotion] = []
        while True:
            try:
                kind, msg, received = self._inbox.get_nowait()
            except queue.Empty:
                break
            changed = True
            if kind == "call" and isinstance(msg, HallCall):
                self._received.setdefault(msg.call_id, received)
                promoted += self.board.apply_call(msg, now)
            elif kind == "state" and isinstance(msg, HallState):
                for entry in msg.calls[:1]:
                    self._received.setdefault(entry.call_id, received)
                promoted += self.board.apply_state(msg, now)
            elif kind == "connection":
                self._connected = bool(msg)
                self.board.set_connected(self._connected, now)
            elif kind == "office" and isinstance(msg, OfficeConfig):
                self._apply_office(msg, now)
            elif kind == "counter" and isinstance(msg, CounterState):
                self._show_counter(msg)
        promoted += self.board.tick(now)
        picture = self.board.picture(now)
        if promoted:
            self._after_promotion(promoted, picture)
        else:
            self._follow_hall_boards(picture)
        animated = any(r.blinking for r in picture.rows) or bool(picture.ticker)
        if not (changed or picture != self._last_picture or animated):
            return False
        self._draw(picture)
        return True

    def _draw(self, picture: Picture) -> None:
        if self._renderer is None or self._renderer.size != (self.size or (1920, 1080)):
            from cherga.display.tv import TvRenderer

            self._renderer = TvRenderer(self.size or (1920, 1080))
        self.frame = self._renderer.draw(picture, self._surface, t=time.monotonic() - self._t0)
        if self._surface is not None:
            import pygame

            pygame.display.flip()
        drawn = time.perf_counter()
        self.frames_drawn += 1
        self._last_picture = picture
        for row in picture.rows:
            received = self._received.pop(row.call_id, None)
            if received is not None:
                self.latencies_ms.append((drawn - received) * 1000)
        if len(self._received) > 1000:
            self._received.clear()

    def _after_promotion(self, promoted: list[Promotion], picture: Picture) -> None:
        if self.announcer:
            for p in promoted:
                self.announcer.announce(p.call_id, p.label, p.prefix, p.number, p.counter_number)
        if self.boards and self._hall_boards:
            calls = [(r.label, r.counter_number) for r in picture.rows]
            self._hall_sent = calls
            for name in self._hall_boards:
                self.boards.show_calls(name, calls, blink_first=True)

    def _follow_hall_boards(self, picture: Picture) -> None:
        """Rows that changed without a new call (the retained state after a start, calls the server
        dropped, a rebuild after an outage) go to the hall boards too, steady: they show what the TV shows."""
        if not (self.boards and self._hall_boards):
            return
        calls = [(r.label, r.counter_number) for r in picture.rows]
        if calls == self._hall_sent or (not calls and self._hall_sent is None):
            return
        self._hall_sent = calls
        for name in self._hall_boards:
            self.boards.show_calls(name, calls, blink_first=False)

    def _show_counter(self, state: CounterState) -> None:
        name = self._counter_boards.get(state.counter)
        if not (self.boards and name):
            return
        label = state.ticket.label if state.ticket and state.status in ("calling", "serving") else ""
        self.boards.show_number(name, label, blink=state.status == "calling")

    # --- configuration ------------------------------------------------------------------------

    def _apply_office(self, office: OfficeConfig, now: dt.datetime) -> None:
        self.office = office
        self.board.configure(BoardSettings.from_office(office), now)
        voice = VoiceSettings.from_office(office.voice or {}, office.timezone, office.languages)
        if self.announcer is None:
            self.announcer = self._make_announcer(voice)
        else:
            self.announcer.settings = voice
        cache = self.announcer.cache
        self._check_voice(cache, voice)
        prefixes = sorted({s.prefix for s in office.services})
        threading.Thread(target=self._warm, args=(cache, voice.languages, prefixes), name="voice-warm",
                         daemon=True).start()

    def _check_voice(self, cache: FragmentCache, voice: VoiceSettings) -> None:
        """A display that cannot speak says so to the hall manager (``node_alert`` ``voice_missing``):
        the calls are still shown, but nobody in the hall would otherwise notice the silence."""
        missing = cache.missing_tools() if voice.enabled else []
        if missing == self.voice_missing:
            return
        self.voice_missing = missing
        if missing:
            log.error("no voice: %s not installed (apt-get install %s)", ", ".join(missing), " ".join(missing))
            message = (f"The hall display cannot announce calls: {', '.join(missing)} not installed "
                       f"(apt-get install {' '.join(missing)})")
        else:
            message = "The hall display's voice works again"
        if self.session is None:
            return
        try:
            self.session.publish("node_alert", NodeAlert(node=self.session.node, ts=self.clock(), kind="voice_missing",
                                                         active=bool(missing), message=message))
        except Exception:  # offline: health (voice_ok) still says it
            log.warning("could not publish the voice alert")

    @staticmethod
    def _warm(cache: FragmentCache, languages: tuple[str, ...], prefixes: list[str]) -> None:
        try:
            cache.warm(languages, prefixes, [str(n) for n in range(1, 31)])
        except Exception:  # missing espeak-ng: calls are still shown; the announcer logs per call
            log.exception("could not pre-render voice fragments")

    def _make_announcer(self, voice: VoiceSettings) -> Announcer:
        data = self.config.data_dir if self.config else Path("/tmp/cherga-display")
        recorded = self.config.hardware.option("voice_dir") if self.config else None
        cache = FragmentCache(data / "voice-cache", Path(recorded) if recorded else data / "voice")
        return Announcer(cache, voice, player=self.player, clock=self.clock,
                         on_spoken=self.spoken.append).start()

    def _boards_from_config(self, config: NodeConfig) -> BoardSet | None:
        specs = config.hardware.option("led_boards") or []
        port_spec = config.hardware.serial.get("led")
        if not specs or not port_spec:
            return None
        emulated = [EmulatedBoard(int(s["address"]), "matrix" if s.get("kind") == "matrix" else "number",
                                  lines=int(s.get("lines", 4)), cols=int(s.get("cols", 12)))
                    for s in specs] if port_spec == "VIRTUAL" else None
        port = open_port(port_spec, int(config.hardware.option("led_baudrate", 9600)), boards=emulated)
        self.virtual_bus = port if emulated else None
        link = BoardLink(port)
        boards: list[LedBoard] = []
        for s in specs:
            name = str(s.get("name") or f"board-{s['address']}")
            if s.get("kind") == "matrix":
                boards.append(HallMatrixBoard(link, int(s["address"]), name, lines=int(s.get("lines", 4)),
                                              cols=int(s.get("cols", 12))))
                self._hall_boards.append(name)
            else:
                boards.append(CounterBoard(link, int(s["address"]), name))
                if s.get("counter"):
                    self._counter_boards[str(s["counter"])] = name
        return BoardSet(boards)

    def attach_boards(self, boards: BoardSet, *, hall: list[str] | None = None,
                      counters: dict[str, str] | None = None) -> None:
        """Use ``boards`` (tests, benches): ``hall`` board names get the last calls, ``counters`` maps counter → board."""
        self.boards = boards
        self._hall_boards = list(hall or [])
        self._counter_boards = dict(counters or {})

    def _on_board_health(self, health: BoardHealth) -> None:
        if self.session is None:
            return
        alert = board_alert(health, self.session.node, self.clock())
        try:
            self.session.publish("node_alert", alert)
        except Exception:  # offline: the health in telemetry still says it
            log.warning("could not publish the LED board alert for %s", health.name)

    # --- test verbs ---------------------------------------------------------------------------

    @property
    def picture(self) -> Picture | None:
        """The picture of the last frame drawn."""
        return self._last_picture

    def screenshot(self, path: str | Path) -> str:
        import pygame

        if self.frame is None:
            raise RuntimeError("nothing drawn yet")
        pygame.image.save(self.frame, str(path))
        return str(path)
