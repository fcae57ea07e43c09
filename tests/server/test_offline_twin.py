"""A kiosk that timed out and printed an offline ticket: the citizen holds one ticket, and so
does the queue — whichever order the late request and the offline hand-over arrive in."""

from __future__ import annotations

import datetime as dt

from cherga.server.service import OfficeService
from tests.server.helpers import Clock


def _offline(service: OfficeService, clock: Clock, replaces: str | None) -> str:
    t = service.take_offline_ticket(command_id="kiosk-1:o1", source="kiosk-1", service="passport",
                                    purpose="consult", priority=None, language="uk", number=900,
                                    issued_at=clock.now - dt.timedelta(seconds=5), replaces=replaces)
    return t.label


def _waiting(service: OfficeService) -> list[str]:
    return sorted(t.label for t in service.waiting_list("c1"))


def test_a_late_issue_that_arrived_first_is_cancelled_by_the_offline_ticket(service: OfficeService,
                                                                         clock: Clock) -> None:
    late = service.issue_ticket(command_id="kiosk-1:r1", source="kiosk-1", service="passport")
    assert _waiting(service) == [late.label]
    assert _offline(service, clock, replaces="kiosk-1:r1") == "A-900"
    assert _waiting(service) == ["A-900"]
    assert service.ticket_status(late.token or "").status == "cancelled"


def test_a_late_issue_that_arrives_after_the_offline_ticket_issues_nothing(service: OfficeService,
                                                                        clock: Clock) -> None:
    assert _offline(service, clock, replaces="kiosk-1:r1") == "A-900"
    again = service.issue_ticket(command_id="kiosk-1:r1", source="kiosk-1", service="passport")
    assert again.label == "A-900"
    assert _waiting(service) == ["A-900"]


def test_an_offline_ticket_without_a_lost_request_replaces_nothing(service: OfficeService, clock: Clock) -> None:
    other = service.issue_ticket(command_id="kiosk-2:r9", source="kiosk-2", service="passport")
    _offline(service, clock, replaces=None)
    assert _waiting(service) == sorted([other.label, "A-900"])
