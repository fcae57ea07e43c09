"""What the live ticket page says at each step of a real ticket's life, in each of the five languages:
the catalog's words (never an internal status word or a catalog key), the forecast exactly as the
kiosk prints it, and nothing about any other citizen."""

from __future__ import annotations

import re

import pytest

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.kiosk.i18n import wait_line
from cherga.server.ticketpage.i18n import CATALOGS, catalog
from cherga.server.ticketpage.words import ViewState, ticket_view
from tests.ticketpage.conftest import Office

KEY = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # a catalog key such as no_show or rate_prompt
INTERNAL = {"waiting", "called", "serving", "done", "no_show", "cancelled", "walk_in"}


def view(office: Office, token: str | None, lang: str, rated: bool = False) -> ViewState:
    assert token is not None
    svc = office.service
    info = svc.ticket_status(token)
    rec = svc.store.ticket_by_token(token)
    assert rec is not None
    return ticket_view(info, rec.ticket, svc.config, catalog(lang), lang, svc.now(), rated=rated)


def words(v: ViewState) -> str:
    return " ".join([v.headline, *v.lines, v.service])


def assert_plain(v: ViewState, lang: str) -> None:
    text = words(v)
    assert not KEY.search(text), text
    if lang != "en":
        assert not re.search(r"[A-Za-z]{2,}", text), f"English on a {lang} page: {text}"
    assert not {v.headline.lower(), *(line.lower() for line in v.lines)} & INTERNAL, text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_ticket_is_told_its_place_forecast_call_and_end_in_its_own_words(office: Office, lang: str) -> None:
    t = catalog(lang)
    office.open_counter_1()
    office.issue("passport", "uk")  # somebody ahead: counted, never shown
    mine = office.issue("passport", lang)
    v = view(office, mine.token, lang)
    assert v.state == "waiting" and v.headline == t["please_wait"] and v.label == mine.label
    assert t["people_ahead"].format(n=1) in v.lines
    info = office.service.ticket_status(mine.token or "")
    assert wait_line(lang, info.wait_min, info.wait_max_min) in v.lines  # as printed on the ticket
    assert "A-001" not in words(v)  # the other citizen's number is nowhere
    assert_plain(v, lang)

    office.act("c1", CounterAction.NEXT)  # the one ahead
    assert view(office, mine.token, lang).lines[0] == t["you_are_next"]
    office.act("c1", CounterAction.FINISH)
    office.act("c1", CounterAction.NEXT)
    v = view(office, mine.token, lang)
    assert (v.state, v.headline, v.counter) == ("called", t["called_title"], "1")
    assert t["go_to_counter"].format(n="1") in v.lines and v.alert
    first_alert = v.alert
    assert_plain(v, lang)

    office.act("c1", CounterAction.RECALL)
    v = view(office, mine.token, lang)
    assert (v.state, v.headline) == ("recalled", t["recalled_title"])
    assert v.alert and v.alert != first_alert  # a recall rings again
    office.act("c1", CounterAction.START)
    v = view(office, mine.token, lang)
    assert (v.state, v.headline, v.alert) == ("serving", t["serving_title"].format(n="1"), "")
    office.act("c1", CounterAction.FINISH)
    v = view(office, mine.token, lang)
    assert (v.state, v.headline, v.can_rate, v.final) == ("served", t["served_title"], True, False)
    assert v.lines == (t["rate_prompt"],)
    assert_plain(v, lang)
    v = view(office, mine.token, lang, rated=True)
    assert (v.can_rate, v.final, v.lines) == (False, True, (t["rated_thanks"],))


@pytest.mark.parametrize("lang", ["kk", "en"])
def test_a_missed_call_says_what_to_do_now(office: Office, lang: str) -> None:
    t = catalog(lang)
    office.open_counter_1()
    mine = office.issue("passport", lang)
    office.act("c1", CounterAction.NEXT)
    office.act("c1", CounterAction.NO_SHOW)
    v = view(office, mine.token, lang)
    assert (v.state, v.headline, v.lines, v.final) == ("no_show", t["no_show_title"], (t["no_show_what_now"],), True)
    assert_plain(v, lang)


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_a_transfer_and_a_postponement_keep_the_holder_informed(office: Office, lang: str) -> None:
    t = catalog(lang)
    office.open_counter_1()
    office.act("c4", CounterAction.SIGN_IN, operator="petro", pin="2222")
    mine = office.issue("passport", lang)
    office.act("c1", CounterAction.NEXT)
    office.act("c1", CounterAction.TRANSFER, to_service="residence")
    v = view(office, mine.token, lang)
    residence = office.service.config.service("residence").names.get(lang)
    assert (v.state, v.headline, v.service) == ("transferred", t["transferred_title"], residence)
    assert t["transferred_service"].format(service=residence) in v.lines
    assert_plain(v, lang)

    office.act("c4", CounterAction.NEXT)
    office.act("c4", CounterAction.POSTPONE, delay_s=600)
    v = view(office, mine.token, lang)
    assert (v.state, v.headline) == ("postponed", t["postponed_title"])
    assert t["postponed_until"].format(time="10:10") in v.lines  # 08:00 UTC + 10 min, Kyiv time
    assert_plain(v, lang)


def test_a_ticket_the_hall_manager_removed_says_it_is_cancelled_and_what_next(office: Office) -> None:
    t = catalog("uk")
    mine = office.issue("passport", "uk")
    office.service.cancel_ticket(command_id="gone", ticket_id=mine.ticket_id, source="panel:maria", operator="maria")
    v = view(office, mine.token, "uk")
    assert (v.state, v.headline, v.lines, v.final) == ("cancelled", t["cancelled_title"], (t["cancelled_what_now"],),
                                                        True)


def test_every_word_the_page_uses_exists_in_every_language() -> None:
    """The page's own catalog plus the kiosk words it borrows: none falls back to its key."""
    used = set(CATALOGS.own("en")) | {"people_ahead", "please_wait", "window", "ticket", "choose_language",
                                      "language_name", "estimated_wait", "wait_minutes", "wait_range_minutes"}
    for lang in LANGUAGES:
        t = catalog(lang)
        assert all(t[k] != k for k in used), lang
