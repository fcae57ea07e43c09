"""Shared fixtures: real brokers and databases, started per test session on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import Broker, running_broker
from tests.support.postgres import PostgresServer, running_postgres

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One anonymous Mosquitto for the session (tests use distinct office ids or topics)."""
    with running_broker(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture
def fresh_mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto of the test's own, for tests that stop or restart it."""
    with running_broker(tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, one per test module (tests/support/browser.py)."""
    from tests.support.browser import chromium

    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def demo_config_path() -> Path:
    return EXAMPLES / "demo-office.yaml"
