"""The kiosk's "tell me when my turn is near" (issue 19): after the ticket prints, a citizen may leave a
phone, an e-mail or a Telegram chat, with consent in words; one who does not want it does nothing.

The office config is the one the server sends the kiosk: the demo office with an SMS gateway and
e-mail configured, built by ``broker_bridge.nodeconfig`` and passed through the MQTT contract, so the
consent on screen is the server's own text. Screens are drawn by real pygame on the dummy driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygame
import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import LANGUAGES, NodeConfig
from cherga.broker_bridge.nodeconfig import build_node_config
from cherga.kiosk.i18n import pick, text
from cherga.kiosk.ui.render import Renderer, _font
from cherga.kiosk.ui.state import ContactRequest, KioskState, Screen
from cherga.server.notify import texts
from cherga.server.siteconfig import Node, SiteConfig
from tests.kiosk.conftest import (
    SIZES,
    FakeClock,
    display_modes,
    is_bold,
    overflowing,
    pixels_show,
    ticket_info,
)
from tests.server.helpers import demo_dict

pytestmark = pytest.mark.usefixtures("pygame_headless")
TOKEN = "Q7xK2pLmW9"
GATEWAYS: dict[str, Any] = {
    "sms": {"url": "http://127.0.0.1:9/sms/send"},
    "email": {"host": "127.0.0.1", "port": 2525, "starttls": False, "sender": "cnap@example.org"},
    "telegram": {"base_url": "http://127.0.0.1:9"},
}


def site_with(*channels: str) -> SiteConfig:
    return SiteConfig.model_validate(demo_dict(notify={ch: GATEWAYS[ch] for ch in channels}))


def kiosk_config(site: SiteConfig) -> NodeConfig:
    """The kiosk's config as it arrives: built by the server, sent and decoded through the contract."""
    built = build_node_config(site, Node(id="kiosk-1", role="kiosk"))
    decoded = contract.decode(contract.topic("node_config", "demo", node="kiosk-1"), built.to_bytes()).message
    assert isinstance(decoded, NodeConfig)
    return decoded


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return site_with("sms", "email")


@pytest.fixture(scope="module")
def office(site: SiteConfig) -> NodeConfig:
    return kiosk_config(site)


def with_ticket(office: NodeConfig, lang: str = "uk", *, large: bool = False, low: bool = False,
                **ticket: Any) -> KioskState:
    """A kiosk showing a freshly printed ticket in ``lang``."""
    clock = FakeClock()
    state = KioskState(office, clock=clock)
    for b in (["mode:large_text"] if large else []) + (["mode:low_reach"] if low else []) + [f"lang:{lang}"]:
        clock.advance(1)
        state.press(b)
    state.issued(ticket_info(language=lang, token=TOKEN, **ticket), printed=True)
    return state


def tap(state: KioskState, *buttons: str) -> list[Any]:
    effects: list[Any] = []
    for b in buttons:
        state.clock.advance(1)  # type: ignore[attr-defined]
        effects += state.press(b)
    return effects


def ids(state: KioskState) -> list[str]:
    return [b.id for b in state.view().buttons]


# --- the flow ---------------------------------------------------------------------------------------

def test_the_ticket_screen_offers_it_and_a_citizen_who_wants_nothing_is_never_asked(office: NodeConfig) -> None:
    s = with_ticket(office)
    assert s.view().screen is Screen.TICKET
    assert ids(s) == ["notify", "done"]  # one more button beside "Done"; nothing in the way of the ticket
    assert s.view().buttons[0].label == text("uk", "notify_offer")
    s.clock.advance(s.idle_s)  # type: ignore[attr-defined]
    assert s.tick() and s.view().screen is s.start_screen  # walked away: back to the start as before


def test_an_office_without_gateways_offers_nothing(site: SiteConfig) -> None:
    plain = kiosk_config(SiteConfig.model_validate(demo_dict()))
    assert plain.notify is None
    s = with_ticket(plain)
    assert ids(s) == ["done"]


def test_only_the_channels_the_office_configured_are_offered_and_one_channel_skips_the_choice() -> None:
    two = with_ticket(kiosk_config(site_with("sms", "telegram")))
    tap(two, "notify")
    assert two.view().screen is Screen.NOTIFY
    assert [b for b in ids(two) if b.startswith("channel:")] == ["channel:sms", "channel:telegram"]
    one = with_ticket(kiosk_config(site_with("email")))
    tap(one, "notify")
    assert one.view().screen is Screen.CONTACT and one.view().title == text("uk", "enter.email")


def test_no_thanks_ends_it_on_every_step_and_forgets_what_was_typed(office: NodeConfig) -> None:
    for steps in (["notify"], ["notify", "channel:sms", "ckey:3", "ckey:8"],
                  ["notify", "channel:sms", *[f"ckey:{d}" for d in "380501234567"], "ckey:ok"]):
        s = with_ticket(office)
        tap(s, *steps)
        assert "nothanks" in ids(s), steps
        assert tap(s, "nothanks") == []
        assert s.view().screen is s.start_screen and s.address == "" and s.channel is None


def test_a_phone_on_the_digit_keys_then_consent_sends_one_request(office: NodeConfig) -> None:
    s = with_ticket(office, "ky")
    tap(s, "notify", "channel:sms")
    view = s.view()
    keys = [b.label for b in view.buttons if b.kind == "key"]
    assert sorted(keys) == sorted("0123456789+")  # digits for a phone, no letters
    assert view.big == "+"  # the international form starts with +
    tap(s, *[f"ckey:{d}" for d in "996551234567"], "ckey:ok")
    view = s.view()
    assert view.screen is Screen.CONSENT
    consent = texts.consent_text("ky", office=office.office_names["ky"], days=30)
    # the tick box is the server's consent word for word: purpose and retention
    assert view.buttons[0].id == "agree" and view.buttons[0].label == f"☐ {consent}"
    assert view.lines == (f"{text('ky', 'channel.sms')}: +996551234567",)
    assert tap(s, "save") == []  # no tick, nothing leaves the kiosk
    assert s.view().lines == (text("ky", "contact.consent_required"),)
    tap(s, "agree")
    assert s.view().buttons[0].active and s.view().buttons[0].label == f"☑ {consent}"
    effects = tap(s, "save")
    assert effects == [ContactRequest(token=TOKEN, channel="sms", address="+996551234567", consent=True,
                                      language="ky")]
    assert s.view().screen is Screen.ISSUING and s.view().buttons == ()  # a second tap sends nothing
    s.contact_saved()
    assert s.view().title == text("ky", "contact_saved") and ids(s) == ["done"]
    tap(s, "done")
    assert s.address == "" and s.view().screen is s.start_screen


def test_an_e_mail_has_a_letter_keyboard_and_a_usb_keyboard_types_too(office: NodeConfig) -> None:
    s = with_ticket(office, "en")
    tap(s, "notify", "channel:email")
    keys = {b.label for b in s.view().buttons if b.kind == "key"}
    assert {"a", "z", "@", ".", "0"} <= keys
    tap(s, *[f"ckey:{c}" for c in "olena@"])
    s.type_text("Example.ORG")  # a keyboard; an e-mail is kept as typed, lower case
    assert s.view().big == "olena@example.org"
    s.enter()
    assert s.view().screen is Screen.CONSENT


@pytest.mark.parametrize(("channel", "typed", "key"), [("sms", "0501234", "bad_phone"),
                                                        ("email", "olena@", "bad_email")])
def test_a_slip_is_shown_at_once_on_the_keyboard_in_the_citizens_words(
        office: NodeConfig, channel: str, typed: str, key: str) -> None:
    s = with_ticket(office, "ru")
    tap(s, "notify", f"channel:{channel}", "ckey:del", *[f"ckey:{c}" for c in typed], "ckey:ok")
    view = s.view()
    assert view.screen is Screen.CONTACT and view.lines == (text("ru", f"contact.{key}"),)
    assert view.big == typed  # nothing lost: fix it, do not type it again


def test_a_refusal_from_the_server_keeps_the_ticket_and_says_why(office: NodeConfig) -> None:
    s = with_ticket(office, "kk")
    tap(s, "notify", "channel:sms", *[f"ckey:{d}" for d in "77011234567"], "ckey:ok", "agree", "save")
    s.contact_refused("bad_phone")
    assert s.view().screen is Screen.CONTACT and s.view().big == "+77011234567"
    assert s.view().lines == (text("kk", "contact.bad_phone"),)
    tap(s, "ckey:ok", "agree", "save")
    s.contact_refused("offline")
    assert s.view().title == text("kk", "contact.offline") and ids(s) == ["done"]
    assert s.address == ""  # said, and forgotten
    assert s.ticket is not None and s.ticket.label == "A-012"


def test_an_offline_ticket_or_one_without_a_token_offers_nothing(office: NodeConfig) -> None:
    s = with_ticket(office)
    s.issued(ticket_info(language="uk", token=TOKEN), printed=True, offline=True)
    assert ids(s) == ["done"]
    s.issued(ticket_info(language="uk", token=None), printed=True)
    assert ids(s) == ["done"]


# --- the screens, drawn ----------------------------------------------------------------------------

def contact_screens(office: NodeConfig, lang: str, **modes: bool) -> list[tuple[str, KioskState]]:
    out: list[tuple[str, KioskState]] = [("ticket", with_ticket(office, lang, **modes))]
    s = with_ticket(office, lang, **modes)
    tap(s, "notify")
    out.append(("notify", s))
    s = with_ticket(office, lang, **modes)
    tap(s, "notify", "channel:sms", *[f"ckey:{d}" for d in "38050123"])
    out.append(("contact-sms", s))
    s = with_ticket(office, lang, **modes)
    tap(s, "notify", "channel:email", *[f"ckey:{c}" for c in "name@mail.kg"])
    out.append(("contact-email", s))
    s = with_ticket(office, lang, **modes)
    tap(s, "notify", "channel:sms", "ckey:0", "ckey:ok")
    out.append(("contact-slip", s))
    s = with_ticket(office, lang, **modes)
    tap(s, "notify", "channel:sms", *[f"ckey:{d}" for d in "380501234567"], "ckey:ok", "save")
    out.append(("consent-not-ticked", s))
    s = with_ticket(office, lang, **modes)
    tap(s, "notify", "channel:sms", *[f"ckey:{d}" for d in "380501234567"], "ckey:ok", "agree", "save")
    s.contact_saved()
    out.append(("saved", s))
    return out


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_contact_screen_shows_its_words_in_each_language(office: NodeConfig, lang: str, tmp_path: Path) -> None:
    size = (1280, 800)
    surface = pygame.Surface(size)
    renderer = Renderer(size)
    titles = {"notify": "notify_title", "contact-sms": "enter.sms", "contact-email": "enter.email",
              "consent-not-ticked": "consent_title", "saved": "contact_saved"}
    for name, state in contact_screens(office, lang):
        frame = renderer.draw(surface, state.view())
        pygame.image.save(surface, str(tmp_path / f"{lang}-{name}.png"))
        for drawn in frame.texts:
            assert pixels_show(surface, drawn, is_bold(frame, drawn.element)), (lang, name, drawn.element)
        if name in titles:
            assert frame.text_of("title").text == text(lang, titles[name])
        if name == "ticket":
            assert frame.text_of("notify").text == text(lang, "notify_offer")
        if name == "notify":
            assert frame.text_of("nothanks").text == text(lang, "no_thanks")
        if name == "contact-slip":
            assert frame.text_of("line:0").text == text(lang, "contact.bad_phone")
        if name == "consent-not-ticked":
            consent = texts.consent_text(lang, office=pick(office.office_names, lang), days=30)
            assert frame.text_of("agree").text == f"☐ {consent}"
            assert frame.text_of("line:0").text == text(lang, "contact.consent_required")
    assert len(list(tmp_path.glob("*.png"))) == 7


def test_kyrgyz_letters_and_the_tick_box_are_real_glyphs_not_empty_boxes(office: NodeConfig) -> None:
    fnt = _font(24, True)
    missing = pygame.image.tobytes(fnt.render("\ue000", True, (0, 0, 0), (255, 255, 255)), "RGB")
    words = text("ky", "notify_offer") + text("ky", "notify_intro") + text("ky", "consent_title")
    for ch in {"ң", "ө", "ү", "☐", "☑"}:
        assert ch in words + "☐☑"
        assert pygame.image.tobytes(fnt.render(ch, True, (0, 0, 0), (255, 255, 255)), "RGB") != missing, ch


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_contact_label_overflows_and_every_key_is_a_finger_wide(office: NodeConfig, size: tuple[int, int]) -> None:
    surface = pygame.Surface(size)
    renderer = Renderer(size)
    problems: list[str] = []
    for lang, low, large in display_modes(size):
        for name, state in contact_screens(office, lang, low=low, large=large):
            frame = renderer.draw(surface, state.view())
            problems += [f"{lang} {name} low={low} large={large}: {drawn.element} "
                         f"{drawn.text!r} size {drawn.size} in {drawn.box}" for drawn in overflowing(frame, large)]
            for placed in frame.layout.buttons:
                if size != (800, 480) and min(placed.rect[2], placed.rect[3]) < 44:
                    problems.append(f"{lang} {name}: {placed.button.id} is a small target {placed.rect}")
                if low and placed.rect[1] < size[1] // 2 - 1 and size[1] >= 720:
                    problems.append(f"{lang} {name} low reach: {placed.button.id} above half {placed.rect}")
    assert problems == []
