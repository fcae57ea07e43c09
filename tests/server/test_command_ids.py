"""Exactly once per command id: every kind of command resent after a restart gets its first answer and
changes nothing; an id reused by a different kind of command is refused, never answered with another's result."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge
from cherga.broker_bridge.contract import CounterAction as A
from cherga.broker_bridge.contract import CounterCommand, IssueTicket
from cherga.server import auth
from cherga.server.app import create_app
from cherga.server.errors import Conflict
from cherga.server.service import OfficeService
from cherga.server.store import Store, sqlite_url
from tests.bridge.conftest import make_service, sign_in, site_config
from tests.server.helpers import Clock, demo_config


@dataclasses.dataclass
class Scene:
    """What a command needs around it: tickets waiting, an operator at c1, a booking."""

    service: OfficeService
    clock: Clock
    waiting: list[str]
    code: str


def _scene(store: Store, clock: Clock) -> Scene:
    svc = OfficeService(demo_config(), store, clock=clock)
    auth.create_account(store, username="olena", role="operator", pin="1234", display_name="Олена")
    svc.counter_action(command_id="setup-in", counter="c1", action=A.SIGN_IN, source="test", operator="olena",
                       authenticated=True)
    waiting = [svc.issue_ticket(command_id=f"setup-{i}", source="kiosk", service="passport").ticket_id
               for i in range(3)]
    code = svc.book_appointment(service="passport", slot=clock.now + dt.timedelta(minutes=15), source="web")
    return Scene(svc, clock, waiting, code)


def _act(action: A, **kw: Any) -> Callable[[OfficeService, Scene], Any]:
    return lambda svc, s: svc.counter_action(command_id="same", counter="c1", action=action, source="pad", **kw)


def _call_first(s: Scene) -> None:
    s.service.counter_action(command_id="setup-next", counter="c1", action=A.NEXT, source="pad")


def _finish_first(s: Scene) -> None:
    _call_first(s)
    s.service.counter_action(command_id="setup-finish", counter="c1", action=A.FINISH, source="pad")


# kind → (what must happen first, the command sent twice with the id "same")
COMMANDS: dict[str, tuple[Callable[[Scene], None], Callable[[OfficeService, Scene], Any]]] = {
    "issue": (lambda s: None, lambda svc, s: svc.issue_ticket(command_id="same", source="kiosk", service="passport")),
    "check_in": (lambda s: s.clock.advance(600),
                 lambda svc, s: svc.check_in(command_id="same", source="kiosk", code=s.code)),
    "offline_ticket": (lambda s: None, lambda svc, s: svc.take_offline_ticket(
        command_id="same", source="kiosk", service="passport", purpose="consult", priority=None, language="uk",
        number=901, issued_at=s.clock.now - dt.timedelta(minutes=3))),
    "book_appointment": (lambda s: None, lambda svc, s: svc.book_appointment(
        command_id="same", service="passport", slot=s.clock.now + dt.timedelta(minutes=30), source="web")),
    "cancel_ticket": (lambda s: None,
                      lambda svc, s: svc.cancel_ticket(command_id="same", ticket_id=s.waiting[1], source="staff")),
    "send_to_counter": (lambda s: None, lambda svc, s: svc.send_to_counter(
        command_id="same", ticket_id=s.waiting[2], to_counter="c1", source="staff")),
    "next": (lambda s: None, _act(A.NEXT)),
    "recall": (_call_first, _act(A.RECALL)),
    "start": (_call_first, _act(A.START)),
    "finish": (_call_first, _act(A.FINISH, result="submitted")),
    "no_show": (_call_first, _act(A.NO_SHOW)),
    "transfer": (_call_first, _act(A.TRANSFER, to_service="residence")),
    "postpone": (_call_first, _act(A.POSTPONE, delay_s=60)),
    "pause": (lambda s: None, _act(A.PAUSE, pause_reason="lunch")),
    "resume": (lambda s: None, _act(A.RESUME)),  # the scene is paused first (see below)
    "sign_out": (lambda s: None, _act(A.SIGN_OUT)),
    "sign_in": (lambda s: None, _act(A.SIGN_IN, operator="olena", pin="1234")),
    "rate": (_finish_first, _act(A.RATE, score=9)),
}


def test_every_command_kind_has_a_resend_case() -> None:
    assert {a.value for a in A} <= set(COMMANDS)


def _footprint(store: Store) -> tuple[int, int, list[Any]]:
    return store.count_tickets(), len(store.events("demo")), list(store.counter_rows("demo"))


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_command_resent_after_a_restart_gets_its_first_answer_and_changes_nothing(
        kind: str, any_store: Store, clock: Clock) -> None:
    prepare, send = COMMANDS[kind]
    scene = _scene(any_store, clock)
    if kind == "resume":
        scene.service.counter_action(command_id="setup-pause", counter="c1", action=A.PAUSE, source="pad")
    else:
        prepare(scene)
    first = send(scene.service, scene)
    before = _footprint(any_store)
    clock.advance(5)
    restarted = OfficeService(demo_config(), any_store, clock=clock)
    assert send(restarted, scene) == first
    assert _footprint(any_store) == before


def test_an_issue_id_sent_again_with_next_is_refused_and_calls_nobody(service: OfficeService) -> None:
    issued = service.issue_ticket(command_id="same", source="kiosk", service="passport")
    with pytest.raises(Conflict) as exc:
        service.counter_action(command_id="same", counter="c1", action=A.NEXT, source="pad")
    assert exc.value.key == "command_id_reused" and exc.value.status == 409
    assert [t.ticket_id for t in service.waiting_list("c1")] == [issued.ticket_id]


def test_a_cancel_with_an_issue_id_is_refused_and_the_ticket_keeps_waiting(service: OfficeService) -> None:
    issued = service.issue_ticket(command_id="same", source="kiosk", service="passport")
    with pytest.raises(Conflict) as exc:
        service.cancel_ticket(command_id="same", ticket_id=issued.ticket_id, source="staff")
    assert exc.value.key == "command_id_reused"
    assert service.ticket(issued.ticket_id).status == "waiting"


def test_an_issue_with_a_next_id_never_hands_out_the_called_ticket(service: OfficeService,
                                                                  sqlite_store: Store, clock: Clock) -> None:
    service.issue_ticket(command_id="k1", source="kiosk", service="passport")
    called = service.counter_action(command_id="same", counter="c1", action=A.NEXT, source="pad")
    assert called.ticket is not None
    for svc in (service, OfficeService(demo_config(), sqlite_store, clock=clock)):  # from memory, then the store
        with pytest.raises(Conflict) as exc:
            svc.issue_ticket(command_id="same", source="kiosk", service="passport")
        assert exc.value.key == "command_id_reused"
    assert sqlite_store.count_tickets() == 1


def test_a_next_id_reused_for_finish_is_refused(service: OfficeService) -> None:
    service.issue_ticket(command_id="k1", source="kiosk", service="passport")
    service.counter_action(command_id="same", counter="c1", action=A.NEXT, source="pad")
    with pytest.raises(Conflict) as exc:
        service.counter_action(command_id="same", counter="c1", action=A.FINISH, source="pad")
    assert exc.value.key == "command_id_reused"
    assert service.counter_state("c1").status == "calling"


def test_a_next_id_sent_again_at_another_counter_is_refused_not_answered_with_the_first_call(
        service: OfficeService) -> None:
    service.issue_ticket(command_id="k1", source="kiosk", service="passport")
    service.issue_ticket(command_id="k2", source="kiosk", service="passport")
    service.counter_action(command_id="same", counter="c1", action=A.NEXT, source="pad")
    with pytest.raises(Conflict) as exc:
        service.counter_action(command_id="same", counter="c2", action=A.NEXT, source="pad")
    assert exc.value.key == "command_id_reused"
    assert service.counter_state("c2").ticket is None


def test_rest_answers_a_reused_idempotency_key_with_409_not_500(tmp_path: Path, clock: Clock) -> None:
    app = create_app(demo_config(), sqlite_url(tmp_path / "cherga.db"), clock=clock, sweep_interval=None,
                     demo_accounts=True)
    with TestClient(app) as client:
        login = client.post("/api/v1/auth/login", json={"username": "olena", "password": "cherga-operator"})
        staff = {"Authorization": f"Bearer {login.json()['token']}"}
        api = "/api/v1/offices/demo"
        issued = client.post(f"{api}/tickets", json={"service": "passport"}, headers={"Idempotency-Key": "k-1"})
        assert issued.status_code == 201
        client.post(f"{api}/counters/c1/sign-in", headers=staff)
        r = client.post(f"{api}/counters/c1/next", headers={**staff, "Idempotency-Key": "k-1"})
        assert r.status_code == 409 and r.json()["key"] == "command_id_reused"


def test_over_mqtt_a_reused_id_is_an_error_reply_with_its_reason(tmp_path: Path) -> None:
    site = site_config("demo")
    svc = make_service(site, tmp_path / "office.db")
    sign_in(svc, "c1")
    bridge = Bridge(svc, "127.0.0.1", 1, config=site)
    now = dt.datetime.now(dt.UTC)
    bridge.handle(contract.topic("kiosk_issue", "demo", node="k1"),
                  IssueTicket(id="i1", node="k1", ts=now, service="passport").to_bytes())
    press = CounterCommand(id="p1", node="pad-c1", ts=now, action="next")
    counter_topic = contract.topic("counter_command", "demo", counter="c1")
    assert bridge.handle(counter_topic, press.to_bytes()).status == "applied"
    reused = press.model_copy(update={"action": A.FINISH})
    assert bridge.handle(counter_topic, reused.to_bytes()).status == "answered_error"
    assert bridge.metrics.service_errors["command_id_reused"] == 1
    assert svc.counter_state("c1").status == "calling"  # the finish was not applied
