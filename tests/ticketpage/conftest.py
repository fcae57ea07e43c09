"""An office for the live ticket page's tests: the demo site on a real SQLite store, demo staff, a
clock the test moves, and the app served by uvicorn on loopback for the browser."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from cherga.broker_bridge.contract import CounterAction, TicketInfo
from cherga.server.app import create_app
from cherga.server.service import OfficeService
from cherga.server.siteconfig import load_site_config
from cherga.server.store import sqlite_url
from tests.panel.conftest import Clock  # the demo office open, a clock moved by hand

REPO = Path(__file__).resolve().parents[2]
class Office:
    """The office's buttons, as kiosks and counter pads press them (through the real service)."""

    def __init__(self, app: FastAPI, clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.service: OfficeService = app.state.service
        self._ids = (f"t-{i}" for i in itertools.count())

    def issue(self, service: str = "passport", language: str = "uk") -> TicketInfo:
        return self.service.issue_ticket(command_id=next(self._ids), source="kiosk-1", service=service,
                                         language=language)

    def act(self, counter: str, action: CounterAction, **kw: Any) -> Any:
        return self.service.counter_action(command_id=next(self._ids), counter=counter, action=action,
                                           source="pad-test", **kw)

    def open_counter_1(self) -> None:
        self.act("c1", CounterAction.SIGN_IN, operator="olena", pin="1111")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> Iterator[FastAPI]:
    application = create_app(load_site_config(REPO / "examples" / "demo-office.yaml"),
                             sqlite_url(tmp_path / "office.sqlite"), clock=clock, sweep_interval=None,
                             demo_accounts=True)
    yield application
    application.state.store.close()


@pytest.fixture
def office(app: FastAPI, clock: Clock) -> Office:
    return Office(app, clock)


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    from tests.support.browser import serving

    with serving(app) as url:
        yield url
