"""Fixtures of the notification tests: the demo office with gateways on loopback, a clock, a notifier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cherga.server.notify.engine import Notifier
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import Store, sqlite_url
from tests.notify.fakes import FakeGateway, smtp_server
from tests.server.helpers import Clock, demo_dict

TOKEN = "123456:test-bot-token"


def notify_config(gateway_url: str, smtp_port: int | None = None, **notify: Any) -> SiteConfig:
    """The demo office with an SMS gateway and a Telegram bot at ``gateway_url`` (and SMTP on ``smtp_port``)."""
    section: dict[str, Any] = {
        "near_people": 2, "near_minutes": 0, "retry_first_s": 5, "retry_max_s": 60, "give_up_after_min": 10,
        "sms": {"url": f"{gateway_url}/sms/send", "auth_env": "CHERGA_TEST_SMS_AUTH",
                "body": '{"phone": "{to}", "message": "{text}", "ref": "{id}"}'},
        "telegram": {"base_url": gateway_url, "token_env": "CHERGA_TEST_TG_TOKEN"},
        **notify,
    }
    if smtp_port is not None:
        section["email"] = {"host": "127.0.0.1", "port": smtp_port, "starttls": False, "sender": "cnap@example.org"}
    return SiteConfig.model_validate(demo_dict(notify=section))


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHERGA_TEST_SMS_AUTH", "Bearer sms-secret")
    monkeypatch.setenv("CHERGA_TEST_TG_TOKEN", TOKEN)


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as g:
        yield g


@pytest.fixture
def smtp() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    with smtp_server() as found:
        yield found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(sqlite_url(tmp_path / "cherga.db"))
    yield s
    s.close()


@pytest.fixture
def office(gateway: FakeGateway, smtp: tuple[int, list[dict[str, Any]]], store: Store,
           clock: Clock) -> tuple[OfficeService, Notifier]:
    svc = OfficeService(notify_config(gateway.url, smtp[0]), store, clock=clock)
    notifier = Notifier(svc)
    notifier.follower.start()
    return svc, notifier
