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
