"""Nodes and the server are updated at different times: what a minor v1 addition may and may not do."""

from __future__ import annotations

import json

import pytest

from cherga.broker_bridge import contract

TICKET = {"ticket_id": "t-1", "label": "A-012", "prefix": "A", "number": 12, "service": "passport",
          "purpose": "submit", "status": "waiting", "issued_at": "2026-03-02T09:15:04Z", "language": "uk",
          "people_ahead": 3, "wait_min": 14}


def test_a_kiosk_takes_a_ticket_from_a_newer_server_that_adds_fields() -> None:
    reply = {"v": 1, "id": "r1", "status": "ok", "ticket": {**TICKET, "added_later": 27}, "also_added": True}
    decoded = contract.decode(contract.topic("kiosk_response", "demo", node="k1"), json.dumps(reply).encode())
    ticket = decoded.message.ticket  # type: ignore[attr-defined]
    assert ticket.label == "A-012" and ticket.wait_min == 14


def test_a_retained_counter_state_with_a_new_field_still_reaches_the_pad() -> None:
    state = {"v": 1, "office": "demo", "counter": "c1", "number": "1", "status": "idle", "seq": 3,
             "updated_at": "2026-03-02T09:15:04Z", "added_later": {"x": 1}}
    decoded = contract.decode(contract.topic("counter_state", "demo", counter="c1"), json.dumps(state).encode())
    assert decoded.message.counter == "c1"  # type: ignore[attr-defined]


def test_what_a_node_sends_is_still_held_to_the_letter() -> None:
    press = {"v": 1, "id": "p1", "node": "pad-c1", "ts": "2026-03-02T09:15:04Z", "action": "next", "operator_is": "x"}
    with pytest.raises(contract.ContractError) as exc:
        contract.decode(contract.topic("counter_command", "demo", counter="c1"), json.dumps(press).encode())
    assert exc.value.reason == "bad_schema"


def test_a_server_message_that_is_wrong_is_still_refused_not_just_trimmed() -> None:
    reply = {"v": 1, "id": "r1", "status": "ok", "ticket": {**TICKET, "number": "twelve", "added_later": 1}}
    with pytest.raises(contract.ContractError):
        contract.decode(contract.topic("kiosk_response", "demo", node="k1"), json.dumps(reply).encode())


HALL = {"v": 1, "office": "demo", "office_names": {"uk": "ЦНАП"}, "languages": ["uk"], "calls": [],
        "updated_at": "2026-03-02T09:15:04Z", "seq": 5,
        "load": [{"service": "passport", "names": {"uk": "Паспорт"}, "waiting": 5, "counters_open": 2,
                  "avg_wait_min": 11.5, "light": "yellow"}]}


def test_the_hall_state_carries_the_forecast_a_ticket_taken_now_would_print() -> None:
    hall = json.loads(json.dumps(HALL))
    hall["load"][0] |= {"wait_min": 12, "wait_max_min": 25}
    decoded = contract.decode(contract.topic("hall_state", "demo"), json.dumps(hall).encode())
    load = decoded.message.load[0]  # type: ignore[attr-defined]
    assert (load.wait_min, load.wait_max_min) == (12, 25)


def test_a_hall_state_from_an_older_server_has_no_forecast_and_one_from_a_newer_server_still_decodes() -> None:
    older = contract.decode(contract.topic("hall_state", "demo"), json.dumps(HALL).encode())
    assert older.message.load[0].wait_min is None  # type: ignore[attr-defined]
    newer = json.loads(json.dumps(HALL))
    newer["load"][0] |= {"wait_min": 3, "wait_max_min": 9, "wait_p90_min": 7}  # a field added after this node
    decoded = contract.decode(contract.topic("hall_state", "demo"), json.dumps(newer).encode())
    assert decoded.message.load[0].wait_max_min == 9  # type: ignore[attr-defined]
