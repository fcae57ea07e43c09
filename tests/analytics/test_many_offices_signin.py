"""The reports on a server that runs two offices (issue 21): the sign-in asks which office, a manager of
one office is refused the other in their language (no session left behind), and a regional account's
report links to the other office."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.server import auth
from cherga.server.analytics.i18n import catalog
from cherga.server.app import create_app
from cherga.server.store import sqlite_url
from tests.server.helpers import Clock, demo_config
from tests.server.test_many_offices import PASSWORD, _south

LANGS = ("uk", "ru", "ky", "kk", "en")


@pytest.fixture
def two_offices(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app([demo_config(), _south()], sqlite_url(tmp_path / "cherga.db"), clock=Clock(),
                     sweep_interval=None)
    auth.create_account(app.state.store, username="north.manager", role="hall_manager", password=PASSWORD,
                        offices=["demo"])
    auth.create_account(app.state.store, username="regional", role="admin", password=PASSWORD)  # every office
    with TestClient(app) as c:
        yield c


def _signin(c: TestClient, user: str, office: str, lang: str = "en") -> object:
    c.cookies.clear()
    return c.post(f"/reports/signin?lang={lang}", data={"username": user, "password": PASSWORD, "office": office},
                  follow_redirects=False)


def test_the_sign_in_offers_each_office_and_lands_on_the_one_chosen(two_offices: TestClient) -> None:
    c = two_offices
    page = c.get("/reports/signin", params={"lang": "en", "next": "/reports/south"}).text
    assert '<select name="office">' in page
    assert '<option value="demo">' in page and '<option value="south" selected>' in page
    assert f">{catalog('en')['all_offices']}</option>" in page
    r = _signin(c, "regional", "south")
    assert r.status_code == 303 and r.headers["location"] == "/reports/south"  # type: ignore[attr-defined]
    report = c.get("/reports/south", params={"lang": "en"})
    assert report.status_code == 200
    assert 'href="/reports/demo?lang=en"' in report.text  # the other office, one click away


@pytest.mark.parametrize("lang", LANGS)
def test_a_manager_of_one_office_is_refused_the_other_in_their_language(two_offices: TestClient,
                                                                        lang: str) -> None:
    c = two_offices
    refused = _signin(c, "north.manager", "south", lang)
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert catalog(lang)["office_forbidden"] in refused.text  # type: ignore[attr-defined]
    assert "cherga_reports" not in refused.cookies  # type: ignore[attr-defined]
    assert c.get("/reports/demo", params={"lang": lang}, follow_redirects=False).status_code == 303  # not signed in
    r = _signin(c, "north.manager", "demo", lang)
    assert r.headers["location"] == "/reports/demo"  # type: ignore[attr-defined]
    mine = c.get("/reports/demo", params={"lang": lang})
    assert mine.status_code == 200 and 'href="/reports/south' not in mine.text
    other = c.get("/reports/south", params={"lang": lang})
    assert other.status_code == 403 and catalog(lang)["office_forbidden"] in other.text
