"""The kiosk's voice: reads the "what do I need?" screen aloud (issue 18), off the UI thread.

:class:`InfoSpeaker` renders one text with espeak-ng (:func:`cherga.firmware_host.speech.render_text`)
and plays it on a thread of its own, so neither the pygame loop nor the ticket worker ever waits
for it. One utterance at a time: a new one, or :meth:`InfoSpeaker.stop` (a second tap on
"Listen", or the citizen left the screen), cuts the current one short; an utterance stopped while
espeak-ng was still rendering is never played.

Whether the kiosk speaks at all is the role's choice (``hardware.voice: true`` in the node's
config, docs/kiosk.md); without espeak-ng :meth:`InfoSpeaker.available` is False (logged once)
and the screen shows no "Listen" button.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import wave
from collections.abc import Callable
from pathlib import Path

from cherga.firmware_host.speech import ESPEAK, Player, espeak_installed, make_player, render_text

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Said:
    """One utterance that was played: its words, language, WAV and length."""

    ident: int
    language: str
    text: str
    path: Path
    seconds: float


class InfoSpeaker:
    """Says one text at a time from its own thread.

    :param out_dir: where the WAV of the current utterance is written (one file, replaced each time).
    :param player: how sound reaches the speaker (default: :func:`make_player`, made on first use).
    :param on_done: called with the utterance's id when it ended (played out, stopped or failed).
    """

    def __init__(self, out_dir: Path, *, player: Player | None = None, espeak: str = ESPEAK,
                 on_done: Callable[[int], None] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.espeak = espeak
        self.on_done = on_done
        self.said: list[Said] = []
        self._player = player
        self._lock = threading.Lock()
        self._current = 0  # the id of the utterance that may play; anything else is stale
        self._thread: threading.Thread | None = None
        self._checked: bool | None = None

    def available(self) -> bool:
        """espeak-ng is installed (checked once; a missing one is logged once)."""
        if self._checked is None:
            self._checked = espeak_installed(self.espeak)
            if not self._checked:
                log.warning("%s is not installed (apt-get install espeak-ng): the kiosk will not read aloud",
                            self.espeak)
        return self._checked

    @property
    def player(self) -> Player:
        if self._player is None:
            self._player = make_player()
        return self._player

    def say(self, ident: int, text: str, language: str) -> None:
        """Start saying ``text`` (stopping whatever is being said)."""
        self.stop()
        with self._lock:
            self._current = ident
        thread = threading.Thread(target=self._run, args=(ident, text, language), name="kiosk-voice", daemon=True)
        self._thread = thread
        thread.start()

    def stop(self) -> None:
        """Silence: the utterance playing stops, one still rendering will not play."""
        with self._lock:
            self._current = 0
        if self._player is not None:
            self._player.stop()

    def wait(self, timeout: float = 60.0) -> bool:
        """Until the last utterance has ended (tests, shutdown); False if it has not."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _live(self, ident: int) -> bool:
        with self._lock:
            return self._current == ident

    def _run(self, ident: int, text: str, language: str) -> None:
        try:
            path = render_text(text, language, self.out_dir / f"info-{ident % 2}.wav", espeak=self.espeak)
            if not self._live(ident):
                return  # stopped (or replaced) while espeak-ng was still at work
            with contextlib.closing(wave.open(str(path), "rb")) as w:
                seconds = w.getnframes() / w.getframerate()
            self.said.append(Said(ident, language, text, path, seconds))
            self.player.play(path)
        except Exception:  # a broken voice must never break the screen
            log.exception("reading the screen aloud failed")
        finally:
            if self.on_done is not None:
                self.on_done(ident)
