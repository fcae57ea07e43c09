""""Why this ticket" and the waiting count on the counter page, as the operator reads them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig, load_site_config

SignIn = Callable[..., TestClient]


@pytest.fixture
def site(demo_config_path: Path, tmp_path: Path) -> SiteConfig:
    """The demo office, with counter 1 preferring national passports (service weight 2)."""
    text = demo_config_path.read_text(encoding="utf-8")
    c1 = '{id: c1, number: "1", services: [passport, foreign-passport]}'
    assert c1 in text
    path = tmp_path / "office.yaml"
    path.write_text(text.replace(c1, '{id: c1, number: "1", services: [{id: passport, weight: 2}, foreign-passport]}'),
                    encoding="utf-8")
    return load_site_config(path)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _reason(html: str) -> str:
    found = re.search(r'<dd class="reason">(.*?)</dd>', html, re.S)
    assert found, "the called ticket shows no reason"
    return _text(found.group(1)).strip()


@pytest.mark.parametrize(("lang", "words"), [
    ("ru", ["ждёт 7 мин", "Ветеран (×2)", "Паспорт", "здесь в первую очередь (×2)",
            "самое долгое взвешенное ожидание из 1"]),
    ("kk", ["7 мин күтті", "Ардагер (×2)", "Азаматтың төлқұжаты мұнда бірінші (×2)", "1 талонның ішінде ең ұзақ күтті"]),
])
def test_why_this_ticket_reads_in_the_staffs_language_with_names_not_ids(
        signed_in: SignIn, service: OfficeService, clock: object, lang: str, words: list[str]) -> None:
    client = signed_in("olena", "c1", lang=lang)
    service.issue_ticket(command_id=uuid.uuid4().hex, source="kiosk-1", service="passport", purpose="submit",
                         priority="veteran")
    clock.advance(minutes=7)  # type: ignore[attr-defined]
    r = client.post("/panel/counter/c1/action", data={"command_id": uuid.uuid4().hex, "action": "next",
                                                        "lang": lang}, headers={"X-Panel-Fragment": "1"})
    assert r.status_code == 200, r.text
    reason = _reason(r.text)
    for w in words:
        assert w in reason, reason
    for english_or_id in ("waited", "priority", "veteran", "passport", "longest", "A-0", "×1"):
        assert english_or_id not in reason.lower(), reason
    # the page reloaded later (another request, the stored call) says the same
    assert _reason(client.get("/panel/counter/c1/live").text) == reason


def test_the_waiting_count_is_everybody_waiting_not_the_lists_length(
        signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in("olena", "c1")
    for _ in range(230):
        service.issue_ticket(command_id=uuid.uuid4().hex, source="kiosk-1", service="passport", purpose="submit",
                             after_closing_ok=True)  # 230 on three desks run past closing: they insist
    html = client.get("/panel/counter/c1/live").text
    count = re.search(r'id="waiting-count">(\d+)<', html)
    assert count and int(count.group(1)) == 230
