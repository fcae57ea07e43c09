"""The kiosk's "what do I need?" screen (issue 18): a service's documents and where to go, in the
citizen's language, before the ticket. The office config is the one the server sends the kiosk
(built from examples/demo-office.yaml and passed through the MQTT contract), drawn by real pygame."""

from __future__ import annotations

from pathlib import Path

import pygame
import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import LANGUAGES, NodeConfig
from cherga.broker_bridge.nodeconfig import INFO_BUDGET, build_node_config
from cherga.kiosk.i18n import text
from cherga.kiosk.ui.info import speech
from cherga.kiosk.ui.render import Renderer
from cherga.kiosk.ui.state import IssueRequest, KioskState, Screen
from cherga.server.siteconfig import Names, Node, ServiceDetails, SiteConfig, load_site_config
from tests.kiosk.conftest import (
    SIZES,
    FakeClock,
    demo_office_config,
    display_modes,
    is_bold,
    overflowing,
    pixels_show,
)

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-office.yaml"
pytestmark = pytest.mark.usefixtures("pygame_headless")


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return load_site_config(DEMO)


@pytest.fixture(scope="module")
def office(site: SiteConfig) -> NodeConfig:
    """The kiosk's config as it arrives: built by the server, sent and decoded through the contract."""
    built = build_node_config(site, Node(id="kiosk-1", role="kiosk"))
    topic = contract.topic("node_config", "demo", node="kiosk-1")
    decoded = contract.decode(topic, built.to_bytes()).message
    assert isinstance(decoded, NodeConfig)
    return decoded


def walk(office: NodeConfig, *buttons: str, large: bool = False, low: bool = False) -> KioskState:
    clock = FakeClock()
    state = KioskState(office, clock=clock)
    for b in (["mode:large_text"] if large else []) + (["mode:low_reach"] if low else []) + list(buttons):
        clock.advance(1)
        state.press(b)
    return state


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_purpose_screen_offers_what_do_i_need_and_it_lists_documents_and_where_in_the_language(
        office: NodeConfig, site: SiteConfig, lang: str) -> None:
    s = walk(office, f"lang:{lang}", "service:passport")
    assert "info" in [b.id for b in s.view().buttons]
    s.clock.advance(1)  # type: ignore[attr-defined]
    s.press("info")
    view = s.view()
    assert view.screen is Screen.INFO
    info = site.service("passport").info
    assert info is not None and info.where is not None
    assert view.title == f"{text(lang, 'info_title')}: {site.service('passport').names.get(lang)}"
    assert view.lines[0] == text(lang, "info_where", where=info.where.get(lang))
    for doc in info.documents:
        assert f"• {doc.get(lang)}" in view.lines
    labels = {b.id: b.label for b in view.buttons}
    assert labels["take"] == text(lang, "get_ticket") and labels["back"] == text(lang, "back")


def test_get_a_ticket_under_the_documents_takes_a_ticket_to_submit_them(office: NodeConfig) -> None:
    s = walk(office, "lang:ky", "service:passport", "info", "take")
    assert s.view().screen is Screen.PRIORITY  # the demo office has priority categories
    s.clock.advance(1)  # type: ignore[attr-defined]
    effects = s.press("priority:none")
    assert effects == [IssueRequest(service="passport", bundle=None, purpose="submit", priority=None,
                                    language="ky", first_service="passport")]


def test_back_from_the_documents_returns_to_the_purpose(office: NodeConfig) -> None:
    s = walk(office, "lang:uk", "service:birth", "info", "back")
    assert s.view().screen is Screen.PURPOSE


def all_lines(s: KioskState) -> list[str]:
    """Every line of the info screen, turning its pages."""
    lines = list(s.view().lines)
    while "infopage:next" in [b.id for b in s.view().buttons]:
        s.clock.advance(1)  # type: ignore[attr-defined]
        s.press("infopage:next")
        lines += s.view().lines
    return lines


def test_large_text_pages_the_documents_and_every_line_is_shown_once(office: NodeConfig) -> None:
    normal = all_lines(walk(office, "lang:kk", "service:passport", "info"))
    s = walk(office, "lang:kk", "service:passport", "info", large=True)
    assert len(s.view().lines) < len(normal) and "infopage:prev" not in [b.id for b in s.view().buttons]
    assert all_lines(s) == normal
    assert "infopage:prev" in [b.id for b in s.view().buttons]
    assert len(normal) == 7  # where, four documents, fee, time to result


def test_a_life_situation_lists_each_service_with_its_documents(office: NodeConfig, site: SiteConfig) -> None:
    lines = all_lines(walk(office, "lang:ru", "bundle:moving", "info"))
    for sid in ("residence", "certificates", "social"):
        assert f"▸ {site.service(sid).names.get('ru')}" in lines
    assert "• Адрес прежнего места жительства" in lines  # the situation's own document


def test_a_kiosk_whose_office_wrote_no_information_shows_no_such_button() -> None:
    s = walk(demo_office_config(), "lang:uk", "service:passport")
    assert "info" not in [b.id for b in s.view().buttons]


def test_the_screen_reads_aloud_as_one_text(office: NodeConfig) -> None:
    view = walk(office, "lang:en", "service:birth", "info").view()
    said = speech(view.title, view.lines)
    assert said.startswith("What to bring: Birth registration. Where: Floor 1, counters 4–5. ")
    assert "•" not in said


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_documents_screen_is_drawn_in_every_language(office: NodeConfig, lang: str, tmp_path: Path) -> None:
    """GIVEN the passport's info screen WHEN pygame draws it THEN every line shows exactly its words
    (Kyrgyz Ң Ө Ү and Kazakh letters included: the pixels equal a fresh rendering in the bundled font)."""
    size = (1280, 800)
    surface = pygame.Surface(size)
    view = walk(office, f"lang:{lang}", "service:passport", "info").view()
    frame = Renderer(size).draw(surface, view)
    pygame.image.save(surface, str(tmp_path / f"info-{lang}.png"))
    shown = {d.element: d for d in frame.texts}
    assert len([e for e in shown if e.startswith("line:")]) == len(view.lines)
    for drawn in frame.texts:
        assert pixels_show(surface, drawn, is_bold(frame, drawn.element)), (lang, drawn.element)
    if lang == "ky":
        assert any(ch in "".join(view.lines) for ch in "ңөү")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_line_or_label_of_the_documents_screen_overflows_in_any_language_or_mode(
        office: NodeConfig, size: tuple[int, int]) -> None:
    surface = pygame.Surface(size)
    renderer = Renderer(size)
    problems: list[str] = []
    for lang, low, large in display_modes(size):
        for choice in ("service:passport", "service:business", "bundle:newborn"):
            s = walk(office, f"lang:{lang}", choice, "info", large=large, low=low)
            frame = renderer.draw(surface, s.view())
            problems += [f"{lang} {choice} low={low} large={large}: {d.element} {d.text!r} "
                         f"size {d.size} in {d.box}" for d in overflowing(frame, large)]
    assert problems == []


def test_a_kiosk_config_keeps_under_the_payload_limit_however_much_an_office_writes(site: SiteConfig) -> None:
    long = Names(**{lang: "Довідка про доходи з місця роботи за останні шість місяців " * 9 for lang in LANGUAGES})
    doc = Names(**{lang: "Довідка про доходи членів сім'ї" for lang in LANGUAGES})
    big_info = ServiceDetails(about=long, documents=[doc] * 6, fee=long, duration=long, where=doc)
    services = [s.model_copy(update={"info": big_info}) for s in site.services]
    heavy = site.model_copy(update={"services": services})
    assert len(build_node_config(heavy, Node(id="tv", role="display")).to_bytes()) < INFO_BUDGET
    built = build_node_config(heavy, Node(id="kiosk-1", role="kiosk"))
    assert len(built.to_bytes()) <= INFO_BUDGET
    full = sum(len(s.info.model_dump_json()) for s in heavy.services if s.info)
    assert full > contract.MAX_PAYLOAD  # sent whole, this office's kiosk would get no config at all
    # What a citizen must have in hand is what is kept first.
    assert built.services[0].info is not None and built.services[0].info.documents
    display = build_node_config(site, Node(id="tv", role="display"))
    assert all(s.info is None for s in display.services)
