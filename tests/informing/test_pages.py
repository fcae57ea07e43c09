"""The informing pages, served by the real app: every service and life situation in the reader's language."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import LANGUAGES
from cherga.server.app import create_app
from cherga.server.informing.i18n import CATALOGS
from cherga.server.siteconfig import ConfigError, SiteConfig, parse_site_config
from cherga.server.store import sqlite_url
from tests.informing.conftest import EXAMPLES
from tests.server.helpers import Clock


def visible(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_service_page_says_what_to_bring_the_fee_the_time_and_where_in_the_readers_language(
        client: TestClient, demo: SiteConfig, lang: str) -> None:
    info = demo.service("passport").info
    assert info is not None and info.fee and info.duration and info.where
    r = client.get(f"/office/demo/services/passport?lang={lang}")
    assert r.status_code == 200
    assert f'<html lang="{lang}">' in r.text
    text = visible(r.text)
    t = CATALOGS.catalog(lang)
    for doc in info.documents:
        assert doc.get(lang) in text
    for fact in (info.fee, info.duration, info.where):
        assert fact.get(lang) in text
    for heading in ("documents", "fee", "duration", "where", "legal"):
        assert t[heading] in text
    assert 'href="https://zakon.rada.gov.ua/laws/show/5492-17"' in r.text
    assert "_" not in re.sub(r"https?://\S+", "", text), "a raw catalog key shows on the page"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_life_situation_lists_every_service_and_each_ones_documents(
        client: TestClient, demo: SiteConfig, lang: str) -> None:
    bundle = next(b for b in demo.bundles if b.id == "newborn")
    text = visible(client.get(f"/office/demo/situations/newborn?lang={lang}").text)
    assert bundle.names.get(lang) in text
    for sid in bundle.services:
        service = demo.service(sid)
        assert service.names.get(lang) in text
        for doc in service.info.documents if service.info else []:
            assert doc.get(lang) in text


def test_the_situation_adds_its_own_documents(client: TestClient) -> None:
    text = visible(client.get("/office/demo/situations/moving?lang=ky").text)
    assert "Мурунку жашаган жеринин дареги" in text
    assert "Ошондой эле керек болот" in text


def test_the_index_lists_every_service_and_situation_and_searches_in_the_readers_language(
        client: TestClient, demo: SiteConfig) -> None:
    r = client.get("/office/demo/services", params={"lang": "ky", "q": "айдочулук"})
    assert r.status_code == 200 and '<html lang="ky">' in r.text
    hits = r.text.split('id="hits"')[1].split("</ul>")[0]
    assert hits.index("/office/demo/services/driver?lang=ky") >= 0
    assert "Айдоочулук күбөлүк" in visible(hits)
    for s in demo.services:
        assert f"/office/demo/services/{s.id}?lang=ky" in r.text
    for b in demo.bundles:
        assert f"/office/demo/situations/{b.id}?lang=ky" in r.text
    # What the visitor typed stays in the box, and the language switch keeps it.
    assert 'value="айдочулук"' in r.text
    assert "q=%D0%B0%D0%B9" in r.text


def test_a_search_that_finds_nothing_says_so_and_keeps_the_query(client: TestClient) -> None:
    r = client.get("/office/demo/services", params={"lang": "uk", "q": "космодром"})
    assert r.status_code == 200
    assert "За запитом «космодром» нічого не знайдено" in visible(r.text)
    assert 'value="космодром"' in r.text


def test_a_very_long_query_is_cut_not_refused(client: TestClient) -> None:
    r = client.get("/office/demo/services", params={"q": "паспорт " * 100})
    assert r.status_code == 200
    assert "/office/demo/services/passport" in r.text.split('id="hits"')[1]


def test_the_json_search_answers_names_in_the_asked_language(client: TestClient) -> None:
    r = client.get("/office/demo/services.json", params={"q": "толкужат", "lang": "kk"})
    hits = r.json()["hits"]
    assert {"passport", "foreign-passport"} <= {h["id"] for h in hits[:2]}
    assert hits[0]["url"].endswith("?lang=kk") and "төлқұжат" in hits[0]["name"].lower()


def test_the_page_language_follows_the_browser_among_the_offices_languages(client: TestClient) -> None:
    r = client.get("/office/demo/services/birth", headers={"Accept-Language": "kk-KZ,kk;q=0.9"})
    assert '<html lang="kk">' in r.text and r.headers["content-language"] == "kk"


def test_an_unknown_service_is_a_page_in_the_readers_language_not_a_crash(client: TestClient) -> None:
    r = client.get("/office/demo/services/no-such?lang=uk", headers={"Accept": "text/html"})
    assert r.status_code == 404
    assert "<html" in r.text


def test_a_service_without_information_says_whom_to_ask(tmp_path: Path) -> None:
    text = (EXAMPLES / "demo-office.yaml").read_text(encoding="utf-8")
    cfg = parse_site_config(text)
    bare = cfg.model_copy(update={"services": [s.model_copy(update={"info": None}) for s in cfg.services]})
    app = create_app(bare, sqlite_url(tmp_path / "bare.db"), clock=Clock(), sweep_interval=None)
    with TestClient(app) as c:
        page = visible(c.get("/office/demo/services/passport?lang=ru").text)
    assert "Подробности об этой услуге уточните у администратора." in page


def test_service_information_must_be_given_in_every_language_the_office_offers() -> None:
    text = (EXAMPLES / "demo-office.yaml").read_text(encoding="utf-8")
    # The office offers Kyrgyz; drop the Kyrgyz of one document.
    broken = text.replace('ky: "Төрөт үйүнөн берилген төрөлгөндүгү тууралуу медициналык күбөлүк", ', "", 1)
    assert broken != text
    with pytest.raises(ConfigError, match=r"service 'birth'.*lacks ky"):
        parse_site_config(broken)


def test_an_office_config_without_any_information_is_still_valid() -> None:
    cfg = parse_site_config((EXAMPLES.parent / "tests" / "informing" / "bare-office.yaml").read_text(encoding="utf-8"))
    assert all(s.info is None for s in cfg.services)


def test_what_a_visitor_types_is_shown_as_text_never_as_markup(client: TestClient) -> None:
    r = client.get("/office/demo/services", params={"lang": "en", "q": '<script>alert(1)</script>"'})
    assert r.status_code == 200
    assert "<script>alert" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
