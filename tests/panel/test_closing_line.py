"""The hall manager's page says the office's rule for those still waiting at closing, in one line in
the manager's language (issue 20). The demo office closes at 20:00 on weekdays."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from cherga.server.siteconfig import SiteConfig

SignIn = Callable[..., TestClient]


def closing_line(html: str) -> str:
    found = re.search(r'<p class="closing-rule" id="closing-rule">(.*?)</p>', html, flags=re.S)
    assert found, "no closing rule line on the page"
    return html_lib.unescape(found.group(1).strip())


def test_serve_all_is_said_in_the_managers_language(signed_in: SignIn) -> None:
    client = signed_in("maria", "", lang="uk")
    line = closing_line(client.get("/panel/manager?lang=uk").text)
    assert line == "Після закриття: усіх, хто вже має талон, буде обслуговано."


class TestStop:
    @pytest.fixture
    def site(self, demo_config_path: Path) -> SiteConfig:
        data = yaml.safe_load(demo_config_path.read_text(encoding="utf-8"))
        data["closing"] = {"waiting_at_close": "stop", "stop_after_min": 30}
        return SiteConfig.model_validate(data)

    @pytest.mark.parametrize("lang, words", [
        ("en", "At closing: calls stop 30 min after closing (today's last call at 20:30); those still waiting are "
               "asked to book."),
        ("kk", "Жабылғаннан кейін: шақырулар 30 мин өткенде тоқтайды (бүгін соңғы шақыру 20:30)"),
    ])
    def test_stop_names_the_minutes_and_todays_last_call(self, signed_in: SignIn, lang: str, words: str) -> None:
        client = signed_in("maria", "", lang=lang)
        line = closing_line(client.get(f"/panel/manager?lang={lang}").text)
        assert line.startswith(words)
        assert "serve_all" not in line and "stop_after" not in line
