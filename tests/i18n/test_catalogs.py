"""Every catalog speaks every language with the same keys, and the Kyrgyz review file is current."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cherga.broker_bridge.contract import LANGUAGES
from cherga.i18n import FALLBACK
from tests.i18n.catalogs import COMPONENTS, ROOT

PLACEHOLDER = re.compile(r"{(\w*)}")


def test_every_locales_folder_in_the_repository_is_a_known_component() -> None:
    folders = {p.parent for p in [*ROOT.glob("*/locales/en.json"), *ROOT.glob("server/*/locales/en.json")]}
    assert folders == {c.folder.resolve() for c in COMPONENTS.values()}


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_the_catalog_has_a_file_for_each_language_the_contract_names(component: str) -> None:
    assert COMPONENTS[component].languages() == sorted(LANGUAGES)


@pytest.mark.parametrize("component", sorted(COMPONENTS))
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_the_same_keys_and_placeholders_as_english(component: str, lang: str) -> None:
    catalogs = COMPONENTS[component]
    english, own = catalogs.own(FALLBACK), catalogs.own(lang)
    assert own.keys() == english.keys(), (f"missing: {sorted(english.keys() - own.keys())}; "
                                          f"extra: {sorted(own.keys() - english.keys())}")
    assert not [k for k, v in own.items() if not v.strip()], "empty messages"
    wrong = [k for k in english if set(PLACEHOLDER.findall(own[k])) != set(PLACEHOLDER.findall(english[k]))]
    assert not wrong, f"placeholders differ from English in {wrong}"


def test_a_missing_message_falls_back_to_english_then_to_its_key() -> None:
    kiosk = COMPONENTS["kiosk"]
    assert kiosk.text("xx", "back") == "Back"
    assert kiosk.text("uk", "no_such_message") == "no_such_message"


def test_the_kyrgyz_review_file_is_generated_from_the_current_catalogs() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "kyrgyz_strings.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
