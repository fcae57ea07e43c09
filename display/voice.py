"""Voice announcements, fully offline: a chime, then "ticket A-12, window 5" in each language.

Phrases are built from fragments (``ticket``, ``go_to_window``, letter names, number words) in the
order :data:`display.messages.VOICE_TEMPLATES` gives per language, never translated as whole
sentences, so an office can replace any fragment with a human recording:

* :func:`announcement` — the fragment sequence of one call (pure; tests check it per language);
* :class:`FragmentCache` — one WAV per fragment, all 22 050 Hz mono 16-bit: an office recording
  (``<recorded>/<lang>/<key>.wav``, any format, converted with sox) wins over a synthetic one,
  pre-rendered once with espeak-ng into ``<cache>/<lang>/<key>-<hash>.wav``;
* :func:`compose` — concatenates the fragments of a call into one WAV (volume applied);
* :class:`Announcer` — a queue and one worker thread: announcements never overlap, quiet hours
  silence them (the call is shown all the same), players are pygame.mixer, aplay or a recorder
  (:mod:`cherga.firmware_host.speech`, shared with the kiosk, as are the espeak-ng voices).

Numbers are composed of words (hundreds, tens, units) so ~40 recordings per language cover
1..999; Ukrainian and Russian numbers are said after "номер" (nominative), Kyrgyz and Kazakh
counters as ordinals ("бешинчи терезеге").
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterable
from pathlib import Path
from zoneinfo import ZoneInfo

from cherga.display.messages import (
    LETTER_NAMES,
    NUMBER_WORDS,
    ORDINAL_OVERRIDES,
    VOICE_TEMPLATES,
    VOICE_WORDS,
)
from cherga.firmware_host.speech import (  # one place for the voices and players (the kiosk uses them too)
    CHANNELS,
    ESPEAK_VOICES,
    RATE,
    SAMPWIDTH,
    Player,
    make_player,
)
from cherga.firmware_host.speech import (  # re-exported: tests, the bench and older imports name them here
    AplayPlayer as AplayPlayer,
)
from cherga.firmware_host.speech import (
    PygamePlayer as PygamePlayer,
)
from cherga.firmware_host.speech import (
    RecordingPlayer as RecordingPlayer,
)

log = logging.getLogger(__name__)

PAUSES_MS = {"_pause": 250, "_after_chime": 300, "_between_languages": 700}
WORD_LANGS = ("ky", "kk")  # languages whose number words come from the catalog, not from espeak


@dataclasses.dataclass(frozen=True)
class Fragment:
    """One piece of an announcement. ``lang`` is ``""`` for the chime and pauses."""

    lang: str
    key: str
    text: str = ""

    @property
    def is_pause(self) -> bool:
        return self.key.startswith("_")

    def __str__(self) -> str:
        return f"{self.lang}:{self.key}" if self.lang else self.key


# --- the fragment sequence (pure) ---------------------------------------------------------------

def _number_parts(n: int, lang: str) -> list[int]:
    """The word values a number is said with: 123 → [100, 20, 3]; uk/ru/en 15 → [15]; ky/kk 15 → [10, 5]."""
    if n == 0:
        return [0]
    parts: list[int] = []
    hundreds, rest = divmod(n % 1000, 100)
    if n >= 1000:  # tickets stop at 999; say larger numbers digit group by group
        return _number_parts(n // 1000, lang) + [1000] + (_number_parts(n % 1000, lang) if n % 1000 else [])
    if hundreds:
        parts.append(hundreds * 100)
    if 10 <= rest <= 19 and lang not in WORD_LANGS:
        parts.append(rest)
    else:
        tens, units = divmod(rest, 10)
        if tens:
            parts.append(tens * 10)
        if units:
            parts.append(units)
    return parts


def _cardinal_word(value: int, lang: str) -> str:
    words = NUMBER_WORDS.get(lang)
    if not words:
        return str(value)  # espeak-ng says digits as the nominative cardinal in uk/ru/en
    if value in words:
        return words[value]
    if value % 100 == 0 and value < 1000:
        return f"{words[value // 100]} {words[100]}"
    return str(value)


def _ordinal_word(value: int, lang: str) -> str:
    word = _cardinal_word(value, lang)
    last = word.split()[-1]
    override = ORDINAL_OVERRIDES.get(lang, {}).get(last)
    if override:
        return word[: -len(last)] + override
    vowels = [c for c in last if c in "аеёиоуыэюяөүәұіі"]
    v = vowels[-1] if vowels else "ы"
    ends_vowel = last[-1] in "аеиоуыэөүәұі"
    if lang == "ky":
        harmony = {"а": "ы", "ы": "ы", "е": "и", "и": "и", "о": "у", "у": "у", "ө": "ү", "ү": "ү"}.get(v, "ы")
        tail = {"ы": "нчы", "и": "нчи", "у": "нчу", "ү": "нчү"}[harmony]
        return word + (tail if ends_vowel else harmony + tail)
    if lang == "kk":
        back = v in "аоұы"
        return word + (("ншы" if back else "нші") if ends_vowel else ("ыншы" if back else "інші"))
    return word


def number_fragments(n: int, lang: str, ordinal: bool = False) -> list[Fragment]:
    parts = _number_parts(n, lang)
    out = [Fragment(lang, f"n_{v}", _cardinal_word(v, lang)) for v in parts]
    if ordinal and lang in WORD_LANGS:
        last = parts[-1]
        out[-1] = Fragment(lang, f"o_{last}", _ordinal_word(last, lang))
    return out


def letter_fragments(prefix: str, lang: str) -> list[Fragment]:
    names = LETTER_NAMES.get(lang, {})
    return [Fragment(lang, f"l_{ch}", names.get(ch, ch)) for ch in prefix.upper() if ch.isalpha()]


def _counter_fragments(counter: str, lang: str, ordinal: bool) -> list[Fragment]:
    digits = counter.strip()
    if digits.isdigit():
        return number_fragments(int(digits), lang, ordinal)
    return [Fragment(lang, f"t_{digits}", digits)]  # "21a": said as written


def phrase(lang: str, prefix: str, number: int | None, counter: str) -> list[Fragment]:
    """One language's phrase for a call, following its template."""
    words = VOICE_WORDS.get(lang, VOICE_WORDS["en"])
    out: list[Fragment] = []
    for token in VOICE_TEMPLATES.get(lang, VOICE_TEMPLATES["en"]):
        if token == "{letter}":
            out += letter_fragments(prefix, lang)
        elif token == "{number}":
            out += number_fragments(number, lang) if number is not None else []
        elif token == "{counter}":
            out += _counter_fragments(counter, lang, ordinal=False)
        elif token == "{counter_ordinal}":
            out += _counter_fragments(counter, lang, ordinal=True)
        elif token.startswith("_"):
            out.append(Fragment("", token))
        else:
            out.append(Fragment(lang, token, words[token]))
    return out


def announcement(prefix: str, number: int | None, counter: str, languages: Iterable[str],
                 chime: bool = True) -> list[Fragment]:
    """Chime, then the phrase in each language, with a pause between languages."""
    out: list[Fragment] = [Fragment("", "chime"), Fragment("", "_after_chime")] if chime else []
    for i, lang in enumerate(languages):
        if i:
            out.append(Fragment("", "_between_languages"))
        out += phrase(lang, prefix, number, counter)
    return out


# --- audio --------------------------------------------------------------------------------------

def _read_frames(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (CHANNELS, SAMPWIDTH, RATE):
            raise ValueError(f"{path}: not {RATE} Hz mono 16-bit")
        return w.readframes(w.getnframes())


def _write_wav(path: Path, frames: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(CHANNELS)
        w.setsampwidth(SAMPWIDTH)
        w.setframerate(RATE)
        w.writeframes(frames)
    os.replace(tmp, path)


def silence(ms: int) -> bytes:
    return bytes(SAMPWIDTH * CHANNELS * (RATE * ms // 1000))


def synth_chime() -> bytes:
    """A two-tone "ding-dong" (E5, C5) with a soft decay, so no file is needed to start."""
    samples = array.array("h")
    for freq, dur in ((659.25, 0.45), (523.25, 0.65)):
        n = int(RATE * dur)
        for i in range(n):
            t = i / RATE
            env = math.exp(-3.5 * t) * min(1.0, i / (RATE * 0.01))
            value = 0.45 * env * (math.sin(2 * math.pi * freq * t) + 0.3 * math.sin(4 * math.pi * freq * t))
            samples.append(int(max(-1.0, min(1.0, value)) * 32767))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


class FragmentCache:
    """WAV files for fragments: office recordings first, then espeak-ng renderings (made once).

    :param cache_dir: where synthetic fragments are kept (survives restarts).
    :param recorded_dir: the office's recordings, ``<lang>/<key>.wav`` and ``chime.wav``; optional.
    """

    def __init__(self, cache_dir: Path, recorded_dir: Path | None = None, *, espeak: str = "espeak-ng",
                 speed: int = 150) -> None:
        self.cache_dir = Path(cache_dir)
        self.recorded_dir = Path(recorded_dir) if recorded_dir else None
        self.espeak = espeak
        self.speed = speed
        self._lock = threading.Lock()
        self._memo: dict[tuple[Fragment, float], bytes] = {}

    def missing_tools(self) -> list[str]:
        """The programs synthetic fragments need that this machine lacks (Debian packages of the same name)."""
        return [tool for tool in (self.espeak, "sox") if shutil.which(tool) is None]

    def frames(self, fragment: Fragment, volume: float = 1.0) -> bytes:
        """The fragment's audio (raw 16-bit mono frames at :data:`RATE`), scaled to ``volume``."""
        if fragment.is_pause:
            return silence(PAUSES_MS.get(fragment.key, 250))
        key = (fragment, round(volume, 3))
        with self._lock:
            cached = self._memo.get(key)
        if cached is None:
            # Scaled once per fragment and kept: composing a call is then only a join.
            cached = scale_volume(_read_frames(self.path(fragment)), volume)
            with self._lock:
                if len(self._memo) > 400:
                    self._memo.clear()
                self._memo[key] = cached
        return cached

    def recorded(self, fragment: Fragment) -> Path | None:
        if not self.recorded_dir:
            return None
        path = (self.recorded_dir / "chime.wav" if fragment.key == "chime"
                else self.recorded_dir / fragment.lang / f"{fragment.key}.wav")
        return path if path.is_file() else None

    def path(self, fragment: Fragment) -> Path:
        recorded = self.recorded(fragment)
        if recorded is not None:
            return self._normalised(recorded, fragment)
        if fragment.key == "chime":
            target = self.cache_dir / "chime.wav"
            if not target.exists():
                _write_wav(target, synth_chime())
            return target
        digest = hashlib.sha1(f"{fragment.text}|{ESPEAK_VOICES.get(fragment.lang)}|{self.speed}".encode()).hexdigest()[:10]
        target = self.cache_dir / fragment.lang / f"{fragment.key}-{digest}.wav"
        if not target.exists():
            self._synthesise(fragment, target)
        return target

    def _normalised(self, source: Path, fragment: Fragment) -> Path:
        """A recording in our format as is; any other WAV/FLAC/OGG converted once with sox."""
        try:
            with wave.open(str(source), "rb") as w:
                if (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (CHANNELS, SAMPWIDTH, RATE):
                    return source
        except (wave.Error, EOFError):
            pass
        st = source.stat()
        tag = hashlib.sha1(f"{source}|{st.st_mtime_ns}|{st.st_size}".encode()).hexdigest()[:10]
        target = self.cache_dir / "recorded" / (fragment.lang or "common") / f"{fragment.key}-{tag}.wav"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            self._sox([str(source), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(target)])
        return target

    def _synthesise(self, fragment: Fragment, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        voice = ESPEAK_VOICES.get(fragment.lang, fragment.lang)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            raw = Path(tmp) / "raw.wav"
            subprocess.run([self.espeak, "-v", voice, "-s", str(self.speed), "-w", str(raw), fragment.text],
                           check=True, capture_output=True, timeout=30)
            out = Path(tmp) / "out.wav"
            # Same format for every fragment, espeak's own leading/trailing silence trimmed,
            # then 60 ms of air after the word so fragments do not run into each other.
            self._sox([str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(out),
                       "silence", "1", "0.01", "0.5%", "reverse", "silence", "1", "0.01", "0.5%", "reverse",
                       "pad", "0", "0.06"])
            os.replace(out, target)

    @staticmethod
    def _sox(args: list[str]) -> None:
        if shutil.which("sox") is None:
            raise RuntimeError("sox is not installed (apt-get install sox)")
        subprocess.run(["sox", *args], check=True, capture_output=True, timeout=30)

    def warm(self, languages: Iterable[str], prefixes: Iterable[str] = (), counters: Iterable[str] = (),
             max_number: int = 100) -> int:
        """Render the fragments calls will need, ahead of the first call; returns how many."""
        count = 0
        wanted: list[Fragment] = [Fragment("", "chime")]
        for lang in languages:
            wanted += [Fragment(lang, k, t) for k, t in VOICE_WORDS.get(lang, {}).items()]
            for prefix in prefixes:
                wanted += letter_fragments(prefix, lang)
            for n in range(1, max_number):
                wanted += number_fragments(n, lang)
            for c in counters:
                wanted += _counter_fragments(c, lang, ordinal=lang in WORD_LANGS)
        for fragment in dict.fromkeys(wanted):
            self.path(fragment)
            count += 1
        return count


@dataclasses.dataclass(frozen=True)
class Composed:
    path: Path
    parts: tuple[tuple[Fragment, int], ...]  # each fragment and its length in frames
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / RATE


def scale_volume(frames: bytes, volume: float) -> bytes:
    if volume >= 0.999:
        return frames
    samples = array.array("h")
    samples.frombytes(frames)
    if sys.byteorder == "big":
        samples.byteswap()
    out = array.array("h", (int(s * volume) for s in samples))
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def compose(fragments: list[Fragment], cache: FragmentCache, out_path: Path, volume: float = 1.0) -> Composed:
    """One WAV for the whole announcement, fragments back to back (same rate and format)."""
    volume = max(0.0, min(1.0, volume))
    chunks = [(f, cache.frames(f, volume)) for f in fragments]
    data = b"".join(c for _, c in chunks)
    _write_wav(out_path, data)
    frame_bytes = SAMPWIDTH * CHANNELS
    parts = tuple((f, len(c) // frame_bytes) for f, c in chunks)
    return Composed(out_path, parts, len(data) // frame_bytes)


# --- playing ------------------------------------------------------------------------------------
# The players live in firmware_host/speech.py (the kiosk reads aloud too); imported above.


# --- the announcer ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class VoiceSettings:
    languages: tuple[str, ...] = ("uk",)
    volume: float = 0.8
    quiet_hours: tuple[tuple[dt.time, dt.time], ...] = ()
    timezone: str = "Europe/Kyiv"
    enabled: bool = True

    @classmethod
    def from_office(cls, voice: dict[str, object], timezone: str, fallback_languages: Iterable[str]) -> VoiceSettings:
        langs = voice.get("languages") or list(fallback_languages)[:1] or ["uk"]
        quiet: list[tuple[dt.time, dt.time]] = []
        for item in voice.get("quiet_hours") or []:  # type: ignore[attr-defined]
            with contextlib.suppress(KeyError, TypeError, ValueError):
                quiet.append((dt.time.fromisoformat(str(item["start"])), dt.time.fromisoformat(str(item["end"]))))
        return cls(languages=tuple(langs), volume=float(voice.get("volume", 0.8)),  # type: ignore[arg-type]
                   quiet_hours=tuple(quiet), timezone=timezone, enabled=bool(voice.get("enabled", True)))

    def quiet(self, now: dt.datetime) -> bool:
        try:
            local = now.astimezone(ZoneInfo(self.timezone)).time()
        except (KeyError, ValueError):
            local = now.time()
        return any(start <= local < end for start, end in self.quiet_hours)


@dataclasses.dataclass(frozen=True)
class Spoken:
    call_id: str
    label: str
    composed: Composed | None  # None: quiet hours or voice off (still shown on screen)
    skipped: str = ""


class Announcer:
    """Speaks calls one after another from its own thread; never two at once.

    :param cache: the fragment cache. :param settings: languages, volume, quiet hours.
    :param player: how sound reaches the speakers (default: :func:`make_player`).
    :param clock: ``now()`` for quiet hours (aware datetime).
    """

    def __init__(self, cache: FragmentCache, settings: VoiceSettings, *, player: Player | None = None,
                 out_dir: Path | None = None, clock: Callable[[], dt.datetime] | None = None,
                 on_spoken: Callable[[Spoken], None] | None = None) -> None:
        self.cache = cache
        self.settings = settings
        self.player = player if player is not None else make_player()
        self.out_dir = Path(out_dir) if out_dir else cache.cache_dir / "calls"
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.on_spoken = on_spoken
        self.spoken: list[Spoken] = []
        self._queue: queue.Queue[tuple[str, str, str, int | None, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._busy = threading.Event()

    def start(self) -> Announcer:
        self._thread = threading.Thread(target=self._run, name="announcer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout=10)

    def announce(self, call_id: str, label: str, prefix: str, number: int | None, counter_number: str) -> None:
        self._queue.put((call_id, label, prefix, number, counter_number))

    @property
    def pending(self) -> int:
        return self._queue.qsize() + (1 if self._busy.is_set() else 0)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.pending

    def speak_now(self, call_id: str, label: str, prefix: str, number: int | None, counter_number: str) -> Spoken:
        """Compose and play one call on this thread (the worker calls it; tests may too)."""
        s = self.settings
        if not s.enabled or not s.languages:
            return Spoken(call_id, label, None, "voice off")
        if s.quiet(self.clock()):
            return Spoken(call_id, label, None, "quiet hours")
        fragments = announcement(prefix, number, counter_number, s.languages)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in call_id)[:60] or "call"
        composed = compose(fragments, self.cache, self.out_dir / f"{safe}.wav", s.volume)
        self.player.play(composed.path)
        self._tidy()
        return Spoken(call_id, label, composed)

    def _tidy(self, keep: int = 20) -> None:
        files = sorted(self.out_dir.glob("*.wav"), key=lambda p: p.stat().st_mtime)
        for old in files[:-keep]:
            with contextlib.suppress(OSError):
                old.unlink()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._busy.set()
            try:
                spoken = self.speak_now(*item)
            except Exception as exc:  # a broken fragment must not silence the next calls
                log.exception("announcement of %s failed", item[1])
                spoken = Spoken(item[0], item[1], None, f"error: {exc}")
            finally:
                self._busy.clear()
            self.spoken.append(spoken)
            if self.on_spoken:
                self.on_spoken(spoken)
