"""The kiosk's screens as a citizen walks through them (pure state machine, injected clock)."""

from __future__ import annotations

import dataclasses

from cherga.broker_bridge.contract import NodeConfig
from cherga.kiosk.i18n import text
from cherga.kiosk.ui.layout import layout
from cherga.kiosk.ui.state import SETTLE_S, CheckInRequest, IssueRequest, KioskState, QueueLoad, Screen
from tests.kiosk.conftest import FakeClock, ticket_info


def tap(state: KioskState, clock: FakeClock, button: str) -> list:
    clock.advance(1.0)  # a person's pace between taps
    return state.press(button)


def test_a_citizen_gets_a_ticket_language_service_purpose_priority(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    assert s.view().screen is Screen.LANGUAGE
    tap(s, clock, "lang:ky")
    assert s.view().title == "Кызматты тандаңыз"
    tap(s, clock, "service:passport")
    assert s.view().screen is Screen.PURPOSE
    assert [b.label for b in s.view().buttons if b.kind == "choice"] == [
        "Консультация", "Документтерди тапшыруу", "Натыйжаны алуу"]
    tap(s, clock, "purpose:submit")
    assert s.view().screen is Screen.PRIORITY
    effects = tap(s, clock, "priority:veteran")
    assert effects == [IssueRequest(service="passport", bundle=None, purpose="submit", priority="veteran",
                                    language="ky", first_service="passport")]
    assert s.view().screen is Screen.ISSUING and s.view().buttons == ()


def test_a_life_situation_bundle_is_one_choice(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:en")
    first = [b for b in s.view().buttons if b.kind == "choice"][0]
    assert (first.id, first.label) == ("bundle:newborn", "A baby is born")
    tap(s, clock, "bundle:newborn")
    tap(s, clock, "purpose:submit")
    effects = tap(s, clock, "priority:none")
    assert effects == [IssueRequest(service=None, bundle="newborn", purpose="submit", priority=None,
                                    language="en", first_service="birth")]


def test_long_service_lists_are_paged_and_every_service_is_reachable(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:uk")
    seen: list[str] = []
    while True:
        v = s.view()
        seen += [b.id for b in v.buttons if b.kind == "choice"]
        if not any(b.id == "page:next" for b in v.buttons):
            break
        tap(s, clock, "page:next")
    assert len(seen) == len(set(seen)) == len(office.services) + len(office.bundles)
    tap(s, clock, "page:prev")
    assert any(b.id == "page:next" for b in s.view().buttons)


def test_a_long_queue_asks_to_confirm_with_people_ahead_and_the_estimate(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    s.set_load({"passport": QueueLoad(23, 42, 61)})
    tap(s, clock, "lang:uk")
    tap(s, clock, "service:passport")
    tap(s, clock, "purpose:consult")
    assert tap(s, clock, "priority:none") == []
    v = s.view()
    assert v.screen is Screen.CONFIRM
    assert v.title == text("uk", "queue_long")
    assert "Перед вами: 23" in v.lines
    assert "Орієнтовний час очікування: ≈ 42 хв, не більше 61" in v.lines  # the ticket's own range
    assert len(tap(s, clock, "confirm")) == 1


def test_a_short_queue_issues_without_asking(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    s.set_load({"passport": QueueLoad(2, 5, 11)})
    tap(s, clock, "lang:uk")
    tap(s, clock, "service:passport")
    tap(s, clock, "purpose:consult")
    assert len(tap(s, clock, "priority:none")) == 1


def test_an_appointment_only_service_says_so_and_offers_check_in(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:kk")
    while not any(b.id == "service:notary" for b in s.view().buttons):
        tap(s, clock, "page:next")
    assert tap(s, clock, "service:notary") == []
    v = s.view()
    assert v.screen is Screen.MESSAGE
    assert v.title == "Бұл қызмет тек алдын ала жазылу бойынша"
    tap(s, clock, "appointment")
    assert s.view().screen is Screen.CHECKIN


def test_server_refusals_are_shown_in_the_chosen_language(office: NodeConfig, clock: FakeClock) -> None:
    for lang, reason, expected in [("ky", "daily_cap_reached", "Бүгүнкү талондор бүттү"),
                                   ("uk", "service_closed", "Послуга зараз недоступна"),
                                   ("ru", "appointment_only", "Эта услуга только по предварительной записи"),
                                   ("en", "something_new", text("en", "reason.generic"))]:
        s = KioskState(office, clock=clock)
        tap(s, clock, f"lang:{lang}")
        tap(s, clock, "service:passport")
        tap(s, clock, "purpose:consult")
        tap(s, clock, "priority:none")
        s.refused(reason)
        assert s.view().title == expected


def test_after_15_seconds_untouched_the_kiosk_is_back_at_the_start(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:ky")
    tap(s, clock, "mode:large_text")
    tap(s, clock, "service:passport")
    clock.advance(14.9)
    assert s.tick() is False and s.view().screen is Screen.PURPOSE
    clock.advance(0.2)
    assert s.tick() is True
    v = s.view()
    assert v.screen is Screen.LANGUAGE and v.lang == "uk" and not v.large_text


def test_the_printed_ticket_screen_also_returns_to_the_start(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:ru")
    s.issued(ticket_info(language="ru"), printed=True)
    assert s.view().big == "A-012"
    clock.advance(15.1)
    s.tick()
    assert s.view().screen is Screen.LANGUAGE


def test_a_double_tap_never_asks_for_two_tickets(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    s.set_load({"passport": QueueLoad(30, 60, 80)})
    tap(s, clock, "lang:uk")
    tap(s, clock, "service:passport")
    tap(s, clock, "purpose:consult")
    tap(s, clock, "priority:none")
    effects = tap(s, clock, "confirm")
    clock.advance(0.08)  # the second half of a double tap
    effects += s.press("confirm")
    clock.advance(2.0)  # even a slow second tap finds no button while the ticket is on its way
    effects += s.press("confirm")
    assert len(effects) == 1


def test_a_double_tap_does_not_land_on_the_next_screens_button(office: NodeConfig, clock: FakeClock) -> None:
    """The second tap of a double tap on "consultation" must not pick a priority category."""
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:uk")
    tap(s, clock, "service:passport")
    tap(s, clock, "purpose:consult")
    clock.advance(SETTLE_S / 3)
    assert s.press("priority:none") == []
    assert s.view().screen is Screen.PRIORITY


def test_a_scanned_booking_code_checks_in_from_the_services_screen(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:ky")
    s.type_text("abcd-2345")
    assert s.enter() == [CheckInRequest(code="ABCD-2345", language="ky")]
    assert s.view().screen is Screen.ISSUING


def test_the_keypad_types_a_booking_code_and_checks_in(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:uk")
    tap(s, clock, "appointment")
    for key in "ABCDX":
        tap(s, clock, f"key:{key}")
    tap(s, clock, "key:del")
    for key in "2345":
        tap(s, clock, f"key:{key}")
    assert s.view().big == "ABCD-2345"
    assert tap(s, clock, "key:ok") == [CheckInRequest(code="ABCD-2345", language="uk")]


def test_low_reach_mode_puts_every_button_and_text_in_the_lower_half(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:uk")
    tap(s, clock, "mode:low_reach")
    for size in [(1280, 800), (1080, 1920)]:
        for screen_setup in ("services", "checkin"):
            if screen_setup == "checkin":
                tap(s, clock, "appointment")
            v = s.view()
            assert v.low_reach
            lay = layout(v, size)
            half = size[1] // 2
            assert lay.title[1] >= half
            assert all(p.rect[1] >= half and p.rect[1] + p.rect[3] <= size[1] for p in lay.buttons)
        tap(s, clock, "back")


def test_a_printer_fault_shows_the_number_large_with_the_status_qr(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:ky")
    s.issued(ticket_info(language="ky"), printed=False)
    v = s.view()
    assert v.alert and v.big == "A-012"
    assert v.title == "Принтер иштебей жатат, номериңизди эстеп калыңыз"
    assert v.qr == ticket_info().status_url


def test_the_ticket_screen_shows_the_forecast_as_a_range(office: NodeConfig, clock: FakeClock) -> None:
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:ky")
    s.issued(ticket_info(language="ky", wait_min=12, wait_max_min=25), printed=True)
    assert "Болжолдуу күтүү убактысы: ≈ 12 мүн, көп дегенде 25" in s.view().lines
    # from a server that gives no bound: the point alone
    s2 = KioskState(office, clock=clock)
    tap(s2, clock, "lang:en")
    s2.issued(ticket_info(language="en", wait_min=12), printed=True)
    assert "Estimated wait: ≈ 12 min" in s2.view().lines


def test_a_walk_in_told_the_service_closes_first_may_take_the_ticket_anyway_or_go_back(
        office: NodeConfig, clock: FakeClock) -> None:
    """Issue 20: not_before_closing is a question in the citizen's language: closing time, the
    earliest free booking as information, "take a ticket anyway" (re-sent with the flag) or "back"."""
    s = KioskState(office, clock=clock)
    tap(s, clock, "lang:ru")
    tap(s, clock, "service:passport")
    first = tap(s, clock, "purpose:submit")
    first += tap(s, clock, "priority:none")
    assert first and not first[0].after_closing_ok
    s.refused("not_before_closing", {"service": "passport", "closing": "17:00", "wait_min": 48,
                                     "slot": "2026-11-26T08:00:00+00:00"})
    v = s.view()
    assert v.screen is Screen.CLOSING
    assert "17:00" in v.title and "сегодня" in v.title
    assert any("26.11 10:00" in line and "запись" in line for line in v.lines)  # Kyiv is UTC+2 in November
    assert [b.label for b in v.buttons if b.kind != "mode"] == ["Всё равно получить талон", "Назад"]
    again = tap(s, clock, "anyway")
    assert again == [dataclasses.replace(first[0], after_closing_ok=True)]
    assert s.view().screen is Screen.ISSUING
    # Another citizen, no free booking: no booking line, and "back" leads to the services.
    s.refused("not_before_closing", {"service": "passport", "closing": "17:00", "wait_min": 48})
    assert s.view().screen is Screen.CLOSING and len(s.view().lines) == 1
    assert tap(s, clock, "back") == []
    assert s.view().screen is Screen.SERVICES
