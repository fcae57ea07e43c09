"""Voice: the right fragments in the right order per language, and the audio really is them."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
import wave
from pathlib import Path

import pytest

from cherga.display.voice import (
    RATE,
    Announcer,
    Fragment,
    FragmentCache,
    RecordingPlayer,
    VoiceSettings,
    announcement,
    compose,
    number_fragments,
    phrase,
)


def keys(fragments: list[Fragment]) -> list[str]:
    return [str(f) for f in fragments]


@pytest.mark.parametrize(("lang", "expected"), [
    ("uk", ["uk:ticket", "uk:l_A", "uk:n_12", "_pause", "uk:go_to_window", "uk:n_5"]),
    ("ru", ["ru:ticket", "ru:l_A", "ru:n_12", "_pause", "ru:go_to_window", "ru:n_5"]),
    ("ky", ["ky:l_A", "ky:n_10", "ky:n_2", "ky:ticket", "_pause", "ky:o_5", "ky:go_to_window"]),
    ("kk", ["kk:l_A", "kk:n_10", "kk:n_2", "kk:ticket", "_pause", "kk:o_5", "kk:go_to_window"]),
    ("en", ["en:ticket", "en:l_A", "en:n_12", "_pause", "en:go_to_window", "en:n_5"]),
])
def test_ticket_a012_to_window_5_follows_each_languages_template(lang: str, expected: list[str]) -> None:
    assert keys(phrase(lang, "A", 12, "5")) == expected


def test_the_words_spoken_match_the_glossary_phrases() -> None:
    said = {lang: " ".join(f.text for f in phrase(lang, "A", 12, "5") if f.text) for lang in ("uk", "ky", "kk", "en")}
    assert said["uk"] == "Талон а 12 підійдіть до вікна номер 5"
    assert said["ky"] == "а он эки талон бешинчи терезеге келиңиз"
    assert said["kk"] == "а он екі талон бесінші терезеге келіңіз"
    assert said["en"] == "Ticket ay 12 please go to counter 5"


def test_numbers_are_composed_of_a_few_recordable_words() -> None:
    assert [f.key for f in number_fragments(123, "uk")] == ["n_100", "n_20", "n_3"]
    assert [f.key for f in number_fragments(215, "ru")] == ["n_200", "n_15"]
    assert [f.text for f in number_fragments(215, "ky")] == ["эки жүз", "он", "беш"]
    assert [f.text for f in number_fragments(20, "kk", ordinal=True)] == ["жиырмасыншы"]
    assert [f.text for f in number_fragments(9, "ky", ordinal=True)] == ["тогузунчу"]
    assert [f.text for f in number_fragments(14, "ky", ordinal=True)] == ["он", "төртүнчү"]


def test_an_announcement_is_a_chime_then_each_configured_language_in_turn() -> None:
    seq = keys(announcement("B", 7, "3", ["uk", "en"]))
    assert seq[:2] == ["chime", "_after_chime"]
    split = seq.index("_between_languages")
    assert seq[2:split] == keys(phrase("uk", "B", 7, "3"))
    assert seq[split + 1:] == keys(phrase("en", "B", 7, "3"))


def read(path: Path) -> tuple[tuple[int, int, int], bytes]:
    with wave.open(str(path), "rb") as w:
        return (w.getnchannels(), w.getsampwidth(), w.getframerate()), w.readframes(w.getnframes())


@pytest.mark.parametrize("lang", ["uk", "ru", "ky", "kk", "en"])
def test_the_call_audio_is_exactly_its_fragments_back_to_back(tmp_path: Path, lang: str) -> None:
    cache = FragmentCache(tmp_path / "cache")
    fragments = announcement("A", 12, "5", [lang])
    result = compose(fragments, cache, tmp_path / "call.wav")
    fmt, data = read(result.path)
    assert fmt == (1, 2, RATE)
    assert [f for f, _ in result.parts] == fragments
    lengths = []
    for fragment, n in result.parts:
        if fragment.is_pause:
            lengths.append(n)
            continue
        part_fmt, part = read(cache.path(fragment))
        assert part_fmt == (1, 2, RATE)  # every fragment in one format, so they concatenate
        assert n == len(part) // 2 > RATE // 20  # a real word, not an empty file
        lengths.append(len(part) // 2)
    assert len(data) // 2 == sum(lengths) == result.frames
    # and the samples are the fragments' own, in order
    offset = 0
    for fragment, n in result.parts:
        if not fragment.is_pause:
            assert data[offset * 2:(offset + n) * 2] == read(cache.path(fragment))[1]
        offset += n


def test_an_office_recording_replaces_the_synthetic_fragment(tmp_path: Path) -> None:
    recorded = tmp_path / "voice"
    (recorded / "uk").mkdir(parents=True)
    # a 0.8 s tone at 44.1 kHz stereo, as an office might record it
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", str(recorded / "uk" / "ticket.wav"),
                    "synth", "0.8", "sine", "440"], check=True)
    cache = FragmentCache(tmp_path / "cache", recorded)
    result = compose(phrase("uk", "A", 1, "2"), cache, tmp_path / "call.wav")
    ticket = dict((str(f), n) for f, n in result.parts)["uk:ticket"]
    assert ticket == int(0.8 * RATE)  # the recording (converted to 22 050 Hz mono), not espeak's "Талон"
    assert cache.path(Fragment("uk", "ticket", "Талон")).parent.name == "uk"
    assert "recorded" in str(cache.path(Fragment("uk", "ticket", "Талон")))


def test_volume_scales_the_samples_without_changing_the_length(tmp_path: Path) -> None:
    cache = FragmentCache(tmp_path / "cache")
    loud = compose(phrase("en", "A", 1, "2"), cache, tmp_path / "loud.wav", volume=1.0)
    quiet = compose(phrase("en", "A", 1, "2"), cache, tmp_path / "quiet.wav", volume=0.25)
    assert loud.frames == quiet.frames
    peak = lambda p: max(abs(int.from_bytes(read(p)[1][i:i + 2], "little", signed=True))  # noqa: E731
                         for i in range(0, len(read(p)[1]), 2))
    assert peak(quiet.path) <= peak(loud.path) // 4 + 1


def test_announcements_queue_and_never_overlap(tmp_path: Path) -> None:
    player = RecordingPlayer(seconds=0.15)
    announcer = Announcer(FragmentCache(tmp_path / "cache"), VoiceSettings(languages=("en",)), player=player).start()
    try:
        for i in range(1, 4):
            announcer.announce(f"c{i}", f"A-00{i}", "A", i, str(i))
        assert announcer.wait_idle(20)
    finally:
        announcer.stop()
    assert [s.label for s in announcer.spoken] == ["A-001", "A-002", "A-003"]
    starts_ends = player.intervals
    assert all(prev_end <= start for (_, prev_end), (start, _) in zip(starts_ends, starts_ends[1:], strict=False))


def test_quiet_hours_keep_the_hall_silent(tmp_path: Path) -> None:
    settings = VoiceSettings(languages=("uk",), timezone="Europe/Kyiv",
                             quiet_hours=((dt.time(13, 0), dt.time(14, 0)),))
    player = RecordingPlayer()
    lunch = dt.datetime(2026, 11, 25, 11, 30, tzinfo=dt.UTC)  # 13:30 in Kyiv
    announcer = Announcer(FragmentCache(tmp_path / "cache"), settings, player=player, clock=lambda: lunch)
    spoken = announcer.speak_now("c1", "A-001", "A", 1, "1")
    assert spoken.composed is None and spoken.skipped == "quiet hours" and player.played == []
    announcer.clock = lambda: lunch + dt.timedelta(hours=1)
    assert announcer.speak_now("c1", "A-001", "A", 1, "1").composed is not None and len(player.played) == 1


def test_fragments_are_rendered_once_and_reused(tmp_path: Path) -> None:
    cache = FragmentCache(tmp_path / "cache")
    path = cache.path(Fragment("ru", "ticket", "Талон"))
    mtime = path.stat().st_mtime_ns
    time.sleep(0.01)
    assert cache.path(Fragment("ru", "ticket", "Талон")) == path and path.stat().st_mtime_ns == mtime
