"""A server with two offices (issue 21): the start page lists each office by name with its own links in
five languages, each link answers, and /healthz reads every office's rows, not only the first's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from cherga.server.app import create_app
from cherga.server.mirror.i18n import catalog
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import sqlite_url
from tests.server.helpers import Clock, demo_config, demo_dict

LANGS = ("uk", "ru", "ky", "kk", "en")


def _south() -> SiteConfig:
    data = demo_dict()
    data["office"] = {**data["office"], "id": "south",
                      "names": {"uk": "Південний ЦНАП", "ru": "Южный ЦНАП", "ky": "Түштүк ЦНАП",
                                "kk": "Оңтүстік ЦНАП", "en": "South ASC"}}
    return SiteConfig.model_validate(data)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app([demo_config(), _south()], sqlite_url(tmp_path / "cherga.db"), clock=Clock(),
                     sweep_interval=None)
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("lang", LANGS)
def test_the_start_page_lists_each_office_with_its_own_links(client: TestClient, lang: str) -> None:
    page = client.get(f"/?lang={lang}").text
    t = catalog(lang)
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    services = client.app.state.services  # type: ignore[attr-defined]
    assert headings == [svc.config.office.names.get(lang) for svc in services.values()]
    links = re.findall(r"<a href='([^']+)'>([^<]+)</a>", page)
    for office in ("demo", "south"):
        mine = {href: label for href, label in links if f"office={office}" in href or f"/{office}" in href}
        for href in (f"/office/{office}/kiosk", f"/office/{office}/book", f"/office/{office}/hall",
                     f"/load/{office}", f"/reports/{office}", f"/panel/signin?office={office}",
                     f"/admin/office/{office}/section/office"):
            assert href in mine, (office, href)
        assert mine[f"/admin/office/{office}/section/office"] == t["start_admin"]
    # The server's own pages once, not once per office.
    assert [href for href, _ in links].count("/healthz") == 1


def test_every_link_of_the_start_page_answers(client: TestClient) -> None:
    for href in sorted(set(re.findall(r"href='(/[^']*)'", client.get("/?lang=en").text))):
        r = client.get(href, follow_redirects=True)
        assert r.status_code == 200, (href, r.status_code)


def test_healthz_reads_every_office_and_lists_them(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    asked: list[Any] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "events" in statement:
            asked.append(parameters)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        r = client.get("/healthz")
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert r.status_code == 200 and r.json()["offices"] == ["demo", "south"]
    read = {value for params in asked for value in (params.values() if isinstance(params, dict) else params)}
    assert {"demo", "south"} <= read
