"""No page shows a raw catalog key: every server-rendered page, in every language, reads as words.

A key the catalogs lack renders as itself (``cherga.i18n`` falls back to the key), so a
misspelt key in a template or route shows up here as a key in the page's text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import LANGUAGES
from cherga.server.app import create_app
from cherga.server.store import sqlite_url
from tests.i18n.catalogs import COMPONENTS
from tests.server.helpers import Clock, demo_config

# Keys that are also ordinary words ("ok", "back") cannot be told from text; keys with "_" or "." can.
KEYS = sorted({k for c in COMPONENTS.values() for k in c.own("en") if "_" in k or "." in k})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("pages") / "cherga.db"
    app = create_app(demo_config(), sqlite_url(db), clock=Clock(), sweep_interval=None, demo_accounts=True)
    with TestClient(app) as c:
        c.post("/api/v1/offices/demo/tickets", json={"service": "passport"})
        r = c.post("/panel/signin", data={"username": "manager", "password": "cherga-manager", "counter": "c1",
                                           "lang": "en"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        r = c.post("/reports/signin", data={"username": "manager", "password": "cherga-manager"},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        yield c


def _visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


PAGES = ["/panel/counter/c1", "/panel/manager", "/reports/demo", "/reports/demo/print", "/load/demo",
         "/office/demo/book", "/office/demo/book/cancel"]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("path", PAGES)
def test_the_page_shows_no_catalog_key(client: TestClient, path: str, lang: str) -> None:
    r = client.get(path, params={"lang": lang})
    assert r.status_code == 200, r.text[:300]
    text = _visible_text(r.text)
    shown = [k for k in KEYS if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w.])", text)]
    assert not shown, f"raw keys on {path} in {lang}: {shown}"


@pytest.mark.parametrize("path", ["/office/demo/kiosk", "/office/demo/hall"])
def test_the_browser_pages_carry_every_word_they_look_up(client: TestClient, path: str) -> None:
    html = client.get(path).text
    # The office's data is a JSON block in the page; the look-ups are in the page's script file.
    office = json.loads(re.search(r'<script type="application/json" id="office-data">(.*?)</script>', html,
                                  flags=re.S).group(1))  # type: ignore[union-attr]
    script = re.search(r'<script src="(/mirror/\w+\.js)"></script>', html).group(1)  # type: ignore[union-attr]
    page = client.get(script).text
    # T().back, t.window, texts[l].choose_language, T()["reason.service_closed"], T()["purpose." + p]
    lookups = r"\bT\(\)\.(\w+)|\bt\.(\w+)|texts\[l\]\.(\w+)|\bT\(\)\[\"([\w.]+)\"\]"
    names = {name for found in re.findall(lookups, page) for name in found if name} - {"get", "keys", "values"}
    assert "back" in names or "window" in names  # the pattern still finds the page's look-ups
    for lang in LANGUAGES:
        missing = names - office["texts"][lang].keys()
        assert not missing, f"{path} looks up {sorted(missing)} that the {lang} catalog lacks"

