"""Speech out of a node, shared by every role that talks: espeak-ng voices, text → WAV, players.

The hall display composes calls from fragments (``display/voice.py``); the kiosk reads a
service's "what do I need?" screen aloud (``kiosk/speaker.py``). Both need the same facts, kept
here once:

* :data:`ESPEAK_VOICES` — the espeak-ng voice for each office language;
* :func:`render_text` — one text to one WAV with espeak-ng (22 050 Hz mono 16-bit, espeak's own);
* players: :class:`PygamePlayer` (pygame.mixer), :class:`AplayPlayer` (ALSA's ``aplay``),
  :class:`RecordingPlayer` (plays nothing, remembers; tests and ``CHERGA_AUDIO=none``), chosen by
  :func:`make_player`. ``play`` returns when the sound has finished; ``stop`` (from another
  thread) cuts it short.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

RATE = 22050
CHANNELS = 1
SAMPWIDTH = 2
ESPEAK = "espeak-ng"
ESPEAK_VOICES = {"uk": "uk", "ru": "ru", "ky": "ky", "kk": "kk", "en": "en-gb"}


def espeak_installed(espeak: str = ESPEAK) -> bool:
    return shutil.which(espeak) is not None


def render_text(text: str, lang: str, out_path: Path, *, espeak: str = ESPEAK, speed: int = 150,
                timeout_s: float = 60.0) -> Path:
    """Say ``text`` in ``lang`` into the WAV ``out_path`` (written whole or not at all)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    voice = ESPEAK_VOICES.get(lang, lang)
    # The text goes in on stdin: a line starting with "-" must not be read as an option.
    subprocess.run([espeak, "-v", voice, "-s", str(speed), "-w", str(tmp), "--stdin"], input=text.encode(),
                   check=True, capture_output=True, timeout=timeout_s)
    os.replace(tmp, out_path)
    return out_path


class Player(Protocol):
    def play(self, path: Path) -> None:
        """Play a WAV and return when it has finished (or was stopped)."""

    def stop(self) -> None:
        """Cut the sound playing now short (called from another thread); no-op when silent."""


class RecordingPlayer:
    """Plays nothing; keeps what it was asked to play (``played``), taking ``seconds`` each (tests)."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.played: list[Path] = []
        self.intervals: list[tuple[float, float]] = []
        self.stopped = 0  # how many times a sound was cut short
        self._stop = threading.Event()

    def play(self, path: Path) -> None:
        start = time.monotonic()
        self._stop.clear()
        self.played.append(path)
        if self.seconds and self._stop.wait(self.seconds):
            self.stopped += 1
        self.intervals.append((start, time.monotonic()))

    def stop(self) -> None:
        self._stop.set()


class PygamePlayer:
    """pygame.mixer (SDL picks ALSA/PulseAudio; ``firmware_host.hardware.select_audio_output`` chose the device)."""

    def __init__(self) -> None:
        import pygame

        self._pygame = pygame
        if not pygame.mixer.get_init():
            pygame.mixer.init(frequency=RATE, size=-16, channels=1)
        self._channel: object | None = None

    def play(self, path: Path) -> None:
        sound = self._pygame.mixer.Sound(str(path))
        channel = sound.play()
        self._channel = channel
        deadline = time.monotonic() + sound.get_length() + 1.0
        while channel is not None and channel.get_busy() and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        channel = self._channel
        if channel is not None:
            channel.stop()  # type: ignore[attr-defined]


class AplayPlayer:
    """ALSA's ``aplay`` (no pygame needed)."""

    def __init__(self, device: str | None = None) -> None:
        self.device = device
        self._proc: subprocess.Popen[bytes] | None = None

    def play(self, path: Path) -> None:
        cmd = ["aplay", "-q", *(["-D", self.device] if self.device else []), str(path)]
        proc = subprocess.Popen(cmd)
        self._proc = proc
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()


def make_player(kind: str | None = None, device: str | None = None) -> Player:
    """``CHERGA_AUDIO`` or ``kind``: ``pygame`` (default), ``aplay`` or ``none``; dummy SDL audio → none."""
    kind = kind or os.environ.get("CHERGA_AUDIO") or "pygame"
    with contextlib.suppress(ImportError):
        from cherga.firmware_host.hardware import select_audio_output

        if select_audio_output(device) == "dummy" and kind != "aplay":
            kind = "pygame"  # SDL's dummy driver: mixer works, nothing is heard
    if kind == "none":
        return RecordingPlayer()
    if kind == "aplay":
        return AplayPlayer(device)
    try:
        return PygamePlayer()
    except Exception as exc:  # no sound card must not stop a node from showing what it shows
        log.warning("no audio output (%s): nothing will be heard", exc)
        return RecordingPlayer()
