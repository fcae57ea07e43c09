"""The kiosk reads a service's "what do I need?" screen aloud where voice is on (issue 18).

The state machine offers "Listen" only on a kiosk with a voice; the role renders the page with the
real espeak-ng, in the citizen's language, and a recording player keeps what would have been heard.
The button is drawn by real pygame (dummy driver) in every language, panel size and mode."""

from __future__ import annotations

import wave
from pathlib import Path

import pygame
import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import LANGUAGES, NodeConfig
from cherga.broker_bridge.nodeconfig import build_node_config
from cherga.firmware_host.config import NodeConfig as LocalConfig
from cherga.firmware_host.speech import RecordingPlayer
from cherga.kiosk.i18n import text
from cherga.kiosk.role import KioskRole
from cherga.kiosk.speaker import InfoSpeaker
from cherga.kiosk.ui.info import speech
from cherga.kiosk.ui.render import Renderer
from cherga.kiosk.ui.state import KioskState, Screen, SpeakRequest, StopSpeaking
from cherga.server.siteconfig import Node, load_site_config
from tests.kiosk.conftest import SIZES, FakeClock, display_modes, is_bold, overflowing, pixels_show
from tests.support.wait import wait_until

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-office.yaml"
pytestmark = pytest.mark.usefixtures("pygame_headless")


@pytest.fixture(scope="module")
def office() -> NodeConfig:
    """The kiosk's config as the server sends it (the demo office writes what to bring)."""
    built = build_node_config(load_site_config(DEMO), Node(id="kiosk-1", role="kiosk"))
    decoded = contract.decode(contract.topic("node_config", "demo", node="kiosk-1"), built.to_bytes()).message
    assert isinstance(decoded, NodeConfig)
    return decoded


def walk(office: NodeConfig, *buttons: str, voice: bool, large: bool = False, low: bool = False) -> KioskState:
    clock = FakeClock()
    state = KioskState(office, clock=clock, voice=voice)
    for b in (["mode:large_text"] if large else []) + (["mode:low_reach"] if low else []) + list(buttons):
        clock.advance(1)
        state.press(b)
    return state


def tap(state: KioskState, button: str) -> list[object]:
    state.clock.advance(1)  # type: ignore[attr-defined]
    return list(state.press(button))


# --- the state machine -----------------------------------------------------------------------------

def test_without_voice_the_documents_screen_has_no_listen_button_and_a_listen_tap_does_nothing(
        office: NodeConfig) -> None:
    s = walk(office, "lang:uk", "service:passport", "info", voice=False)
    assert s.view().screen is Screen.INFO
    assert "listen" not in [b.id for b in s.view().buttons]
    assert tap(s, "listen") == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_with_voice_listen_asks_to_read_the_page_in_the_citizens_language_and_a_second_tap_stops(
        office: NodeConfig, lang: str) -> None:
    s = walk(office, f"lang:{lang}", "service:passport", "info", voice=True)
    view = s.view()
    assert {b.id: b.label for b in view.buttons}["listen"] == text(lang, "listen")
    effects = tap(s, "listen")
    assert effects == [SpeakRequest(s.speaking, speech(view.title, view.lines), lang)]
    assert {b.id: b.label for b in s.view().buttons}["listen"] == text(lang, "listen_stop")
    assert tap(s, "listen") == [StopSpeaking()]
    assert {b.id: b.label for b in s.view().buttons}["listen"] == text(lang, "listen")


def test_turning_the_page_stops_the_reading_and_listen_then_reads_the_new_page(office: NodeConfig) -> None:
    s = walk(office, "lang:kk", "service:passport", "info", voice=True, large=True)
    first = tap(s, "listen")
    assert tap(s, "infopage:next") == [StopSpeaking()]
    second = tap(s, "listen")
    assert isinstance(first[0], SpeakRequest) and isinstance(second[0], SpeakRequest)
    assert first[0].text != second[0].text and second[0].ident != first[0].ident


def test_leaving_the_page_or_finishing_offers_listen_again(office: NodeConfig) -> None:
    s = walk(office, "lang:ru", "service:passport", "info", "listen", voice=True)
    assert s.speaking
    tap(s, "back")
    assert s.speaking == 0
    s = walk(office, "lang:ru", "service:passport", "info", "listen", voice=True)
    s.spoke(s.speaking)  # the role played it out
    assert {b.id: b.label for b in s.view().buttons}["listen"] == text("ru", "listen")


# --- the role: real espeak-ng -----------------------------------------------------------------------

def role_at_info(office: NodeConfig, lang: str, tmp_path: Path, player: RecordingPlayer) -> KioskRole:
    clock = FakeClock()
    role = KioskRole(office=office, clock=clock, voice=True, player=player, voice_dir=tmp_path / "voice")
    for b in (f"lang:{lang}", "service:passport", "info"):
        clock.advance(1)
        role.press(b)
    clock.advance(1)
    return role


@pytest.mark.parametrize("lang", ["ky", "uk"])
def test_the_role_reads_the_page_aloud_with_espeak_ng(office: NodeConfig, lang: str, tmp_path: Path) -> None:
    player = RecordingPlayer()
    role = role_at_info(office, lang, tmp_path, player)
    view = role.view()
    assert view is not None and "listen" in [b.id for b in view.buttons]
    role.press("listen")
    assert role.speaker.wait(60)
    assert len(player.played) == 1 and len(role.speaker.said) == 1
    said = role.speaker.said[0]
    assert said.language == lang and said.text == speech(view.title, view.lines)
    with wave.open(str(player.played[0]), "rb") as w:
        frames, rate = w.getnframes(), w.getframerate()
    seconds = frames / rate
    words = len(said.text.split())
    # a person hears every word: at espeak's 150 words a minute, give or take pauses and long words
    assert 0.2 * words < seconds < 1.5 * words, (seconds, words)
    # and once it has finished the screen offers "Listen" again
    wait_until(lambda: role.state is not None and role.state.speaking == 0)
    view = role.view()
    assert view is not None and {b.id: b.label for b in view.buttons}["listen"] == text(lang, "listen")


def test_a_second_tap_or_leaving_the_screen_silences_the_kiosk(office: NodeConfig, tmp_path: Path) -> None:
    player = RecordingPlayer(seconds=60)  # a long page: still playing when the citizen taps again
    role = role_at_info(office, "ky", tmp_path, player)
    role.press("listen")
    wait_until(lambda: len(player.played) == 1)
    role.clock.advance(1)  # type: ignore[attr-defined]
    role.press("listen")
    assert role.speaker.wait(10) and player.stopped == 1
    role.clock.advance(1)  # type: ignore[attr-defined]
    role.press("listen")
    wait_until(lambda: len(player.played) == 2)
    role.clock.advance(1)  # type: ignore[attr-defined]
    role.press("back")
    assert role.speaker.wait(10) and player.stopped == 2


@pytest.mark.parametrize(("hardware", "listen"), [({"voice": True}, True), ({}, False), ({"voice": "no"}, False)])
def test_the_node_configs_hardware_voice_switch_turns_listen_on(
        office: NodeConfig, tmp_path: Path, hardware: dict[str, object], listen: bool) -> None:
    role = KioskRole(clock=FakeClock(), player=RecordingPlayer(), voice_dir=tmp_path)
    role.local = LocalConfig.model_validate({"node": "kiosk-1", "role": "kiosk", "office": "demo",
                                             "data_dir": str(tmp_path), "hardware": hardware})
    role._on_office_config(office)
    for b in ("lang:uk", "service:passport", "info"):
        role.clock.advance(1)  # type: ignore[attr-defined]
        role.press(b)
    view = role.view()
    assert view is not None and view.screen is Screen.INFO
    assert ("listen" in [b.id for b in view.buttons]) is listen


def test_without_espeak_ng_the_kiosk_shows_no_listen_button(office: NodeConfig, tmp_path: Path) -> None:
    role = KioskRole(clock=FakeClock(), voice=True, player=RecordingPlayer())
    role.speaker = InfoSpeaker(tmp_path, espeak="espeak-ng-not-installed")
    role._on_office_config(office)
    assert role.state is not None and role.state.voice is False


# --- the button on screen ---------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_listen_button_is_drawn_in_every_language(office: NodeConfig, lang: str, tmp_path: Path) -> None:
    size = (1280, 800)
    surface = pygame.Surface(size)
    frame = Renderer(size).draw(surface, walk(office, f"lang:{lang}", "service:passport", "info", voice=True).view())
    pygame.image.save(surface, str(tmp_path / f"info-listen-{lang}.png"))
    assert frame.text_of("listen").text == text(lang, "listen")
    for drawn in frame.texts:
        assert pixels_show(surface, drawn, is_bold(frame, drawn.element)), (lang, drawn.element)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_with_the_listen_button_no_label_overflows_in_any_language_or_mode(
        office: NodeConfig, size: tuple[int, int]) -> None:
    surface = pygame.Surface(size)
    renderer = Renderer(size)
    problems: list[str] = []
    for lang, low, large in display_modes(size):
        for speaking in (False, True):
            s = walk(office, f"lang:{lang}", "service:passport", "info", *(["listen"] if speaking else []),
                     voice=True, large=large, low=low)
            frame = renderer.draw(surface, s.view())
            problems += [f"{lang} low={low} large={large} speaking={speaking}: {d.element} "
                         f"{d.text!r} size {d.size} in {d.box}" for d in overflowing(frame, large)]
    assert problems == []
