"""Notifications end to end on loopback: a real SQLite store, an SMS gateway and a Telegram Bot API
that record what reaches them, and a real SMTP server (aiosmtpd). The clock is the test's."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from cherga.broker_bridge.contract import CounterAction as A
from cherga.server.notify.contacts import ContactRefused
from cherga.server.notify.engine import Notifier
from cherga.server.notify.follower import Follower
from cherga.server.service import OfficeService
from cherga.server.store import Store
from tests.notify.conftest import TOKEN
from tests.notify.fakes import FakeGateway
from tests.server.helpers import Clock

Office = tuple[OfficeService, Notifier]


def _issue(svc: OfficeService, n: int, *, lang: str = "uk", service: str = "passport") -> list[Any]:
    return [svc.issue_ticket(command_id=f"k-{lang}-{service}-{i}-{svc.now().timestamp()}", source="kiosk",
                             service=service, language=lang) for i in range(n)]


def _next(svc: OfficeService, counter: str, cid: str) -> Any:
    return svc.counter_action(command_id=cid, counter=counter, action=A.NEXT, source="test")


def _texts(gateway: FakeGateway) -> list[str]:
    return [b["message"] for b in gateway.json_bodies() if "message" in b]


def test_a_walk_in_without_consent_leaves_no_personal_data(office: Office, store: Store) -> None:
    svc, notifier = office
    (t,) = _issue(svc, 1)
    with pytest.raises(ContactRefused) as refused:
        notifier.add_ticket_contact(t.token, channel="sms", address="+380501234567", consent=False)
    assert refused.value.key == "consent_required"
    _next(svc, "c1", "n1")
    notifier.pump()
    from sqlalchemy import func, select

    from cherga.server.db import schema

    with store.reading() as conn:
        assert conn.execute(select(func.count()).select_from(schema.notify_contacts)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(schema.notify_outbox)).scalar_one() == 0


def test_a_badly_typed_phone_is_refused_and_a_spaced_one_is_cleaned(office: Office, gateway: FakeGateway) -> None:
    svc, notifier = office
    (t,) = _issue(svc, 1)
    with pytest.raises(ContactRefused) as refused:
        notifier.add_ticket_contact(t.token, channel="sms", address="050 123", consent=True)
    assert refused.value.key == "bad_phone"
    notifier.add_ticket_contact(t.token, channel="sms", address="+380 (50) 123-45-67", consent=True)
    _next(svc, "c1", "n1")
    notifier.pump()
    assert [b["phone"] for b in gateway.json_bodies()] == ["+380501234567"]


def test_called_to_window_n_reaches_the_phone_in_the_ticket_language_with_the_gateway_auth(
        office: Office, gateway: FakeGateway) -> None:
    svc, notifier = office
    (t,) = _issue(svc, 1, lang="ky")
    notifier.add_ticket_contact(t.token, channel="sms", address="+996551234567", consent=True)
    _next(svc, "c1", "n1")
    notifier.pump()
    (req,) = gateway.delivered()
    body = json.loads(req["body"])
    assert body["phone"] == "+996551234567"
    assert body["message"] == f"{t.label} талон, 1-терезеге келиңиз."
    assert req["headers"]["Authorization"] == "Bearer sms-secret"
    assert body["ref"].isdigit()  # the outbox id: the same message keeps it on a resend


def test_telegram_and_email_each_get_the_call(office: Office, gateway: FakeGateway,
                                              smtp: tuple[int, list[dict[str, Any]]]) -> None:
    svc, notifier = office
    (t,) = _issue(svc, 1, lang="kk")
    notifier.add_ticket_contact(t.token, channel="telegram", address="987654321", consent=True)
    notifier.add_ticket_contact(t.token, channel="email", address="citizen@example.kz", consent=True)
    _next(svc, "c1", "n1")
    notifier.pump()
    (req,) = gateway.delivered()
    assert req["path"] == f"/bot{TOKEN}/sendMessage"
    assert json.loads(req["body"]) == {"chat_id": "987654321", "text": f"{t.label} талон, 1-терезеге келіңіз."}
    (mail,) = smtp[1]
    assert mail["to"] == ["citizen@example.kz"]
    assert mail["message"].get_content().strip() == f"{t.label} талон, 1-терезеге келіңіз."
    assert "cherga-" in mail["message"]["Message-ID"]


def test_your_turn_is_near_comes_once_when_the_office_threshold_is_reached(office: Office,
                                                                          gateway: FakeGateway) -> None:
    svc, notifier = office
    tickets = _issue(svc, 6, lang="en")
    last = tickets[-1]
    notifier.add_ticket_contact(last.token, channel="sms", address="+380501234567", consent=True)
    notifier.pump()
    assert _texts(gateway) == []  # five ahead; the office says near at two
    for i in range(3):
        _next(svc, "c1", f"n{i}")
    notifier.pump()
    forecast = svc.ticket_status(last.token)  # the same forecast the ticket page shows
    assert forecast.people_ahead == 2 and forecast.wait_min is not None
    assert _texts(gateway) == [f"Ticket {last.label}: your turn is near. People ahead of you: 2. "
                               f"Estimated wait: {forecast.wait_min} min."]
    _next(svc, "c1", "n3")
    notifier.pump()
    assert len(_texts(gateway)) == 1  # still near, but told once


def test_the_same_events_read_again_queue_nothing_twice(office: Office, gateway: FakeGateway, store: Store) -> None:
    svc, notifier = office
    (t,) = _issue(svc, 1)
    notifier.add_ticket_contact(t.token, channel="sms", address="+380501234567", consent=True)
    _next(svc, "c1", "n1")
    notifier.pump()
    # A follower that lost its place (a crash before saving the cursor) reads the whole log again.
    notifier.outbox.set_cursor(0)
    from cherga.server.db import schema

    with store.transaction() as tx:
        tx.conn.execute(schema.notify_cursor.update().values(last_seq=0))
    again = Follower(svc, notifier.outbox, svc.now)
    again.run_once()
    notifier.pump()
    assert len(gateway.delivered()) == 1
    assert len(notifier.outbox.rows()) == 1


def test_a_gateway_down_for_a_minute_loses_nothing_and_sends_nothing_twice(office: Office, gateway: FakeGateway,
                                                                           clock: Clock) -> None:
    svc, notifier = office
    tickets = _issue(svc, 5)
    for i, t in enumerate(tickets):
        notifier.add_ticket_contact(t.token, channel="sms", address=f"+38050123456{i}", consent=True)
    gateway.fail_with(503)
    for i in range(5):
        _next(svc, f"c{i % 2 + 1}", f"n{i}")  # calls go on while the gateway is down: the queue never waits
        if i % 2:
            _finish_both(svc, i)
    for _ in range(12):  # a minute in five-second steps, with the sender trying whenever something is due
        notifier.pump()
        clock.advance(5)
    assert gateway.delivered() == []
    (health,) = [h for h in notifier.health() if h.channel == "sms"]
    assert not health.ok and "503" in (health.last_error or "")
    tried = len(gateway.requests)
    assert tried < 12 * 2, "a dead gateway is tried once per pass, not once per message"
    gateway.recover()
    clock.advance(60)
    notifier.pump()
    phones = sorted(json.loads(r["body"])["phone"] for r in gateway.delivered())
    assert phones == sorted(f"+38050123456{i}" for i in range(5))  # each exactly once
    assert notifier.health()[0].ok
    assert {r["status"] for r in notifier.outbox.rows()} == {"sent"}


def _finish_both(svc: OfficeService, i: int) -> None:
    for c in ("c1", "c2"):
        svc.counter_action(command_id=f"f{c}{i}", counter=c, action=A.FINISH, source="test")


def test_an_undeliverable_message_gives_up_after_the_configured_time_and_says_why(
        office: Office, gateway: FakeGateway, clock: Clock) -> None:
    svc, notifier = office
    (t,) = _issue(svc, 1)
    notifier.add_ticket_contact(t.token, channel="sms", address="+380501234567", consent=True)
    gateway.fail_with(502)
    _next(svc, "c1", "n1")
    for _ in range(15):
        notifier.pump()
        clock.advance(60)
    (row,) = notifier.outbox.rows()
    assert row["status"] == "failed"
    assert "gave up after 10 min" in row["last_error"] and "502" in row["last_error"]
    attempts = row["attempts"]
    gateway.recover()
    notifier.pump()
    assert gateway.delivered() == [] and notifier.outbox.rows()[0]["attempts"] == attempts


def test_a_refused_address_fails_at_once_without_retrying(office: Office, gateway: FakeGateway) -> None:
    svc, notifier = office
    (t,) = _issue(svc, 1)
    notifier.add_ticket_contact(t.token, channel="sms", address="+380501234567", consent=True)
    gateway.fail_with(400)
    _next(svc, "c1", "n1")
    notifier.pump()
    (row,) = notifier.outbox.rows()
    assert row["status"] == "failed" and row["attempts"] == 1 and "HTTP 400" in row["last_error"]


def test_a_booking_gets_its_confirmation_now_and_reminders_a_day_and_an_hour_before(
        office: Office, gateway: FakeGateway, clock: Clock, smtp: tuple[int, list[dict[str, Any]]]) -> None:
    svc, notifier = office
    slot = _free_slot(svc, days_ahead=3)
    code = svc.book_appointment(service="passport", slot=slot, source="test")
    notifier.add_booking_contact(code, channel="email", address="visitor@example.org", consent=True, language="ru")
    notifier.pump()
    texts = [m["message"].get_content().strip() for m in smtp[1]]
    local = slot.astimezone(svc.config.office.tz)
    assert texts == [f"Запись подтверждена: Паспорт гражданина, {local:%d.%m.%Y} в {local:%H:%M}. Код записи: {code}."]
    clock.now = slot - dt.timedelta(days=1)
    notifier.pump()
    clock.now = slot - dt.timedelta(hours=1)
    notifier.pump()
    notifier.pump()
    texts = [m["message"].get_content().strip() for m in smtp[1]]
    assert len(texts) == 3
    assert texts[1].startswith(f"Напоминание: завтра в {local:%H:%M}")
    assert texts[2].startswith(f"Напоминание: сегодня в {local:%H:%M}")


def test_a_cancelled_booking_gets_no_reminder(office: Office, clock: Clock,
                                              smtp: tuple[int, list[dict[str, Any]]]) -> None:
    svc, notifier = office
    slot = _free_slot(svc, days_ahead=3)
    code = svc.book_appointment(service="passport", slot=slot, source="test")
    notifier.add_booking_contact(code, channel="email", address="visitor@example.org", consent=True, language="uk")
    notifier.pump()
    svc.cancel_appointment(code=code, source="test")
    clock.now = slot - dt.timedelta(hours=1)
    notifier.pump()
    assert len(smtp[1]) == 1  # the confirmation only
    assert sorted(r["status"] for r in notifier.outbox.rows()) == ["cancelled", "cancelled", "sent"]


def _free_slot(svc: OfficeService, days_ahead: int) -> dt.datetime:
    day = svc.now().astimezone(svc.config.office.tz).date() + dt.timedelta(days=days_ahead)
    for _ in range(7):
        slots = [s for s in svc.free_slots("passport", day) if s.free]
        if slots:
            return slots[len(slots) // 2].start
        day += dt.timedelta(days=1)
    raise AssertionError("no free slot in the demo office")


def test_documents_ready_tells_each_contact_once(office: Office, gateway: FakeGateway) -> None:
    svc, notifier = office
    (t,) = _issue(svc, 1, lang="uk")
    notifier.add_ticket_contact(t.token, channel="telegram", address="42", consent=True)
    assert notifier.documents_ready(t.ticket_id) == (1, 1)
    assert notifier.documents_ready(t.ticket_id) == (1, 0)  # marked twice, told once
    notifier.pump()
    texts = [json.loads(r["body"])["text"] for r in gateway.delivered()]
    (ready,) = [x for x in texts if "документи" in x]  # (beside it: "your turn is near", nobody is ahead)
    assert ready == "ЦНАП «Демо»: ваші документи готові (Паспорт громадянина). Візьміть талон «Отримати результат»."


def test_retention_deletes_contacts_and_message_texts_but_keeps_the_counts(office: Office, clock: Clock,
                                                                           store: Store) -> None:
    svc, notifier = office
    (t,) = _issue(svc, 1)
    notifier.add_ticket_contact(t.token, channel="sms", address="+380501234567", consent=True)
    _next(svc, "c1", "n1")
    notifier.pump()
    clock.advance(29 * 86400)
    assert notifier.purge_if_due() == (0, 0)  # 30 days (the default) not yet over
    assert notifier.outbox.contacts_for(ticket_id=t.ticket_id)
    clock.advance(2 * 86400)
    assert notifier.purge_if_due() == (1, 1)
    assert notifier.outbox.contacts_for(ticket_id=t.ticket_id) == []
    (row,) = notifier.outbox.rows()
    assert row["body"] is None and row["contact_id"] is None and row["status"] == "sent"
    assert notifier.counts() == {("sms", "sent"): 1}


def test_the_retention_command_deletes_old_contacts_too(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from cherga.server.analytics.retention import main
    from cherga.server.notify.outbox import Outbox
    from cherga.server.store import sqlite_url
    from tests.server.helpers import DEMO

    url = sqlite_url(tmp_path / "office.db")
    store = Store(url)
    outbox = Outbox(store, "demo")
    now = dt.datetime.now(dt.UTC)
    old = outbox.add_contact(channel="sms", address="+380501111111", language="uk", consent_version="v", ticket_id="t-old",
                             now=now - dt.timedelta(days=31))
    outbox.add_contact(channel="sms", address="+380502222222", language="uk", consent_version="v", ticket_id="t-new",
                       now=now - dt.timedelta(days=1))
    assert main(["--config", str(DEMO), "--db", url, "--days", "180"]) == 0
    assert "1 notification contact(s)" in capsys.readouterr().out
    assert outbox.contacts_for(ticket_id="t-old") == [] and old.id
    assert len(outbox.contacts_for(ticket_id="t-new")) == 1
    store.close()
