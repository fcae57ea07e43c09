"""The Ukrainian, Russian and Kazakh catalogs spell-check clean with hunspell.

Words hunspell does not know but that are right (weekday abbreviations, date-format letters,
terms its dictionary lacks) are listed in ``words-<lang>.txt`` beside this file. Kyrgyz has no
dictionary: its strings are reviewed in ``ky-strings.txt`` (see test_catalogs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.i18n.catalogs import COMPONENTS

HERE = Path(__file__).resolve().parent
DICTIONARIES = {"uk": "uk_UA", "ru": "ru_RU", "kk": "kk_KZ"}
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def _words(lang: str) -> set[str]:
    """Every Cyrillic word of ``lang``'s catalogs (Latin ones are product names: CSV, MQTT, QR)."""
    words: set[str] = set()
    for catalogs in COMPONENTS.values():
        for message in catalogs.own(lang).values():
            words.update(w for w in WORD.findall(re.sub(r"{\w*}", " ", message)) if CYRILLIC.search(w))
    return words


def _known(lang: str) -> set[str]:
    path = HERE / f"words-{lang}.txt"
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("lang", sorted(DICTIONARIES))
def test_the_catalogs_spell_check_clean(lang: str) -> None:
    if shutil.which("hunspell") is None:
        pytest.skip("hunspell is not installed (scripts/install-system-deps.sh test installs it)")
    run = subprocess.run(["hunspell", "-d", DICTIONARIES[lang], "-l"], input="\n".join(sorted(_words(lang))),
                         capture_output=True, text=True, check=True)
    unknown = set(run.stdout.split()) - _known(lang)
    assert not unknown, f"misspelt, or right and missing from words-{lang}.txt: {sorted(unknown)}"


@pytest.mark.parametrize("lang", sorted(DICTIONARIES))
def test_the_word_list_holds_only_words_the_catalogs_use(lang: str) -> None:
    used = _words(lang)
    used |= {part for word in used for part in word.split("-")}  # hunspell checks "QR-код" part by part
    assert not _known(lang) - used, "words no catalog uses any more"
