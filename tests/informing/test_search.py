"""Search finds a service by a misspelled word, in every language, over the example offices' content.

The index is built from the real example configs (examples/*.yaml), so what is tested is what a
citizen of those offices would get.
"""

from __future__ import annotations

import pytest

from cherga.server.informing.search import SearchIndex, closeness, fold
from cherga.server.siteconfig import SiteConfig


def first(index: SearchIndex, query: str) -> str:
    hits = index.search(query)
    assert hits, f"nothing found for {query!r}"
    return hits[0].id


@pytest.mark.parametrize(("lang", "query", "service"), [
    # Ukrainian: a dropped letter, Russian и typed for і, a Russian ending.
    ("uk", "пасорт", "passport"),
    ("uk", "посвідчиння водія", "driver"),
    ("uk", "земельни питання", "land"),
    # Russian: soft signs and endings lost, Ukrainian і typed for и.
    ("ru", "свидетелство о рождени", "birth"),
    ("ru", "водителськое удостоверение", "driver"),
    ("ru", "нотаріус", "notary"),
    # Kyrgyz typed on a Russian keyboard (ө ү ң as о у н), and with a letter wrong.
    ("ky", "торолгонун каттоо", "birth"),
    ("ky", "айдочулук куболук", "driver"),
    ("ky", "жер маселелерi", "land"),
    # Kazakh without its own letters.
    ("kk", "жургизуши куалиги", "driver"),
    ("kk", "жер учаскеси", "land"),
    # English typos.
    ("en", "pasport", "passport"),
    ("en", "driving license", "driver"),
    ("en", "birth certficate", "birth"),
])
def test_a_misspelled_query_finds_the_service_first(demo: SiteConfig, lang: str, query: str, service: str) -> None:
    """GIVEN the demo office's services WHEN a citizen types a misspelled word THEN that service comes first."""
    assert first(SearchIndex.build(demo), query) == service


def test_words_citizens_use_find_the_service_through_its_keywords(demo: SiteConfig) -> None:
    index = SearchIndex.build(demo)
    assert first(index, "прописка") == "residence"  # the old word, in no service name
    assert first(index, "загранпаспорт") == "foreign-passport"
    assert first(index, "ID-картка") == "passport"


def test_a_life_situation_is_found_beside_its_services(demo: SiteConfig) -> None:
    hits = SearchIndex.build(demo).search("народження дитини")
    assert ("bundle", "newborn") in [(h.kind, h.id) for h in hits[:3]]


def test_the_kryvyi_rih_office_finds_subsidies_in_russian_and_ukrainian_spellings(kryvyi_rih: SiteConfig) -> None:
    index = SearchIndex.build(kryvyi_rih)
    assert first(index, "субсидия") == "subsidy"
    assert first(index, "субсідія") == "subsidy"
    assert first(index, "справка о месте жительства") == "residence-cert"


def test_a_query_with_no_matching_word_finds_nothing(demo: SiteConfig) -> None:
    index = SearchIndex.build(demo)
    assert index.search("космодром") == []
    assert index.search("  ,  ") == []


def test_folding_reads_ukrainian_russian_kyrgyz_and_kazakh_variants_alike() -> None:
    assert fold("Їжак") == fold("ижак")
    assert fold("Ёлка") == fold("елка") == fold("Єлка")
    assert fold("Төрөлгөн") == fold("торолгон")
    assert fold("Жүргізуші") == fold("жургизуши")
    assert fold("в'їзд") == fold("вїзд")


def test_closeness_allows_one_edit_in_a_short_word_and_none_in_a_tiny_one() -> None:
    assert closeness("пасорт", "паспорт") > 0
    assert closeness("кот", "кит") == 0  # three letters: too short to guess
    assert closeness("паспорт", "спорт") == 0  # two edits at the front of a seven-letter word is another word


def test_the_fast_candidate_lookup_matches_asking_every_word(demo: SiteConfig) -> None:
    """GIVEN the index's candidate search (sorted prefixes + rapidfuzz) WHEN asked for many query forms
    THEN it finds exactly the words a comparison with every vocabulary word finds."""
    index = SearchIndex.build(demo)
    queries = {form for w in index.vocabulary[::5]
               for form in (w, w[:-1], w + "а", w[:2] + w[3:], w[1:], "х" + w, w[:3], w[:2])}
    wrong = [q for q in queries
             if index.near(q) != {w: c for w in index.vocabulary if (c := closeness(q, w)) > 0}]
    assert wrong == []
