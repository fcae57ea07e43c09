"""The pages' work does not grow with the queue (issue 17: the manager page took 5-65 s at 600-5,100 waiting).

Where every counter serves every service, the hall manager's page asked each counter for its full
calling order, re-running the scheduler over the whole queue for each of up to 200 rows, under the
office lock, so ticket issue stalled meanwhile. Time is not asserted here (bench/manager_page.py
times it); what is counted is how many tickets the scheduler scores for one page, and what the
pages show.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

import cherga.server.core.scheduling as scheduling
from cherga.broker_bridge.contract import CounterAction, TicketInfo
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig, load_site_config


@pytest.fixture
def site(demo_config_path: Path, tmp_path: Path) -> SiteConfig:
    """The demo office with every counter serving every walk-in service."""
    data = yaml.safe_load(demo_config_path.read_text(encoding="utf-8"))
    walk_in = [s["id"] for s in data["services"] if not s.get("appointment_only")]
    for s in data["services"]:
        s.pop("daily_cap", None)
    for c in data["counters"]:
        c["services"] = list(walk_in)
    data["closing"] = {"warn_walk_ins": False}  # hundreds waiting run past closing: issue them anyway
    path = tmp_path / "office.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_site_config(path)


@pytest.fixture
def scored(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many times the scheduler has scored a ticket (a one-element counter)."""
    count = [0]
    real = scheduling.score

    def counting(*args: Any, **kwargs: Any) -> float:
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(scheduling, "score", counting)
    yield count


def fill(service: OfficeService, site: SiteConfig, n: int) -> list[TicketInfo]:
    services = [s.id for s in site.services if not s.appointment_only]
    return [service.issue_ticket(command_id=uuid.uuid4().hex, source="kiosk-1", service=services[i % len(services)],
                                 priority="veteran" if i % 7 == 3 else None) for i in range(n)]


def scores_for(client: TestClient, url: str, scored: list[int]) -> tuple[int, str]:
    before = scored[0]
    r = client.get(url, headers={"X-Panel-Fragment": "1"})
    assert r.status_code == 200, r.text
    return scored[0] - before, r.text


def test_the_manager_page_does_no_more_scheduling_work_with_ten_times_the_queue(
        signed_in: Callable[..., TestClient], service: OfficeService, site: SiteConfig, scored: list[int]) -> None:
    client = signed_in("maria", counter="")
    fill(service, site, 30)
    small, _ = scores_for(client, "/panel/manager/live", scored)
    fill(service, site, 270)
    large, html = scores_for(client, "/panel/manager/live", scored)
    assert large <= max(small, 100), f"{small} tickets scored at 30 waiting, {large} at 300"
    oldest = service.waiting_list("c1")[0]
    assert oldest.label in html  # the send list still offers the longest wait


def test_the_counter_page_does_no_more_scheduling_work_with_ten_times_the_queue(
        signed_in: Callable[..., TestClient], service: OfficeService, site: SiteConfig, scored: list[int]) -> None:
    client = signed_in("olena", counter="c1")
    fill(service, site, 30)
    small, _ = scores_for(client, "/panel/counter/c1/live", scored)
    fill(service, site, 270)
    large, html = scores_for(client, "/panel/counter/c1/live", scored)
    assert service.waiting_list("c1")[0].label in html
    # Each of the (at most 200) rows weighs one head per service and priority group, not the whole queue.
    groups = len(site.services) * (1 + len(site.priority_categories))
    assert large <= 200 * groups, f"{small} tickets scored at 30 waiting, {large} at 300"


def test_the_counters_waiting_list_is_the_order_next_calls_them_in(
        service: OfficeService, site: SiteConfig, clock: Any) -> None:
    for counter, operator in [("c1", "olena"), ("c2", "taras")]:
        service.counter_action(command_id=f"in-{counter}", counter=counter, action=CounterAction.SIGN_IN,
                               source=f"pad-{counter}", operator=operator, authenticated=True)
    fill(service, site, 40)
    clock.advance(minutes=3)
    last = fill(service, site, 20)[-1]
    # One postponed (not callable yet) and one sent to c1 by the hall manager.
    first = service.counter_action(command_id="n0", counter="c2", action=CounterAction.NEXT, source="pad-c2")
    assert first.ticket is not None
    service.counter_action(command_id="p0", counter="c2", action=CounterAction.POSTPONE, source="pad-c2",
                           delay_s=600)
    service.send_to_counter(command_id="s0", ticket_id=last.ticket_id, to_counter="c1", source="panel:maria",
                            operator="maria")
    listed = [w.label for w in service.waiting_list("c1")]
    assert first.ticket.label not in listed  # postponed: not callable yet
    called = []
    for i in range(len(listed)):
        out = service.counter_action(command_id=f"n{i + 1}", counter="c1", action=CounterAction.NEXT,
                                     source="pad-c1")
        assert out.ticket is not None
        called.append(out.ticket.label)
    assert called == listed
    assert listed[0] == last.label  # the ticket sent to this counter comes first
