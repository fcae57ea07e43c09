"""Staff read every word in their language: refusals (with names, never ids), and the counters a
ticket may be sent to."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.server.panel.i18n import CATALOGS
from cherga.server.service import OfficeService
from tests.panel.test_panel import act, issue, text

SignIn = Callable[..., TestClient]
ROOT = Path(__file__).resolve().parents[2]
# Everything that raises a refusal key staff may meet: the service, the sign-in rules it applies,
# and the core's refusals the service passes on with their key (IllegalTransition, SlotRefused).
RAISING = [*sorted((ROOT / "server" / "service").glob("*.py")), ROOT / "server" / "auth.py",
           ROOT / "server" / "core" / "tickets.py", ROOT / "server" / "core" / "booking.py"]
RAISERS = {"ServiceError", "NotFound", "Conflict", "Invalid", "Unauthorized", "Forbidden",
           "IllegalTransition", "SlotRefused"}


def refusal_keys() -> set[str]:
    """Every literal key passed to a refusal raised in :data:`RAISING`."""
    keys: set[str] = set()
    for path in RAISING:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RAISERS
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                keys.add(node.args[0].value)
    return keys


def test_the_walk_finds_the_refusals_the_service_raises() -> None:
    found = refusal_keys()
    assert {"counter_does_not_serve", "service_closed", "illegal_transition", "wrong_counter", "slot_full",
            "bad_credentials"} <= found
    assert len(found) > 40


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_refusal_the_service_raises_has_a_message_in_every_language(lang: str) -> None:
    own = CATALOGS.own(lang)
    missing = sorted(k for k in refusal_keys() if f"error_{k}" not in own)
    assert not missing, f"{lang}: no panel message for {missing}"


def test_a_refused_transfer_names_the_counter_and_service_in_the_operators_language(
        signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in(lang="uk")
    issue(service)
    act(client, "c1", "next")
    r = client.post("/panel/counter/c1/action", headers={"X-Panel-Fragment": "1"},
                    data={"command_id": uuid.uuid4().hex, "action": "transfer", "to_counter": "c9", "lang": "uk"})
    page = text(r.text)
    passport = service.config.service("passport").names.get("uk")
    assert f"Вікно 9 не обслуговує послугу «{passport}»" in page
    assert "c9" not in page and "'passport'" not in page and "does not serve" not in page


def test_a_refused_send_reads_in_russian_without_ids(signed_in: SignIn, service: OfficeService,
                                                      client: TestClient) -> None:
    issue(service, "birth", "consult")
    signed_in("maria", "", lang="ru")
    tid = service.waiting_list("c4")[0].ticket_id
    r = client.post("/panel/manager/send", data={"command_id": "s1", "ticket_id": tid, "to_counter": "c1",
                                                 "lang": "ru"}, headers={"X-Panel-Fragment": "1"})
    page = text(r.text)
    birth = service.config.service("birth").names.get("ru")
    assert f"Окно 1 не обслуживает услугу «{birth}»" in page
    assert "'c1'" not in page and "'birth'" not in page


def test_a_refusal_in_kazakh_is_kazakh(signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in(lang="kk")
    service.counter_action(command_id="p", counter="c1", action=CounterAction.PAUSE, source="t")
    r = client.post("/panel/counter/c1/action", headers={"X-Panel-Fragment": "1"},
                    data={"command_id": uuid.uuid4().hex, "action": "pause", "lang": "kk"})
    assert "Терезе қазірдің өзінде үзілісте." in text(r.text)


def options(html: str, form_marker: str) -> list[str]:
    """The counter numbers offered in the ``to_counter`` list of the form that holds ``form_marker``."""
    form = next(f for f in html.split("<form")[1:] if form_marker in f)
    select = form.split('name="to_counter"')[1].split("</select>")[0]
    return [text("<option" + o).strip() for o in select.split("<option")[1:] if 'value=""' not in o]


def sign_in_at(service: OfficeService, counter: str, operator: str) -> None:
    service.counter_action(command_id=f"in-{counter}", counter=counter, action=CounterAction.SIGN_IN, source="t",
                           operator=operator, authenticated=True)


def test_the_transfer_form_lists_only_open_counters_that_serve_the_tickets_service(
        signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in(lang="en")
    issue(service)  # passport: served by counters 1, 2 and 3
    sign_in_at(service, "c2", "taras")  # counter 2 open; counter 3 nobody: closed
    act(client, "c1", "next")
    page = client.get("/panel/counter/c1").text
    assert options(page, 'value="transfer"') == ["2"]


def test_the_send_form_lists_only_open_counters_that_serve_each_tickets_service(
        signed_in: SignIn, service: OfficeService, client: TestClient) -> None:
    births = issue(service, "birth", "consult")  # birth: counters 4 and 5
    passports = issue(service, "passport")  # passport: counters 1, 2, 3
    sign_in_at(service, "c4", "olena")
    sign_in_at(service, "c2", "taras")
    signed_in("maria", "")
    page = client.get("/panel/manager").text
    assert options(page, f'data-ticket="{births}"') == ["4"]
    assert options(page, f'data-ticket="{passports}"') == ["2"]
